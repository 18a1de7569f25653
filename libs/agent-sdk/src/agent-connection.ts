import { EventEmitter } from 'node:events';
import * as amqp from 'amqplib';
import { type BrokerTlsOptions, BrokerRotation, assertTlsUrls, backoffDelay, brokerNodeOf, redactUrl } from '@herald/common';

const ATTACH_RETRY_MS = 2_000;

/** What an AgentConnection needs of each agent it carries. */
export interface ConnectionMember {
  /** Opens the member's channel on a fresh connection, declares its queue and says hello. */
  attachTo(model: amqp.ChannelModel): Promise<void>;
  /** The connection is gone; the member's channel with it. */
  detached(): void;
}

export interface AgentConnectionOptions {
  /** Shown in the broker's management UI. */
  name?: string;
  /** How many members set up their channel at the same time after a (re)connect. Default 32. */
  setupConcurrency?: number;
  /** AMQP heartbeat, unless the URL names one (`?heartbeat=`). Default 30 s. */
  heartbeatSeconds?: number;
  /** Delay before the first reconnect attempt; doubles per failed attempt, with ±20 % jitter. Default 200 ms. */
  reconnectDelayMs?: number;
  /** Longest delay between reconnect attempts. Default 5 s. */
  reconnectMaxDelayMs?: number;
  /** One attempt to connect to one node gives up after this long. Default 10 s. */
  connectAttemptTimeoutMs?: number;
  /** Which of several URLs to try first (0-based, taken modulo their number), to spread connections over a cluster. Default 0. */
  firstNode?: number;
  /** Told of warnings from the start, before open() resolves (a refused login while the agent waits for admission). */
  onWarning?: (err: Error) => void;
  /**
   * For amqps:// URLs (then every URL must be one): `ca` is the certificate authority the
   * broker's certificate must chain to (the server's own CA, instead of the system's); a broker
   * whose certificate does not, or does not name the host connected to, is refused.
   */
  tls?: BrokerTlsOptions;
  /**
   * Told of every failed attempt to connect (a certificate refused, a wrong password, a node
   * down) with the node tried; the connection keeps trying. Without it, failures are silent.
   */
  onConnectFailed?: (error: Error, node: string) => void;
  /** Stops trying to connect: open() then rejects with the last failure (or a "stopped" error). */
  signal?: AbortSignal;
}

export type AgentConnectionEvents = {
  connected: [];
  disconnected: [error: Error];
  /** A member could not set itself up on a new connection; it tries again on the next one. */
  warning: [error: Error];
};

/**
 * One broker connection that reconnects on its own (amqplib's recovery, with backoff and jitter)
 * and carries any number of agents, each on its own channel with its own exclusive command queue.
 * Given the nodes of a cluster (several URLs), each reconnect attempt goes to the next node, so
 * the loss of one node moves the agents to another. A real agent has one of these to itself; a
 * simulator shares a few among thousands of agents. After every (re)connect each member attaches
 * again, which re-declares its queue and says hello.
 */
export class AgentConnection extends EventEmitter<AgentConnectionEvents> {
  private model: amqp.ChannelModel | null = null;
  private readonly members = new Set<ConnectionMember>();
  private closed = false;

  private node: string | null = null;

  private constructor(
    private readonly recovering: amqp.RecoveringChannelModel,
    private readonly rotation: BrokerRotation,
    private readonly setupConcurrency: number,
  ) {
    super();
  }

  /**
   * Connects, retrying with backoff until a node answers (it never gives up on its own). `url`:
   * amqp(s)://user:pass@host:port/vhost, or several (a list, or one string comma-separated),
   * the nodes of one cluster, tried in turn.
   */
  static async open(url: string | readonly string[], options: AgentConnectionOptions = {}): Promise<AgentConnection> {
    const rotation = new BrokerRotation(url, options.heartbeatSeconds ?? 30);
    assertTlsUrls(rotation.urls, options.tls);
    options.signal?.throwIfAborted();
    for (let i = 0; i < (options.firstNode ?? 0) % rotation.urls.length; i++) rotation.advance();
    const backoff = { initialMs: options.reconnectDelayMs ?? 200, maxMs: options.reconnectMaxDelayMs ?? 5_000, jitter: 0.2 };
    // amqplib reads the URL object on every attempt; it is switched to the next node before each retry.
    const recovering = await amqp.connect(rotation.target, {
      // tls.connect's options: with `ca`, the broker's certificate must chain to it (and name the host).
      ...options.tls,
      clientProperties: { connection_name: options.name ?? 'herald-agent' },
      timeout: options.connectAttemptTimeoutMs ?? 10_000,
      recovery: {
        waitForConnect: false,
        maxRetries: Infinity,
        calculateDelay: (attempt: number) => {
          rotation.advance();
          return backoffDelay(attempt, backoff);
        },
      },
    });
    const connection = new AgentConnection(recovering, rotation, options.setupConcurrency ?? 32);
    if (options.onWarning) connection.on('warning', options.onWarning);
    // Registered before the first attempt completes: 'connect' fires on every (re)connect.
    recovering.on('connect', (model) => void connection.onConnect(model));
    recovering.on('disconnect', (err) => connection.onDisconnect(err));
    recovering.on('error', () => undefined);
    // A refused login is said once per run of refusals: an agent with its own identity may wait
    // hours for an admin, trying again all along.
    let refused = false;
    recovering.on('connect', () => (refused = false));
    recovering.on('connect-failed', (err: Error) => {
      if (refused || !/ACCESS_REFUSED/.test(err.message)) return;
      refused = true;
      connection.emit(
        'warning',
        new Error(`the broker refused the login (${err.message}); an agent with its own identity is refused until an admin accepts it, and a wrong secret always is; trying again`),
      );
    });
    let lastFailure: Error | undefined;
    // 'connect-failed' fires before the rotation moves on (in calculateDelay): `current` is the node tried.
    recovering.on('connect-failed', (err: Error) => {
      lastFailure = err;
      options.onConnectFailed?.(err, redactUrl(rotation.current));
    });
    const abort = () => void recovering.close();
    options.signal?.addEventListener('abort', abort, { once: true });
    try {
      await recovering.waitForConnect();
    } catch (err) {
      throw lastFailure ? new Error(`gave up connecting to RabbitMQ: ${lastFailure.message}`, { cause: lastFailure }) : err;
    } finally {
      options.signal?.removeEventListener('abort', abort);
    }
    return connection;
  }

  get connected(): boolean {
    return this.model !== null;
  }

  /** host:port of the node connected to (no credentials), or null while disconnected. */
  get connectedNode(): string | null {
    return this.node === null ? null : brokerNodeOf(this.node);
  }

  get size(): number {
    return this.members.size;
  }

  /**
   * Adds a member; it attaches now if the connection is up, otherwise on the next connect. A
   * member that fails to attach (a warning) is tried again a few seconds later, and on every
   * reconnect, until it is detached.
   */
  async attach(member: ConnectionMember): Promise<void> {
    this.members.add(member);
    if (this.model) await this.tryAttach(member, this.model);
  }

  private async tryAttach(member: ConnectionMember, model: amqp.ChannelModel): Promise<void> {
    try {
      await member.attachTo(model);
    } catch (err) {
      this.emit('warning', err as Error);
      const retry = setTimeout(() => {
        if (!this.closed && this.model === model && this.members.has(member)) void this.tryAttach(member, model);
      }, ATTACH_RETRY_MS + Math.random() * ATTACH_RETRY_MS);
      retry.unref();
    }
  }

  detach(member: ConnectionMember): void {
    this.members.delete(member);
  }

  private async onConnect(model: amqp.ChannelModel): Promise<void> {
    this.model = model;
    this.node = this.rotation.current;
    this.emit('connected');
    const queue = [...this.members];
    const worker = async () => {
      for (let member = queue.shift(); member; member = queue.shift()) {
        if (this.model !== model || !this.members.has(member)) continue;
        await this.tryAttach(member, model);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.setupConcurrency, queue.length) }, worker));
  }

  private onDisconnect(err: Error): void {
    this.model = null;
    this.node = null;
    for (const member of this.members) member.detached();
    if (!this.closed) this.emit('disconnected', err);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.model = null;
    this.node = null;
    await this.recovering.close().catch(() => undefined);
  }
}
