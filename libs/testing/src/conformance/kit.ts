import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type WriteStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import * as amqp from 'amqplib';
import { HeraldSystem, freePort } from '../herald-system';
import { rabbitmqctl } from '../rabbitmq';
import { UpstreamFixture } from '../upstream-fixture';
import { waitFor } from '../wait';
import { DownloadProxy } from './download-proxy';

/** How the kit runs Herald: every interval short, so each check takes seconds. */
export const KIT_TIMINGS = {
  /** The agent's heartbeat interval (AGENT_HEARTBEAT_SECONDS) and the server's timeout, three beats and more. */
  heartbeatSeconds: 0.5,
  heartbeatTimeoutMs: 3_000,
  resendIntervalSeconds: 2,
  ackTimeoutSeconds: 3,
  maxAttempts: 5,
};

/** The settings of the event-triggered rules most checks run under (R1 and R2 on, R3 on). */
export const KIT_SETTINGS = {
  notifyOnDownload: true,
  includeIndependentAndOffline: false,
  updateOnReconnect: true,
  scanAfterUpdate: true,
  resendIntervalSeconds: KIT_TIMINGS.resendIntervalSeconds,
  maxAttempts: KIT_TIMINGS.maxAttempts,
  ackTimeoutSeconds: KIT_TIMINGS.ackTimeoutSeconds,
};

export interface TimelineEntry {
  position: number;
  at: string;
  type: string;
  notificationId?: string;
  commandId?: string;
  attempt?: number;
  reason?: string;
  trigger?: string;
  [key: string]: unknown;
}

/** A message published on the vhost, as the broker's firehose saw it. */
export interface Traced {
  at: number;
  exchange: string;
  routingKey: string;
  messageId: string | null;
  /** The body parsed as JSON, or null when it is not JSON. */
  body: Record<string, unknown> | null;
  bytes: number;
}

/**
 * Every message published on the kit's vhost, from RabbitMQ's firehose (`rabbitmqctl trace_on`,
 * for that vhost only): a copy of each publish to herald.agent.inbound (what agents send) and
 * herald.agent.outbound (what the server sends them). Tracing changes no routing: a message no
 * queue takes still goes to the alternate exchange, a command to an agent without a queue is
 * still returned to the server.
 */
export class BrokerTrace {
  readonly messages: Traced[] = [];
  private connection: amqp.ChannelModel | null = null;

  constructor(
    private readonly vhost: string,
    private readonly url: string,
  ) {}

  async start(): Promise<void> {
    await rabbitmqctl('trace_on', '-p', this.vhost);
    this.connection = await amqp.connect(this.url);
    const ch = await this.connection.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    for (const exchange of ['herald.agent.inbound', 'herald.agent.outbound']) await ch.bindQueue(queue, 'amq.rabbitmq.trace', `publish.${exchange}`);
    await ch.consume(
      queue,
      (msg) => {
        if (!msg) return;
        const headers = msg.properties.headers ?? {};
        const keys = headers.routing_keys as unknown;
        const props = (headers.properties ?? {}) as { message_id?: unknown };
        let body: Record<string, unknown> | null = null;
        try {
          const parsed: unknown = JSON.parse(msg.content.toString('utf8'));
          if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
        } catch {
          // not JSON: kept as a size
        }
        this.messages.push({
          at: Date.now(),
          exchange: String(headers.exchange_name ?? ''),
          routingKey: Array.isArray(keys) ? String(keys[0]) : '',
          messageId: typeof props.message_id === 'string' ? props.message_id : null,
          body,
          bytes: msg.content.length,
        });
      },
      { noAck: true },
    );
  }

  async stop(): Promise<void> {
    await this.connection?.close().catch(() => undefined);
    await rabbitmqctl('trace_off', '-p', this.vhost).catch(() => undefined);
  }

  /** What the agent published, in order (its routing keys name it). */
  fromAgent(agentId: string, type?: string): Array<Record<string, unknown>> {
    return this.messages
      .filter((m) => m.exchange === 'herald.agent.inbound' && m.routingKey.startsWith(`agent.${agentId}.`) && m.body && (type === undefined || m.body.type === type))
      .map((m) => ({ ...m.body!, _at: m.at }));
  }

  /** What the server (or the kit) sent the agent, in order. */
  toAgent(agentId: string, type?: string): Array<Record<string, unknown>> {
    return this.messages
      .filter((m) => m.exchange === 'herald.agent.outbound' && m.routingKey === agentId && m.body && (type === undefined || m.body.type === type))
      .map((m) => ({ ...m.body!, _at: m.at }));
  }
}

/** One run of the agent command under test: a process group, its output in a log file. */
export class AgentRun {
  private child: ChildProcess | null = null;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;

  constructor(
    private readonly command: string,
    private readonly env: Record<string, string>,
    private readonly log: WriteStream,
  ) {}

  start(): void {
    this.log.write(`\n--- ${new Date().toISOString()} start: ${this.command}\n`);
    // bash runs a lone command in its own place (exec), so the signals and the exit code are the agent's.
    const child = spawn('/bin/bash', ['-c', this.command], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    child.once('exit', (code, signal) => {
      this.exitCode = code;
      this.exitSignal = signal;
      this.log.write(`--- ${new Date().toISOString()} exited: ${code ?? signal}\n`);
    });
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM to the process group; the exit code, or null if it had to be killed after `graceMs`. */
  async stop(graceMs = 10_000): Promise<number | null> {
    const child = this.child;
    if (!child || !this.running) return this.exitCode;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child, 'SIGTERM');
    const inTime = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceMs))]);
    if (!inTime) {
      signalGroup(child, 'SIGKILL');
      await exited;
      return null;
    }
    return this.exitCode;
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    signalGroup(child, 'SIGKILL');
    await exited;
  }
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    child.kill(signal);
  }
}

export interface KitOptions {
  /** The shell command that runs one agent; it gets its configuration as environment variables. */
  agentCommand: string;
  /** Where each agent's output and state go. */
  workDir: string;
}

/**
 * Herald (three services on a database and vhost of their own, short timings), an upstream, a
 * download proxy in front of component-download (the commands' urls point at it) and the broker
 * trace: everything a check needs to drive an agent and see what it did.
 */
export class ConformanceKit {
  readonly upstream = new UpstreamFixture();
  system!: HeraldSystem;
  proxy!: DownloadProxy;
  trace!: BrokerTrace;
  private readonly runs: AgentRun[] = [];
  private readonly seeds = new Map<string, { components?: string; independent?: boolean }>();
  private stopped: Promise<void> | null = null;
  private readonly runLabel = randomBytes(3).toString('hex');

  constructor(readonly options: KitOptions) {}

  async start(): Promise<void> {
    await mkdir(this.options.workDir, { recursive: true });
    await this.upstream.start();
    const downloadPort = await freePort();
    this.proxy = await new DownloadProxy(() => `http://127.0.0.1:${downloadPort}`).start();
    this.system = await HeraldSystem.start({
      label: 'conformance',
      ports: { 'component-download': downloadPort },
      env: {
        UPSTREAM_MANIFEST_URL: this.upstream.manifestUrl,
        UPSTREAM_PUBLIC_KEY: this.upstream.publicKey,
        PUBLIC_BASE_URL: this.proxy.url,
        HEARTBEAT_TIMEOUT_MS: String(KIT_TIMINGS.heartbeatTimeoutMs),
        OFFLINE_SWEEP_INTERVAL_MS: '250',
        DISPATCH_WAVE_DELAY_MS: '300',
        AGENT_REFUSAL_NOTICE_INTERVAL_MS: '100',
        LOG_LEVEL: 'info',
      },
    });
    this.trace = new BrokerTrace(this.system.vhost.name, this.system.amqpUrl);
    await this.trace.start();
    await this.settings({});
  }

  /** Kills every agent run and removes Herald's database, vhost and store. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await Promise.allSettled(this.runs.map((r) => r.kill()));
      await this.trace?.stop();
      await this.system?.stop();
      await this.proxy?.stop();
      await this.upstream.stop();
    })();
    return this.stopped;
  }

  /** A fresh agent id for a check (ids are 1–64 of A-Z a-z 0-9 - _). */
  agentId(check: string): string {
    return `kit-${check}-${this.runLabel}`.slice(0, 64);
  }

  /**
   * Starts the agent command for `agentId`. Its state dir is kept across runs of that id, and
   * every run gets the same AGENT_COMPONENTS and AGENT_INDEPENDENT as the first (the seed counts
   * only while the state dir is new).
   */
  launch(agentId: string, first: { components?: string; independent?: boolean } = {}): AgentRun {
    const options = this.seeds.get(agentId) ?? first;
    this.seeds.set(agentId, options);
    const log = createWriteStream(path.join(this.options.workDir, `${agentId}.log`), { flags: 'a' });
    const run = new AgentRun(this.options.agentCommand, this.environment(agentId, options), log);
    this.runs.push(run);
    run.start();
    return run;
  }

  /** What an agent under test is configured with (docs/asyncapi.yaml, section 10): nothing else. */
  private environment(agentId: string, options: { components?: string; independent?: boolean }): Record<string, string> {
    return {
      AGENT_ID: agentId,
      RABBITMQ_URL: this.system?.amqpUrl ?? '',
      AGENT_STATE_DIR: path.join(this.options.workDir, agentId),
      AGENT_COMPONENTS: options.components ?? '',
      AGENT_INDEPENDENT: options.independent ? 'true' : 'false',
      AGENT_HEARTBEAT_SECONDS: String(KIT_TIMINGS.heartbeatSeconds),
    };
  }

  async settings(patch: Record<string, unknown>): Promise<void> {
    const res = await this.system.http('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', { ...KIT_SETTINGS, ...patch });
    if (res.status !== 200) throw new Error(`settings change refused: ${res.status} ${JSON.stringify(res.body)}`);
  }

  /** Publishes a version upstream and waits until Herald has it and its rollout is planned. */
  async publish(type: string, version: string, content: Buffer): Promise<void> {
    this.upstream.publish({ type, version, content });
    await waitFor(
      async () => {
        const res = await this.system.http<{ rollouts: Array<{ component: { type: string; version: string } }> }>('notification-dispatch', 'GET', '/rollouts?limit=200');
        if (res.body.rollouts.some((r) => r.component.type === type && r.component.version === version)) return true;
        // Checks publish side by side: whichever check comes first downloads every new version.
        await this.system.http('component-download', 'POST', '/components/check');
        return false;
      },
      { what: `Herald to download ${type} ${version} and plan its rollout`, timeoutMs: 60_000, intervalMs: 500 },
    );
  }

  async presence(agentId: string): Promise<{ status: string; disconnectReason: string | null; bootId?: string; components: Array<{ type: string; version: string }>; patchFormats?: string[] } | null> {
    const res = await this.system.http<never>('agent-presence', 'GET', `/agents/${agentId}`);
    return res.status === 200 ? res.body : null;
  }

  async entries(agentId: string): Promise<TimelineEntry[]> {
    const res = await this.system.http<{ entries: TimelineEntry[] }>('notification-dispatch', 'GET', `/agents/${agentId}/timeline`);
    return res.status === 200 ? res.body.entries : [];
  }

  async waitForEntry(agentId: string, predicate: (e: TimelineEntry) => boolean, what: string, timeoutMs = 30_000): Promise<TimelineEntry[]> {
    return waitFor(
      async () => {
        const entries = await this.entries(agentId);
        return entries.some(predicate) ? entries : undefined;
      },
      { what, timeoutMs, intervalMs: 100 },
    );
  }

  /** Waits until presence sees the agent online (true) or offline (false). */
  async waitOnline(agentId: string, online: boolean, timeoutMs = 20_000): Promise<void> {
    // An agent in Independent mode is online with the status `independent`.
    await waitFor(async () => {
      const status = (await this.presence(agentId))?.status;
      return status !== undefined && (status !== 'offline') === online;
    }, {
      what: `the server to see ${agentId} ${online ? 'online' : 'offline'}`,
      timeoutMs,
      intervalMs: 100,
    });
  }

  /** Publishes on the vhost as anyone could: a forged agent message or a command, with a confirm. */
  async publishRaw(exchange: string, routingKey: string, body: Buffer, properties: amqp.Options.Publish = {}): Promise<void> {
    const connection = await amqp.connect(this.system.amqpUrl);
    try {
      const ch = await connection.createConfirmChannel();
      ch.publish(exchange, routingKey, body, { contentType: 'application/json', persistent: true, ...properties });
      await ch.waitForConfirms();
    } finally {
      await connection.close();
    }
  }

  /** The agent's command queue: messages waiting and delivered but not yet acknowledged. */
  async queueDepth(agentId: string): Promise<{ ready: number; unacked: number } | null> {
    const out = await rabbitmqctl('list_queues', '-p', this.system.vhost.name, 'name', 'messages_ready', 'messages_unacknowledged', '--formatter', 'json');
    const rows = JSON.parse(out) as Array<{ name: string; messages_ready: number; messages_unacknowledged: number }>;
    const row = rows.find((r) => r.name === `herald.agent.${agentId}`);
    return row ? { ready: row.messages_ready, unacked: row.messages_unacknowledged } : null;
  }

  /** The queue of the agent's commands, as the document (section 1) has it: exclusive, not durable, auto-delete. */
  async queueShape(agentId: string): Promise<{ exclusive: boolean; durable: boolean; autoDelete: boolean; consumers: number } | null> {
    const out = await rabbitmqctl('list_queues', '-p', this.system.vhost.name, 'name', 'exclusive', 'durable', 'auto_delete', 'consumers', '--formatter', 'json');
    const rows = JSON.parse(out) as Array<{ name: string; exclusive: boolean; durable: boolean; auto_delete: boolean; consumers: number }>;
    const row = rows.find((r) => r.name === `herald.agent.${agentId}`);
    return row ? { exclusive: row.exclusive, durable: row.durable, autoDelete: row.auto_delete, consumers: row.consumers } : null;
  }
}
