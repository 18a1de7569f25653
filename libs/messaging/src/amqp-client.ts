import { EventEmitter } from 'node:events';
import { redactUrl } from '@herald/common';
import { randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { BrokerUnavailableError, PublishNotConfirmedError } from './errors';
import { Headers, attemptOf } from './headers';
import type { Logger} from './logger';
import { silentLogger } from './logger';
import { Outcome } from './outcome';
import { declareDelayQueue, delayQueueOf, parkingQueueOf } from './topology';

export interface AmqpClientOptions {
  /** amqp://user:pass@host:port/vhost */
  url: string;
  /** Shown by `rabbitmqctl list_connections client_properties`; name the service. */
  connectionName: string;
  logger?: Logger;
  /** Give up on the first connection after this long; once connected, reconnect forever. */
  initialConnectTimeoutMs?: number;
  heartbeatSeconds?: number;
  /** A publish not confirmed within this long fails (the broker or the network is stuck). */
  confirmTimeoutMs?: number;
}

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
}

export type MessageHandler = (message: InboundMessage) => Promise<Outcome>;

export interface ConsumeOptions {
  /** Unacknowledged messages in flight on this consumer. */
  prefetch?: number;
  /** After this many attempts a "retry later" becomes "park". */
  maxAttempts?: number;
  /** Delay of a "retry later" that names none. */
  retryDelayMs?: number;
}

/** Counters the service turns into metrics; also emitted as events of the same name. */
export interface MessagingStats {
  published: number;
  returned: number;
  acked: number;
  retried: number;
  parked: number;
  reconnects: number;
}

export type MessagingEvents = {
  connected: [];
  disconnected: [error: Error];
  parked: [queue: string, reason: string];
  retried: [queue: string, reason: string];
  returned: [exchange: string, routingKey: string];
};

type TopologySetup = (ch: amqp.Channel) => Promise<void>;

interface Consumer {
  readonly queue: string;
  readonly handler: MessageHandler;
  readonly options: Required<ConsumeOptions>;
  channel: amqp.Channel | null;
  consumerTag: string | null;
  restartTimer: NodeJS.Timeout | null;
  readonly inFlight: Set<Promise<void>>;
}

const DELAY_REDECLARE_MS = 30_000;

/** What a consumer gets for the options it does not set. */
export const DEFAULT_CONSUME_OPTIONS: Required<ConsumeOptions> = { prefetch: 16, maxAttempts: 10, retryDelayMs: 5_000 };

/**
 * A RabbitMQ connection that survives broker restarts: it reconnects with backoff, re-declares
 * the registered topology and restarts every consumer on each new connection. Publishing is
 * always confirmed; consumers always acknowledge manually, with an explicit outcome per message.
 */
export class AmqpClient extends EventEmitter<MessagingEvents> {
  readonly stats: MessagingStats = { published: 0, returned: 0, acked: 0, retried: 0, parked: 0, reconnects: 0 };
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

  private constructor(private readonly options: AmqpClientOptions) {
    super();
    this.log = options.logger ?? silentLogger;
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

  private async open(): Promise<void> {
    const started = Date.now();
    const budget = this.options.initialConnectTimeoutMs ?? 15_000;
    let lastError: Error | undefined;
    const connection = await amqp.connect(withHeartbeat(this.options.url, this.options.heartbeatSeconds ?? 10), {
      clientProperties: { connection_name: this.options.connectionName },
      recovery: {
        waitForConnect: false,
        maxRetries: Infinity,
        calculateDelay: (attempt: number) => {
          if (!this.everConnected && Date.now() - started >= budget) {
            throw lastError ?? new Error('connection timed out');
          }
          const base = Math.min(5_000, 100 * 2 ** (attempt - 1));
          return Math.round(base * (0.8 + Math.random() * 0.4));
        },
        setup: (model: amqp.ChannelModel) => this.onConnect(model),
      },
    });
    this.connection = connection;
    connection.on('connect-failed', (err) => {
      lastError = err;
      if (this.everConnected) this.log.warn({ err: err.message }, 'broker reconnect attempt failed');
    });
    connection.on('disconnect', (err) => this.onDisconnect(err));
    connection.on('error', (err) => this.log.warn({ err: err.message }, 'broker connection error'));
    try {
      await connection.waitForConnect();
    } catch (err) {
      throw new BrokerUnavailableError(
        `cannot reach RabbitMQ at ${redactUrl(this.options.url)}: ${(lastError ?? (err as Error)).message}`,
      );
    }
  }

  /** Runs on every (re)connection, before the connection is handed out. A throw retries it. */
  private async onConnect(model: amqp.ChannelModel): Promise<void> {
    const ch = await model.createChannel();
    try {
      for (const setup of this.topology) await setup(ch);
    } finally {
      await ch.close().catch(() => undefined);
    }
    this.model = model;
    this.channels.clear();
    this.declaredDelayQueues.clear();
    if (this.everConnected) this.stats.reconnects++;
    this.everConnected = true;
    for (const c of this.consumers) await this.startConsumer(c, model);
    this.log.info({ connection: this.options.connectionName }, 'connected to RabbitMQ');
    this.emit('connected');
  }

  private onDisconnect(err: Error): void {
    this.model = null;
    this.channels.clear();
    for (const c of this.consumers) {
      c.channel = null;
      c.consumerTag = null;
    }
    if (!this.closing) this.log.warn({ err: err.message }, 'lost the RabbitMQ connection; reconnecting');
    this.emit('disconnected', err);
  }

  /**
   * Registers topology (exchanges, queues, bindings) declared now and again after every
   * reconnect, so a broker that lost non-durable state or was replaced gets it back.
   */
  async addTopology(setup: TopologySetup): Promise<void> {
    this.topology.push(setup);
    if (this.model) await this.withChannel(setup);
  }

  /** Runs `fn` on a channel used for declarations and inspection, never for publishing. */
  async withChannel<T>(fn: (ch: amqp.Channel) => Promise<T>): Promise<T> {
    const ch = await this.getAdminChannel();
    return fn(ch);
  }

  /**
   * Publishes with a publisher confirm. Resolves once the broker has taken responsibility for
   * the message; with `mandatory`, tells whether any queue took it. Rejects with
   * BrokerUnavailableError when disconnected and PublishNotConfirmedError on a nack or timeout.
   */
  async publish(exchange: string, routingKey: string, body: Buffer, options: PublishOptions): Promise<PublishResult> {
    const ch = await this.getPublishChannel();
    const publishId = randomUUID();
    const headers = { ...options.headers, [Headers.publishId]: publishId };
    if (options.mandatory) this.pendingReturns.set(publishId, null);
    const timeoutMs = this.options.confirmTimeoutMs ?? 15_000;
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
    const delayQueue = await this.ensureDelayQueue(queue, delayMs);
    const result = await this.publish('', delayQueue, body, { ...options, mandatory: true });
    if (!result.routed) {
      // The delay queue vanished between declaration and publish (expired); declare again and retry once.
      this.declaredDelayQueues.delete(delayQueue);
      const again = await this.publish('', await this.ensureDelayQueue(queue, delayMs), body, { ...options, mandatory: true });
      if (!again.routed) throw new BrokerUnavailableError(`delay queue ${delayQueue} does not take messages`);
    }
  }

  private async ensureDelayQueue(queue: string, delayMs: number): Promise<string> {
    const name = delayQueueOf(queue, delayMs);
    const last = this.declaredDelayQueues.get(name);
    // Re-declaring resets the queue's expiry clock, so it cannot expire while in use.
    if (last === undefined || Date.now() - last > DELAY_REDECLARE_MS) {
      await this.withChannel((ch) => declareDelayQueue(ch, queue, delayMs));
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
      channel: null,
      consumerTag: null,
      restartTimer: null,
      inFlight: new Set(),
    };
    this.consumers.add(consumer);
    if (this.model) await this.startConsumer(consumer, this.model);
  }

  private async startConsumer(c: Consumer, model: amqp.ChannelModel): Promise<void> {
    const ch = await model.createChannel();
    c.channel = ch;
    ch.on('error', (err: Error) => this.log.warn({ queue: c.queue, err: err.message }, 'consumer channel error'));
    ch.on('close', () => {
      if (c.channel !== ch) return;
      c.channel = null;
      c.consumerTag = null;
      // A channel closed while the connection lives (e.g. queue deleted): start again shortly.
      if (!this.closing && this.model === model) this.scheduleConsumerRestart(c, model);
    });
    await ch.prefetch(c.options.prefetch);
    const { consumerTag } = await ch.consume(
      c.queue,
      (msg) => {
        if (msg === null) {
          // Cancelled by the broker (queue deleted or failed over).
          if (!this.closing && this.model === model) this.scheduleConsumerRestart(c, model);
          return;
        }
        const task = this.handle(c, ch, msg).finally(() => c.inFlight.delete(task));
        c.inFlight.add(task);
      },
      { noAck: false },
    );
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
    switch (outcome.kind) {
      case 'ack':
        break;
      case 'retry': {
        const delayMs = outcome.delayMs ?? c.options.retryDelayMs;
        await this.publishDelayed(c.queue, delayMs, msg.content, {
          ...propertiesOf(msg),
          headers: {
            ...inbound.headers,
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
        await this.publish('', parkingQueueOf(c.queue), msg.content, {
          ...propertiesOf(msg),
          headers: {
            ...inbound.headers,
            [Headers.parkedReason]: outcome.reason.slice(0, 1000),
            [Headers.parkedAt]: new Date().toISOString(),
            [Headers.parkedFromQueue]: c.queue,
            [Headers.originalExchange]: inbound.exchange,
            [Headers.originalRoutingKey]: inbound.routingKey,
          },
        });
        this.stats.parked++;
        this.emit('parked', c.queue, outcome.reason);
        this.log.warn({ queue: c.queue, messageId: inbound.messageId, reason: outcome.reason }, 'message parked');
        break;
      }
      default: {
        const unreachable: never = outcome;
        throw new Error(`unknown outcome ${JSON.stringify(unreachable)}`);
      }
    }
    ch.ack(msg);
    this.stats.acked++;
  }

  /** The confirm channel every publish goes through; basic.return is matched to its publish here. */
  private getPublishChannel(): Promise<amqp.ConfirmChannel> {
    return this.sharedChannel('publish', (model) => model.createConfirmChannel(), (ch) =>
      ch.on('return', (returned: amqp.Message) => {
        const id = returned.properties.headers?.[Headers.publishId] as string | undefined;
        if (id && this.pendingReturns.has(id)) {
          const fields = returned.fields as unknown as { replyCode: number; replyText: string };
          this.pendingReturns.set(id, { replyCode: fields.replyCode, replyText: fields.replyText });
        }
      }),
    );
  }

  private getAdminChannel(): Promise<amqp.Channel> {
    return this.sharedChannel('admin', (model) => model.createChannel());
  }

  /**
   * One long-lived channel per purpose on the current connection, opened on first use and again
   * after it closed (a channel error, a reconnect).
   */
  private sharedChannel<C extends amqp.Channel>(purpose: 'publish' | 'admin', open: (model: amqp.ChannelModel) => Promise<C>, setUp?: (ch: C) => void): Promise<C> {
    const model = this.model;
    if (!model) return Promise.reject(new BrokerUnavailableError('not connected to RabbitMQ'));
    const existing = this.channels.get(purpose);
    if (existing) return existing as Promise<C>;
    const created = open(model).then((ch) => {
      ch.on('error', (err: Error) => this.log.warn({ err: err.message }, `${purpose} channel error`));
      ch.on('close', () => this.forgetChannel(purpose, created));
      setUp?.(ch);
      return ch;
    });
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
    await this.connection?.close().catch(() => undefined);
    this.model = null;
  }
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

/** Adds a heartbeat interval to the URL unless it names one, so dead peers are noticed. */
function withHeartbeat(url: string, seconds: number): string {
  const u = new URL(url);
  if (!u.searchParams.has('heartbeat')) u.searchParams.set('heartbeat', String(seconds));
  return u.toString();
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
