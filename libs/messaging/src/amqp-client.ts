import { EventEmitter } from 'node:events';
import { type BrokerTlsOptions, BrokerRotation, assertTlsUrls, backoffDelay, brokerNodeOf, redactBrokerUrls, redactUrl } from '@herald/common';
import { randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { BrokerUnavailableError, PublishNotConfirmedError } from './errors';
import { Headers, attemptOf } from './headers';
import type { Logger} from './logger';
import { silentLogger } from './logger';
import { type MessageSubject, Outcome } from './outcome';
import { type TopologyContext, declareDelayQueue, delayQueueOf, parkingQueueOf } from './topology';

export interface AmqpClientOptions {
  /**
   * amqp://user:pass@host:port/vhost, or the nodes of one cluster: several such URLs (a list or
   * one string, comma-separated). Connections go to one node at a time; after a failed attempt
   * or a lost connection the next node is tried.
   */
  url: string | readonly string[];
  /** Shown by `rabbitmqctl list_connections client_properties`; name the service. */
  connectionName: string;
  logger?: Logger;
  /** Give up on the first connection after this long (default 2 min); once connected, reconnect forever. */
  initialConnectTimeoutMs?: number;
  /**
   * AMQP heartbeat (default 30 s). The broker closes a connection that sent nothing for two of
   * these, so a process whose event loop is blocked longer (a loaded machine) loses it.
   */
  heartbeatSeconds?: number;
  /** A publish not confirmed within this long fails (the broker or the network is stuck). */
  confirmTimeoutMs?: number;
  /** While reconnecting, a publish waits this long for the connection before it fails (default 15 s). */
  publishWaitMs?: number;
  /** One attempt to connect to one node gives up after this long (default 10 s): a node that does not answer at all. */
  connectAttemptTimeoutMs?: number;
  /** Delay before the first reconnect attempt (default 100 ms); it doubles per failed attempt, with jitter. */
  reconnectDelayMs?: number;
  /** Longest delay between reconnect attempts (default 5 s). */
  reconnectMaxDelayMs?: number;
  /** For amqps:// URLs (then every URL must be one): the CA to verify the broker with, instead of the system's. */
  tls?: BrokerTlsOptions;
}

/** What an AmqpClient uses for the options it is not given. */
export const AMQP_CLIENT_DEFAULTS = {
  initialConnectTimeoutMs: 120_000,
  heartbeatSeconds: 30,
  confirmTimeoutMs: 15_000,
  publishWaitMs: 15_000,
  connectAttemptTimeoutMs: 10_000,
  reconnectDelayMs: 100,
  reconnectMaxDelayMs: 5_000,
} as const;

export interface PublishOptions {
  /** Required: consumers de-duplicate by it. */
  messageId: string;
  type?: string;
  correlationId?: string;
  headers?: Record<string, unknown>;
  /** Ask the broker to return the message if no queue takes it. */
  mandatory?: boolean;
  contentType?: string;
}

export type PublishResult =
  | { readonly routed: true }
  | { readonly routed: false; readonly replyCode: number; readonly replyText: string };

export interface InboundMessage {
  readonly queue: string;
  readonly body: Buffer;
  readonly exchange: string;
  readonly routingKey: string;
  readonly messageId: string | undefined;
  readonly type: string | undefined;
  readonly correlationId: string | undefined;
  readonly headers: Record<string, unknown>;
  /** 1 on first delivery, raised each time the message came back through a delayed retry. */
  readonly attempt: number;
  /** The broker delivered this before and it was not settled (consumer crash or lost channel). */
  readonly redelivered: boolean;
  /** It came back from this queue's delay queue (a retry), not from its publisher. */
  readonly retried: boolean;
}

export type MessageHandler = (message: InboundMessage) => Promise<Outcome>;

export interface ConsumeOptions {
  /** Unacknowledged messages in flight on this consumer. */
  prefetch?: number;
  /** After this many attempts a "retry later" becomes "park". */
  maxAttempts?: number;
  /** Delay of a "retry later" that names none. */
  retryDelayMs?: number;
  /**
   * Whether a message's own headers go with it into the delay and parking queues (default
   * true). False for a queue anyone may publish into (agents): only Herald's headers are kept,
   * since headers are not counted by a parking queue's byte limit and may fill a frame each.
   */
  keepHeaders?: boolean;
}

/** Counters the service turns into metrics; also emitted as events of the same name. */
export interface MessagingStats {
  published: number;
  returned: number;
  acked: number;
  retried: number;
  parked: number;
  dropped: number;
  reconnects: number;
}

/** Of a parked message, what a `parked` listener may need: its route, its ids, never its body. */
export interface ParkedMessage {
  readonly exchange: string;
  readonly routingKey: string;
  /** Its AMQP message_id and type properties, as published. */
  readonly messageId: string | undefined;
  readonly type: string | undefined;
  /** What its body says it is, as far as the consumer read it (the Outcome's subject). */
  readonly subject: MessageSubject | undefined;
}

export type MessagingEvents = {
  connected: [];
  disconnected: [error: Error];
  parked: [queue: string, reason: string, message: ParkedMessage];
  /** A message gone without being kept: refused by its consumer (Outcome.drop) or dropped by a full parking queue. */
  dropped: [queue: string, reason: string];
  retried: [queue: string, reason: string];
  returned: [exchange: string, routingKey: string];
};

type TopologySetup = (ch: amqp.Channel, ctx: TopologyContext) => Promise<unknown>;

interface Consumer {
  readonly queue: string;
  readonly handler: MessageHandler;
  readonly options: Required<ConsumeOptions>;
  /** The connection its channel is (being) opened on: one consumer per connection. */
  model: amqp.ChannelModel | null;
  channel: amqp.Channel | null;
  consumerTag: string | null;
  restartTimer: NodeJS.Timeout | null;
  readonly inFlight: Set<Promise<void>>;
}

const DELAY_REDECLARE_MS = 30_000;

/** What a consumer gets for the options it does not set. */
export const DEFAULT_CONSUME_OPTIONS: Required<ConsumeOptions> = { prefetch: 16, maxAttempts: 10, retryDelayMs: 5_000, keepHeaders: true };

/**
 * A RabbitMQ connection that survives broker restarts and the loss of a cluster node: it
 * reconnects with backoff and jitter, going round the cluster's nodes, re-declares the registered
 * topology and restarts every consumer on each new connection. Publishing is always confirmed
 * and waits (a bounded time) for a connection while reconnecting; consumers always acknowledge
 * manually, with an explicit outcome per message.
 */
export class AmqpClient extends EventEmitter<MessagingEvents> {
  readonly stats: MessagingStats = { published: 0, returned: 0, acked: 0, retried: 0, parked: 0, dropped: 0, reconnects: 0 };
  private readonly log: Logger;
  private readonly topology: TopologySetup[] = [];
  private readonly consumers = new Set<Consumer>();
  private readonly pendingReturns = new Map<string, { replyCode: number; replyText: string } | null>();
  private readonly declaredDelayQueues = new Map<string, number>();
  private connection: amqp.RecoveringChannelModel | null = null;
  private model: amqp.ChannelModel | null = null;
  private readonly channels = new Map<'publish' | 'admin', Promise<amqp.Channel>>();
  private closing = false;
  private everConnected = false;
  private readonly rotation: BrokerRotation;
  /** The URL of the node connected to, while connected. */
  private node: string | null = null;
  private readonly waiters = new Set<{ resolve: (model: amqp.ChannelModel) => void; reject: (err: Error) => void }>();

  private constructor(private readonly options: AmqpClientOptions) {
    super();
    this.log = options.logger ?? silentLogger;
    this.rotation = new BrokerRotation(options.url, options.heartbeatSeconds ?? AMQP_CLIENT_DEFAULTS.heartbeatSeconds);
    assertTlsUrls(this.rotation.urls, options.tls);
  }

  /** Connects (retrying until `initialConnectTimeoutMs`) or throws BrokerUnavailableError. */
  static async connect(options: AmqpClientOptions): Promise<AmqpClient> {
    const client = new AmqpClient(options);
    await client.open();
    return client;
  }

  get isConnected(): boolean {
    return this.model !== null;
  }

  /** host:port of the node connected to (no credentials), or null while disconnected. */
  get connectedNode(): string | null {
    return this.node === null ? null : brokerNodeOf(this.node);
  }

  private async open(): Promise<void> {
    const started = Date.now();
    const budget = this.options.initialConnectTimeoutMs ?? AMQP_CLIENT_DEFAULTS.initialConnectTimeoutMs;
    const backoff = {
      initialMs: this.options.reconnectDelayMs ?? AMQP_CLIENT_DEFAULTS.reconnectDelayMs,
      maxMs: this.options.reconnectMaxDelayMs ?? AMQP_CLIENT_DEFAULTS.reconnectMaxDelayMs,
      jitter: 0.2,
    };
    const rotation = this.rotation;
    let lastError: Error | undefined;
    /** What the next 'reconnect-scheduled' reports: the attempt that failed or the connection lost. */
    let failure: { node: string; lost: boolean } = { node: rotation.current, lost: false };
    // amqplib's recovering connection reads the URL object on every attempt: `rotation.target`
    // is switched to the next node before each retry (in calculateDelay), so retries go round the cluster.
    const connection = await amqp.connect(rotation.target, {
      // tls.connect's options: with `ca`, the broker's certificate must chain to it (and name the host).
      ...this.options.tls,
      clientProperties: { connection_name: this.options.connectionName },
      timeout: this.options.connectAttemptTimeoutMs ?? AMQP_CLIENT_DEFAULTS.connectAttemptTimeoutMs,
      recovery: {
        waitForConnect: false,
        maxRetries: Infinity,
        calculateDelay: (attempt: number) => {
          const left = started + budget - Date.now();
          if (!this.everConnected && left <= 0) throw lastError ?? new Error('connection timed out');
          rotation.advance();
          const delay = backoffDelay(attempt, backoff);
          return this.everConnected ? delay : Math.min(delay, left);
        },
        setup: (model: amqp.ChannelModel) => this.onConnect(model),
      },
    });
    this.connection = connection;
    connection.on('connect-failed', (err: Error) => {
      lastError = err;
      failure = { node: rotation.current, lost: false };
    });
    connection.on('disconnect', (err: Error) => {
      failure = { node: this.node ?? rotation.current, lost: true };
      this.onDisconnect(err);
    });
    connection.on('reconnect-scheduled', ({ delay, error }: { delay: number; error: Error }) => {
      if (this.closing) return;
      const what = failure.lost ? 'lost the RabbitMQ connection to' : 'cannot connect to RabbitMQ at';
      this.log.warn(
        { node: brokerNodeOf(failure.node), next: brokerNodeOf(rotation.current), delayMs: delay, err: describeError(error) },
        `${what} ${redactUrl(failure.node)}: ${describeError(error)}; next try ${redactUrl(rotation.current)} in ${(delay / 1000).toFixed(1)} s`,
      );
    });
    connection.on('error', (err: Error) => this.log.warn({ err: err.message }, 'broker connection error'));
    connection.on('blocked', (reason: string) => this.log.warn({ reason }, 'RabbitMQ blocks publishing on this connection (resource alarm)'));
    connection.on('unblocked', () => this.log.info({}, 'RabbitMQ unblocked publishing'));
    try {
      await connection.waitForConnect();
    } catch (err) {
      const seconds = Math.round((Date.now() - started) / 1000);
      throw new BrokerUnavailableError(
        `cannot reach RabbitMQ at ${redactBrokerUrls(rotation.urls)} (gave up after ${seconds} s, STARTUP_TIMEOUT_MS): ${describeError(lastError ?? (err as Error))}`,
      );
    }
  }

  /** Runs on every (re)connection, before the connection is handed out. A throw retries it (on the next node). */
  private async onConnect(model: amqp.ChannelModel): Promise<void> {
    const node = this.rotation.current;
    // amqplib watches the connection only once this setup has returned: one that closes during
    // it, after its last request was answered, would be handed out dead and never replaced.
    let lost: Error | null = null;
    const onClose = (err?: Error) => {
      lost = err ?? new Error('connection closed');
    };
    model.once('close', onClose);
    try {
      await this.setUp(model, node);
    } finally {
      model.removeListener('close', onClose);
    }
    if (lost) {
      this.forgetConnection(model);
      throw new BrokerUnavailableError(`the connection closed while it was being set up: ${describeError(lost)}`);
    }
    if (this.everConnected) this.stats.reconnects++;
    this.everConnected = true;
    this.log.info({ connection: this.options.connectionName, node: brokerNodeOf(node) }, `connected to RabbitMQ at ${redactUrl(node)}`);
    for (const w of this.waiters) w.resolve(model);
    this.waiters.clear();
    this.emit('connected');
  }

  private async setUp(model: amqp.ChannelModel, node: string): Promise<void> {
    const ch = await model.createChannel();
    try {
      for (const setup of this.topology) await setup(ch, contextOf(model));
    } finally {
      await ch.close().catch(() => undefined);
    }
    this.model = model;
    this.node = node;
    this.channels.clear();
    this.declaredDelayQueues.clear();
    try {
      for (const c of this.consumers) await this.startConsumer(c, model);
    } catch (err) {
      // The connection failed while consumers started: amqplib closes it and tries again.
      this.forgetConnection(model);
      throw err;
    }
  }

  private forgetConnection(model: amqp.ChannelModel): void {
    if (this.model !== model) return;
    this.model = null;
    this.node = null;
    this.channels.clear();
    for (const c of this.consumers) {
      if (c.model !== model) continue;
      c.model = null;
      c.channel = null;
      c.consumerTag = null;
    }
  }

  private onDisconnect(err: Error): void {
    if (this.model) this.forgetConnection(this.model);
    this.emit('disconnected', err);
  }

  /**
   * The current connection, or the next one if it comes within `waitMs`; otherwise a
   * BrokerUnavailableError.
   */
  private connected(waitMs: number): Promise<amqp.ChannelModel> {
    if (this.model) return Promise.resolve(this.model);
    if (this.closing || waitMs <= 0) return Promise.reject(new BrokerUnavailableError('not connected to RabbitMQ'));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (model: amqp.ChannelModel) => {
          clearTimeout(timer);
          resolve(model);
        },
        reject: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new BrokerUnavailableError(`not connected to RabbitMQ (waited ${waitMs} ms for a connection)`));
      }, waitMs);
      this.waiters.add(waiter);
    });
  }

  /**
   * Registers topology (exchanges, queues, bindings) declared now and again after every
   * reconnect, so a broker that lost non-durable state or was replaced gets it back. While
   * disconnected it is only registered: the next connection declares it. A declaration the
   * broker refuses (the connection stays up) throws and is not registered.
   */
  async addTopology(setup: TopologySetup): Promise<void> {
    this.topology.push(setup);
    const model = this.model;
    if (!model) return;
    try {
      await this.onAdminChannel(model, (ch) => setup(ch, contextOf(model)));
    } catch (err) {
      if (this.model !== model || isConnectionLoss(err)) return; // declared again on the next connection
      this.topology.splice(this.topology.indexOf(setup), 1);
      throw err;
    }
  }

  /** Runs `fn` on a channel used for declarations and inspection, never for publishing. */
  async withChannel<T>(fn: (ch: amqp.Channel) => Promise<T>): Promise<T> {
    return this.onAdminChannel(await this.connected(this.publishWaitMs), fn);
  }

  private async onAdminChannel<T>(model: amqp.ChannelModel, fn: (ch: amqp.Channel) => Promise<T>): Promise<T> {
    const ch = await this.sharedChannel(model, 'admin', (m) => m.createChannel());
    return fn(ch);
  }

  private get publishWaitMs(): number {
    return this.options.publishWaitMs ?? AMQP_CLIENT_DEFAULTS.publishWaitMs;
  }

  /**
   * Publishes with a publisher confirm. Resolves once the broker has taken responsibility for
   * the message; with `mandatory`, tells whether any queue took it. While reconnecting it waits
   * up to `publishWaitMs` for the connection, then rejects with BrokerUnavailableError; rejects
   * with PublishNotConfirmedError on a nack, a timeout or a connection lost before the confirm
   * (the message may have arrived: publish it again with the same messageId, consumers
   * de-duplicate by it).
   */
  async publish(exchange: string, routingKey: string, body: Buffer, options: PublishOptions): Promise<PublishResult> {
    return this.publishWithin(this.publishWaitMs, exchange, routingKey, body, options);
  }

  private async publishWithin(waitMs: number, exchange: string, routingKey: string, body: Buffer, options: PublishOptions): Promise<PublishResult> {
    const ch = await this.getPublishChannel(await this.connected(waitMs));
    const publishId = randomUUID();
    const headers = { ...options.headers, [Headers.publishId]: publishId };
    if (options.mandatory) this.pendingReturns.set(publishId, null);
    const timeoutMs = this.options.confirmTimeoutMs ?? AMQP_CLIENT_DEFAULTS.confirmTimeoutMs;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new PublishNotConfirmedError(`no confirm within ${timeoutMs} ms`)), timeoutMs);
        try {
          ch.publish(
            exchange,
            routingKey,
            body,
            {
              persistent: true,
              mandatory: options.mandatory ?? false,
              messageId: options.messageId,
              type: options.type,
              correlationId: options.correlationId,
              contentType: options.contentType ?? 'application/json',
              timestamp: Math.floor(Date.now() / 1000),
              headers,
            },
            (err) => {
              clearTimeout(timer);
              if (err) reject(new PublishNotConfirmedError(`broker did not confirm: ${String(err?.message ?? err)}`));
              else resolve();
            },
          );
        } catch (err) {
          clearTimeout(timer);
          reject(new BrokerUnavailableError(`publish failed: ${(err as Error).message}`));
        }
      });
      this.stats.published++;
      // basic.return precedes basic.ack for the same message on the channel, so by now it has arrived.
      const returned = options.mandatory ? this.pendingReturns.get(publishId) : null;
      if (returned) {
        this.stats.returned++;
        this.emit('returned', exchange, routingKey);
        return { routed: false, ...returned };
      }
      return { routed: true };
    } finally {
      this.pendingReturns.delete(publishId);
    }
  }

  /**
   * Publishes a message that arrives in `queue` after `delayMs`, through a per-queue-TTL delay
   * queue that dead-letters back to it. Durable: survives restarts of the broker and of us.
   */
  async publishDelayed(queue: string, delayMs: number, body: Buffer, options: PublishOptions): Promise<void> {
    await this.publishDelayedWithin(this.publishWaitMs, queue, delayMs, body, options);
  }

  private async publishDelayedWithin(waitMs: number, queue: string, delayMs: number, body: Buffer, options: PublishOptions): Promise<void> {
    const delayQueue = await this.ensureDelayQueue(queue, delayMs, waitMs);
    const result = await this.publishWithin(waitMs, '', delayQueue, body, { ...options, mandatory: true });
    if (!result.routed) {
      // The delay queue vanished between declaration and publish (expired); declare again and retry once.
      this.declaredDelayQueues.delete(delayQueue);
      const again = await this.publishWithin(waitMs, '', await this.ensureDelayQueue(queue, delayMs, waitMs), body, { ...options, mandatory: true });
      if (!again.routed) throw new BrokerUnavailableError(`delay queue ${delayQueue} does not take messages`);
    }
  }

  private async ensureDelayQueue(queue: string, delayMs: number, waitMs: number): Promise<string> {
    const name = delayQueueOf(queue, delayMs);
    const last = this.declaredDelayQueues.get(name);
    // Re-declaring resets the queue's expiry clock, so it cannot expire while in use.
    if (last === undefined || Date.now() - last > DELAY_REDECLARE_MS) {
      await this.onAdminChannel(await this.connected(waitMs), (ch) => declareDelayQueue(ch, queue, delayMs));
      this.declaredDelayQueues.set(name, Date.now());
    }
    return name;
  }

  /**
   * Consumes `queue` with manual acknowledgement. The handler's outcome decides each message:
   * ack, retry later through the delay queue (attempt header raised) or park. A handler that
   * throws counts as "retry later". Survives reconnects; the consumer restarts on its own.
   */
  async consume(queue: string, handler: MessageHandler, options: ConsumeOptions = {}): Promise<void> {
    const consumer: Consumer = {
      queue,
      handler,
      options: { ...DEFAULT_CONSUME_OPTIONS, ...options },
      model: null,
      channel: null,
      consumerTag: null,
      restartTimer: null,
      inFlight: new Set(),
    };
    this.consumers.add(consumer);
    const model = this.model;
    if (!model) return; // started by the next connection
    try {
      await this.startConsumer(consumer, model);
    } catch (err) {
      if (this.model !== model || isConnectionLoss(err)) return; // started again by the next connection
      this.consumers.delete(consumer);
      throw err;
    }
  }

  private async startConsumer(c: Consumer, model: amqp.ChannelModel): Promise<void> {
    if (c.model === model) return; // already started (or starting) on this connection
    c.model = model;
    let ch: amqp.Channel;
    try {
      ch = await model.createChannel();
    } catch (err) {
      if (c.model === model) c.model = null;
      throw err;
    }
    c.channel = ch;
    ch.on('error', (err: Error) => this.log.warn({ queue: c.queue, err: err.message }, 'consumer channel error'));
    ch.on('close', () => {
      if (c.channel !== ch) return;
      c.channel = null;
      c.model = null;
      c.consumerTag = null;
      // A channel closed while the connection lives (e.g. queue deleted): start again shortly.
      if (!this.closing && this.model === model) this.scheduleConsumerRestart(c, model);
    });
    try {
      await ch.prefetch(c.options.prefetch);
    } catch (err) {
      if (c.channel === ch) {
        c.channel = null;
        c.model = null;
      }
      throw err;
    }
    const { consumerTag } = await ch.consume(
      c.queue,
      (msg) => {
        if (msg === null) {
          // Cancelled by the broker (queue deleted or failed over): a fresh channel consumes again.
          if (c.channel === ch) {
            c.channel = null;
            c.model = null;
            c.consumerTag = null;
          }
          ch.close().catch(() => undefined);
          if (!this.closing && this.model === model) this.scheduleConsumerRestart(c, model);
          return;
        }
        const task = this.handle(c, ch, msg).finally(() => c.inFlight.delete(task));
        c.inFlight.add(task);
      },
      { noAck: false },
    ).catch((err: unknown) => {
      if (c.channel === ch) {
        c.channel = null;
        c.model = null;
      }
      throw err;
    });
    c.consumerTag = consumerTag;
  }

  private scheduleConsumerRestart(c: Consumer, model: amqp.ChannelModel): void {
    if (c.restartTimer) return;
    c.restartTimer = setTimeout(() => {
      c.restartTimer = null;
      if (this.closing || this.model !== model || c.channel) return;
      this.startConsumer(c, model).catch((err: Error) => {
        this.log.warn({ queue: c.queue, err: err.message }, 'consumer restart failed; trying again');
        this.scheduleConsumerRestart(c, model);
      });
    }, 1_000);
  }

  private async handle(c: Consumer, ch: amqp.Channel, msg: amqp.ConsumeMessage): Promise<void> {
    const headers = (msg.properties.headers ?? {}) as Record<string, unknown>;
    const route = routeOf(msg, headers);
    // The same test routeOf applies before it believes the route headers.
    const retried = msg.fields.exchange === '' && typeof headers[Headers.originalExchange] === 'string';
    const inbound: InboundMessage = {
      queue: c.queue,
      body: msg.content,
      exchange: route.exchange,
      routingKey: route.routingKey,
      messageId: msg.properties.messageId,
      type: msg.properties.type,
      correlationId: msg.properties.correlationId,
      headers,
      attempt: attemptOf(headers),
      redelivered: msg.fields.redelivered,
      retried,
    };
    let outcome: Outcome;
    try {
      outcome = await c.handler(inbound);
    } catch (err) {
      this.log.warn({ queue: c.queue, messageId: inbound.messageId, err: (err as Error).message }, 'handler failed');
      outcome = Outcome.retry(`handler failed: ${(err as Error).message}`);
    }
    try {
      await this.settle(c, ch, msg, inbound, outcome);
    } catch (err) {
      // Could not move the message (broker going away): give it back; it is redelivered later.
      this.log.warn({ queue: c.queue, err: (err as Error).message }, 'could not settle message; returning it to the queue');
      safely(() => ch.nack(msg, false, true));
    }
  }

  private async settle(c: Consumer, ch: amqp.Channel, msg: amqp.ConsumeMessage, inbound: InboundMessage, outcome: Outcome): Promise<void> {
    if (outcome.kind === 'retry' && inbound.attempt >= c.options.maxAttempts) {
      outcome = Outcome.park(`retries-exhausted: gave up after ${inbound.attempt} attempts: ${outcome.reason}`);
    }
    // A delivery whose channel is gone cannot be acknowledged: the broker delivers it again, so
    // a copy sent to the delay or parking queue now would be a second one.
    if (outcome.kind !== 'ack' && c.channel !== ch) throw new BrokerUnavailableError('the channel of this delivery closed; the broker delivers it again');
    switch (outcome.kind) {
      case 'ack':
        break;
      case 'retry': {
        const delayMs = outcome.delayMs ?? c.options.retryDelayMs;
        await this.publishDelayedWithin(0, c.queue, delayMs, msg.content, {
          ...propertiesOf(msg),
          headers: {
            ...(c.options.keepHeaders ? inbound.headers : {}),
            [Headers.attempt]: inbound.attempt + 1,
            // The delay queue hands the message back through the default exchange; these let the
            // next delivery see the route it was first published with (routing-key checks rely on it).
            [Headers.originalExchange]: inbound.exchange,
            [Headers.originalRoutingKey]: inbound.routingKey,
          },
        });
        this.stats.retried++;
        this.emit('retried', c.queue, outcome.reason);
        this.log.info({ queue: c.queue, messageId: inbound.messageId, attempt: inbound.attempt, delayMs, reason: outcome.reason }, 'message will be retried');
        break;
      }
      case 'park': {
        const cut = outcome.keepBytes !== undefined && msg.content.length > outcome.keepBytes;
        await this.publishWithin(0, '', parkingQueueOf(c.queue), cut ? msg.content.subarray(0, outcome.keepBytes) : msg.content, {
          ...propertiesOf(msg),
          headers: {
            ...(c.options.keepHeaders ? inbound.headers : {}),
            ...(cut ? { [Headers.parkedBodyBytes]: msg.content.length } : {}),
            [Headers.parkedReason]: outcome.reason.slice(0, 1000),
            [Headers.parkedAt]: new Date().toISOString(),
            [Headers.parkedFromQueue]: c.queue,
            [Headers.originalExchange]: inbound.exchange,
            [Headers.originalRoutingKey]: inbound.routingKey,
          },
        });
        this.stats.parked++;
        this.emit('parked', c.queue, outcome.reason, {
          exchange: inbound.exchange,
          routingKey: inbound.routingKey,
          messageId: inbound.messageId,
          type: inbound.type,
          subject: outcome.subject,
        });
        this.log.warn({ queue: c.queue, messageId: inbound.messageId, reason: outcome.reason }, 'message parked');
        break;
      }
      case 'drop':
        // Counted, not logged one by one: drops come in floods.
        this.stats.dropped++;
        this.emit('dropped', c.queue, outcome.reason);
        break;
      default: {
        const unreachable: never = outcome;
        throw new Error(`unknown outcome ${JSON.stringify(unreachable)}`);
      }
    }
    ch.ack(msg);
    this.stats.acked++;
  }

  /** The confirm channel every publish goes through; basic.return is matched to its publish here. */
  private getPublishChannel(model: amqp.ChannelModel): Promise<amqp.ConfirmChannel> {
    return this.sharedChannel(model, 'publish', (m) => m.createConfirmChannel(), (ch) =>
      ch.on('return', (returned: amqp.Message) => {
        const id = returned.properties.headers?.[Headers.publishId] as string | undefined;
        if (id && this.pendingReturns.has(id)) {
          const fields = returned.fields as unknown as { replyCode: number; replyText: string };
          this.pendingReturns.set(id, { replyCode: fields.replyCode, replyText: fields.replyText });
        }
      }),
    );
  }

  /**
   * One long-lived channel per purpose on the current connection, opened on first use and again
   * after it closed (a channel error, a reconnect).
   */
  private sharedChannel<C extends amqp.Channel>(model: amqp.ChannelModel, purpose: 'publish' | 'admin', open: (model: amqp.ChannelModel) => Promise<C>, setUp?: (ch: C) => void): Promise<C> {
    if (this.model !== model) return Promise.reject(new BrokerUnavailableError('not connected to RabbitMQ'));
    const existing = this.channels.get(purpose);
    if (existing) return existing as Promise<C>;
    const created = open(model).then(
      (ch) => {
        ch.on('error', (err: Error) => this.log.warn({ err: err.message }, `${purpose} channel error`));
        ch.on('close', () => this.forgetChannel(purpose, created));
        setUp?.(ch);
        return ch;
      },
      (err: Error) => {
        throw isConnectionLoss(err) ? new BrokerUnavailableError(`cannot open a channel: ${err.message}`) : err;
      },
    );
    created.catch(() => this.forgetChannel(purpose, created));
    this.channels.set(purpose, created);
    return created;
  }

  private forgetChannel(purpose: 'publish' | 'admin', channel: Promise<amqp.Channel>): void {
    if (this.channels.get(purpose) === channel) this.channels.delete(purpose);
  }

  /**
   * Stops taking new messages and lets handlers in flight finish (up to `drainMs`), so their
   * messages are settled. Publishing keeps working until close().
   */
  async stopConsuming(drainMs = 10_000): Promise<void> {
    this.closing = true;
    for (const c of this.consumers) {
      if (c.restartTimer) clearTimeout(c.restartTimer);
      if (c.channel && c.consumerTag) await c.channel.cancel(c.consumerTag).catch(() => undefined);
    }
    const inFlight = [...this.consumers].flatMap((c) => [...c.inFlight]);
    if (inFlight.length > 0) {
      await Promise.race([Promise.allSettled(inFlight), new Promise((r) => setTimeout(r, drainMs).unref())]);
    }
  }

  /** stopConsuming(), then closes the connection. */
  async close(drainMs = 10_000): Promise<void> {
    await this.stopConsuming(drainMs);
    for (const w of this.waiters) w.reject(new BrokerUnavailableError('the RabbitMQ client is closing'));
    this.waiters.clear();
    await this.connection?.close().catch(() => undefined);
    this.model = null;
    this.node = null;
  }
}

function contextOf(model: amqp.ChannelModel): TopologyContext {
  return { openChannel: () => model.createChannel() };
}

function propertiesOf(msg: amqp.ConsumeMessage): PublishOptions {
  return {
    messageId: msg.properties.messageId ?? randomUUID(),
    type: msg.properties.type,
    correlationId: msg.properties.correlationId,
    contentType: msg.properties.contentType,
  };
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The channel is already gone; the broker redelivers the message.
  }
}

/** An error that means the connection (or the socket under it) is gone, not that the broker refused something. */
function isConnectionLoss(err: unknown): boolean {
  if (err instanceof BrokerUnavailableError) return true;
  const e = err as { name?: string; message?: string };
  return e?.name === 'IllegalOperationError' || /(connection|socket|channel) (closed|ended)|CONNECTION_FORCED|ECONNRESET|EPIPE/i.test(e?.message ?? '');
}

/** An error in one line: Node reports a refused dual-stack connect as an AggregateError with an empty message. */
function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: Array<{ message: string }> };
  const message = e?.message || e?.errors?.map((x) => x.message).join('; ') || e?.code || String(err);
  return message.split('\n')[0]!;
}

/**
 * The exchange and routing key a message was first published with. A message back from a delay
 * queue arrives through the default exchange and carries its first route in our headers; those
 * headers are believed only then, so a publisher cannot claim another route by setting them.
 */
function routeOf(msg: amqp.ConsumeMessage, headers: Record<string, unknown>): { exchange: string; routingKey: string } {
  const exchange = headers[Headers.originalExchange];
  const routingKey = headers[Headers.originalRoutingKey];
  if (msg.fields.exchange === '' && typeof exchange === 'string' && typeof routingKey === 'string') return { exchange, routingKey };
  return { exchange: msg.fields.exchange, routingKey: msg.fields.routingKey };
}
