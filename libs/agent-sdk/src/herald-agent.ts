import { EventEmitter } from 'node:events';
import { type KeyObject, randomUUID } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type * as amqp from 'amqplib';
import { acceptEncoding, decodeBody } from '@herald/delta';
import type {
  AgentMessage,
  AppliedComponent,
  ComponentTarget,
  MessageRefusedCommand,
  ScanCommand,
  UpdateCommand} from '@herald/contracts';
import {
  Exchanges,
  agentCommandQueue,
  agentInboundRoutingKey,
  compareVersions,
  keyId,
  parseAgentCommand,
  parsePublicKey,
  verifyStatement,
} from '@herald/contracts';
import type { AgentConnectionOptions, ConnectionMember } from './agent-connection';
import { AgentConnection } from './agent-connection';
import { type AgentCredentials, withAgentIdentity } from './agent-identity';
import type { ComponentStore } from './component-store';

export type ScanOutcome = { outcome: 'clean' | 'threats-found' | 'failed'; threatsFound: number; error?: string };

export interface HeraldAgentOptions {
  agentId: string;
  /**
   * The broker, e.g. amqp://agent:secret@herald.example:5672, or the nodes of a cluster (a list,
   * or one string comma-separated), tried in turn on connection loss; the agent opens its own connection.
   */
  amqpUrl?: string | readonly string[];
  /**
   * With amqps:// URLs: the certificate authority the broker's certificate must chain to
   * (`{ ca: <PEM> }`), instead of the system's. Used when the agent opens its own connection.
   */
  tls?: AgentConnectionOptions['tls'];
  /** Or: a connection shared with other agents (a simulator); the agent gets a channel on it. */
  connection?: AgentConnection;
  /**
   * The agent's own broker identity (with amqpUrl): it logs in as its agent id with these,
   * whatever user the URL names. Where Herald runs its broker with per-agent identities
   * (docs/security.md), an agent is refused until it has enrolled and an admin accepted it; it
   * keeps trying meanwhile.
   */
  credentials?: AgentCredentials;
  store: ComponentStore;
  hostname?: string;
  agentVersion?: string;
  independentMode?: boolean;
  /** Labels the agent reports in every hello (site, OS, …), for admins to filter by and pick canary groups. */
  labels?: Record<string, string>;
  /**
   * The patch formats to declare in hello and ask for on downloads: default, every format the
   * store applies (store.patchFormats(), herald-delta-1 for a store that predates formats);
   * a store without applyPatch declares none.
   */
  patchFormats?: string[];
  /** Default 30 s; the server's HEARTBEAT_TIMEOUT_MS must be a few of these. */
  heartbeatIntervalMs?: number;
  /** Runs Scan Now; the default reports a clean scan. */
  scanner?: (command: ScanCommand) => Promise<ScanOutcome>;
  /** Upper bound of the random extra wait added to a server's Retry-After. */
  retryJitterMs?: number;
  /** Give up a download after this many 503s. */
  maxDownloadRetries?: number;
  /**
   * A download whose response has not begun this long after the request is given up and tried
   * again (default 30 s): a server swamped by a whole fleet at once can leave a connection open
   * that it never reads, and the operating system would wait many minutes.
   */
  downloadResponseTimeoutMs?: number;
  /** Acknowledge update commands (a test agent that never acknowledges turns this off). */
  acknowledge?: boolean;
  /**
   * The upstream update source's Ed25519 public key (base64 of the 32 raw bytes, or PEM): the
   * same key as the server's UPSTREAM_PUBLIC_KEY, pinned in the agent. With it, the agent
   * installs only what the upstream signed: each component of an update command must carry the
   * upstream's signed statement for that type and version, with the command's sha256 and size,
   * or the whole command is refused (`failed`, nothing installed). Without it, the agent trusts
   * the server for what it installs (it still checks the file against the command's sha256).
   */
  upstreamPublicKey?: string;
  /**
   * Refuse every downgrade, even one the server asks for because an admin pinned an older
   * version (the command's `downgrade`): the update fails with the reason. For fleets whose
   * agents must never go back, whatever the server says (a signed older release stays
   * installable otherwise). Default false.
   */
  refuseDowngrades?: boolean;
}

/** The server sent a component the upstream did not sign as such: nothing of the command is installed. */
export class UnsignedComponentError extends Error {
  override name = 'UnsignedComponentError';
}

export type HeraldAgentEvents = {
  connected: [];
  disconnected: [];
  command: [command: UpdateCommand | ScanCommand, duplicate: boolean];
  updated: [result: { notificationId: string; outcome: 'completed' | 'failed'; components: AppliedComponent[]; error?: string }];
  scanned: [scanId: string, outcome: ScanOutcome];
  /** The server refused (parked) a message this agent sent: nothing to answer, only to look into. */
  refused: [notice: MessageRefusedCommand];
  /** Something went wrong that the agent survived (a malformed command, a failed publish). */
  warning: [error: Error];
};

/**
 * The reference Herald agent: connects to the broker, declares its own command queue (exclusive:
 * it exists only while the agent is connected), says hello on every (re)connect, heartbeats,
 * acknowledges and carries out update and scan commands, and says goodbye on stop.
 * Implements docs/asyncapi.yaml.
 */
export class HeraldAgent extends EventEmitter<HeraldAgentEvents> implements ConnectionMember {
  readonly bootId = randomUUID();
  private connection: AgentConnection | null = null;
  private ownsConnection = false;
  private model: amqp.ChannelModel | null = null;
  private channel: amqp.ConfirmChannel | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private starting: Promise<void> | null = null;
  private stopped = false;
  /** Recent command ids, for de-duplication (the broker delivers at least once). */
  private readonly seenCommands = new Set<string>();
  private readonly results = new Map<string, AgentMessage>();
  /**
   * Results the broker did not confirm (the connection went away, a node stopped): sent again
   * on the next connection, before hello, so the server counts the update done rather than
   * only seeing the new version in the hello.
   */
  private readonly unsent = new Map<string, AgentMessage>();
  private work: Promise<void> = Promise.resolve();
  private readonly upstreamKey: KeyObject | null;

  constructor(private readonly options: HeraldAgentOptions) {
    super();
    try {
      this.upstreamKey = options.upstreamPublicKey ? parsePublicKey(options.upstreamPublicKey) : null;
    } catch (err) {
      throw new Error(`upstreamPublicKey is not an Ed25519 public key (PEM, or base64 of the 32 raw bytes): ${(err as Error).message}`, { cause: err });
    }
  }

  /** The key id of the pinned upstream key, or null when the agent trusts the server. */
  get upstreamKeyId(): string | null {
    return this.upstreamKey ? keyId(this.upstreamKey) : null;
  }

  /**
   * With a pinned upstream key: the target as the upstream signed it, or an
   * UnsignedComponentError saying why not. Without one: the target as the server sent it.
   */
  verifyTarget(target: ComponentTarget): ComponentTarget {
    if (!this.upstreamKey) return target;
    const verdict = verifyStatement(target.statement, this.upstreamKey, target);
    if (!verdict.ok) throw new UnsignedComponentError(`refused, not signed by the upstream: ${verdict.detail}`);
    const signed = verdict.statement;
    if (signed.sha256 !== target.sha256 || signed.size !== target.size) {
      throw new UnsignedComponentError(
        `refused: the server announced SHA-256 ${target.sha256} (${target.size} bytes), the upstream signed ${signed.sha256} (${signed.size} bytes)`,
      );
    }
    return { ...target, sha256: signed.sha256, size: signed.size };
  }

  get agentId(): string {
    return this.options.agentId;
  }

  get connected(): boolean {
    return this.channel !== null;
  }

  /** host:port of the broker node the agent's connection is on, or null while disconnected. */
  get connectedNode(): string | null {
    return this.channel === null ? null : (this.connection?.connectedNode ?? null);
  }

  /**
   * Connects (or joins the shared connection) and says hello; resolves once the agent can receive
   * commands, or once a first attempt to set up failed (a `warning`; it keeps trying, and
   * `connected` tells). After a broker loss it reconnects, declares its queue again and says
   * hello again.
   */
  async start(): Promise<void> {
    if (this.options.connection) {
      this.connection = this.options.connection;
    } else {
      if (!this.options.amqpUrl) throw new Error('HeraldAgent needs amqpUrl or connection');
      const url = this.options.credentials ? withAgentIdentity(this.options.amqpUrl, this.agentId, this.options.credentials) : this.options.amqpUrl;
      this.connection = await AgentConnection.open(url, { name: `herald-agent ${this.agentId}`, tls: this.options.tls, onWarning: (err) => this.emit('warning', err) });
      this.ownsConnection = true;
    }
    this.stopped = false;
    this.starting = this.connection.attach(this);
    await this.starting;
    if (this.stopped) return; // stop() came while starting, and cleans up
    const interval = this.options.heartbeatIntervalMs ?? 30_000;
    this.heartbeat = setInterval(() => {
      if (this.channel) void this.send({ type: 'heartbeat', bootId: this.bootId }).catch(() => undefined);
    }, interval);
  }

  /** Called by the connection on every (re)connect: own channel, own queue, then hello. */
  async attachTo(model: amqp.ChannelModel): Promise<void> {
    if (this.model === model) return;
    this.model = model;
    let ch: amqp.ConfirmChannel | null = null;
    try {
      ch = await within(SETUP_TIMEOUT_MS, model.createConfirmChannel(), 'opening a channel');
      ch.on('error', (err: Error) => this.emit('warning', new Error(`channel closed by the broker: ${err.message}`)));
      const opened = ch;
      ch.on('close', () => {
        if (this.channel === opened) {
          this.channel = null;
          this.model = null;
          this.emit('disconnected');
        }
      });
      const queue = agentCommandQueue(this.agentId);
      await within(
        SETUP_TIMEOUT_MS,
        (async () => {
          await opened.assertQueue(queue, { exclusive: true, durable: false, autoDelete: true });
          await opened.bindQueue(queue, Exchanges.agentOutbound, this.agentId);
          await opened.prefetch(8);
          await opened.consume(queue, (msg) => msg && this.onCommand(opened, msg), { noAck: false });
        })(),
        'declaring its queue',
      );
      if (this.stopped) {
        // stop() ran while this was being set up: leave nothing behind.
        this.model = null;
        await closeQuietly(ch);
        return;
      }
      this.channel = ch;
      for (const [commandId, result] of [...this.unsent]) {
        await this.sendOn(ch, result);
        this.unsent.delete(commandId);
      }
      await this.sendOn(ch, {
        type: 'hello',
        bootId: this.bootId,
        hostname: this.options.hostname ?? osHostname(),
        agentVersion: this.options.agentVersion ?? '1.0.0',
        independentMode: this.options.independentMode ?? false,
        components: await this.options.store.installed(),
        ...(this.options.labels && Object.keys(this.options.labels).length > 0 ? { labels: this.options.labels } : {}),
        patchFormats: this.patchFormats(),
      });
    } catch (err) {
      this.channel = null;
      this.model = null;
      if (ch) await closeQuietly(ch);
      throw new Error(`agent ${this.agentId} could not set up on the connection: ${(err as Error).message}`, { cause: err });
    }
    this.emit('connected');
  }

  detached(): void {
    const was = this.channel !== null;
    this.channel = null;
    this.model = null;
    if (was) this.emit('disconnected');
  }

  private onCommand(ch: amqp.Channel, msg: amqp.ConsumeMessage): void {
    // Commands are handled one at a time, in order, so a duplicate never runs alongside its original.
    this.work = this.work
      .then(async () => {
        const parsed = parseAgentCommand(msg.content);
        if (!parsed.ok && parsed.reason === 'unknown-type') {
          // A command of a later protocol version: acknowledged and left alone (docs/asyncapi.yaml section 3).
          this.emit('warning', new Error(`ignored a command of a type this agent does not know: ${parsed.detail}`));
          return;
        }
        if (!parsed.ok || parsed.message.agentId !== this.agentId) {
          this.emit('warning', new Error(`ignored a malformed command: ${parsed.ok ? 'addressed to another agent' : parsed.detail}`));
          return;
        }
        const command = parsed.message;
        if (command.type === 'message-refused') {
          // Not a command to carry out: the server says it refused something this agent sent.
          this.emit('warning', new Error(`the server refused ${command.refusedType ?? 'a message'} ${command.refusedMessageId ?? ''} (${command.reason}): ${command.detail}${command.suppressed > 0 ? `; ${command.suppressed} more refused since the last notice` : ''}`));
          this.emit('refused', command);
          return;
        }
        const duplicate = this.seenCommands.has(command.commandId);
        remember(this.seenCommands, command.commandId);
        this.emit('command', command, duplicate);
        if (command.type === 'update') await this.onUpdate(command, duplicate);
        else await this.onScan(command, duplicate);
      })
      .catch((err: Error) => {
        this.emit('warning', err);
      })
      .finally(() => {
        try {
          ch.ack(msg);
        } catch {
          // the channel closed; the command is redelivered on the next connection
        }
      });
  }

  private async onUpdate(command: UpdateCommand, duplicate: boolean): Promise<void> {
    if (this.options.acknowledge === false) return;
    await this.send({ type: 'ack', commandId: command.commandId, notificationId: command.notificationId, attempt: command.attempt });
    // A copy of a command already carried out: report again (the first report may have been
    // lost). A new command of the same notification (a resend, or a target raised to a newer
    // version, R7) is carried out: components already at the target are left alone, so nothing
    // is ever applied twice.
    const known = this.results.get(command.commandId);
    if (duplicate || known) {
      if (known) await this.report(command.commandId, known);
      return;
    }
    const applied: AppliedComponent[] = [];
    let error: string | undefined;
    // With a pinned upstream key, every component to install is checked against the upstream's
    // signature before anything is downloaded: a server that lies about one gets nothing applied.
    const installed = await this.options.store.installed();
    // A version older than the installed one only for a type the server says is pinned to it (a rollback).
    const downgrade = new Set(command.downgrade ?? []);
    const due = (target: ComponentTarget, current: string | null) =>
      current === null || (downgrade.has(target.type) ? compareVersions(current, target.version) !== 0 : compareVersions(current, target.version) < 0);
    for (const target of command.components) {
      const current = installed.find((c) => c.type === target.type)?.version ?? null;
      if (!due(target, current)) continue;
      if (this.options.refuseDowngrades && current !== null && compareVersions(current, target.version) > 0) {
        error = `${target.type} ${target.version}: refused, this agent does not downgrade from ${current}`;
        break;
      }
      try {
        this.verifyTarget(target);
      } catch (err) {
        error = `${target.type} ${target.version}: ${(err as Error).message}`;
        break;
      }
    }
    for (const target of error ? [] : command.components) {
      const current = (await this.options.store.installed()).find((c) => c.type === target.type)?.version ?? null;
      if (!due(target, current)) {
        applied.push({ type: target.type, fromVersion: current, toVersion: current ?? target.version, mode: 'none', bytes: 0 });
        continue;
      }
      try {
        const down = current !== null && compareVersions(current, target.version) > 0;
        applied.push(await this.fetchComponent(target, current, { downgrade: down }));
      } catch (err) {
        error = `${target.type} ${target.version}: ${(err as Error).message}`;
        break;
      }
    }
    const result = {
      type: 'update-result' as const,
      commandId: command.commandId,
      notificationId: command.notificationId,
      outcome: error ? ('failed' as const) : ('completed' as const),
      components: applied,
      installed: await this.options.store.installed(),
      ...(error ? { error } : {}),
    };
    const message = this.envelope(result);
    remember(this.results, command.commandId, message);
    await this.report(command.commandId, message);
    this.emit('updated', { notificationId: command.notificationId, outcome: result.outcome, components: applied, error });
  }

  private async onScan(command: ScanCommand, duplicate: boolean): Promise<void> {
    if (duplicate) return;
    const scanner = this.options.scanner ?? (async () => ({ outcome: 'clean' as const, threatsFound: 0 }));
    const outcome = await scanner(command).catch((err: Error) => ({ outcome: 'failed' as const, threatsFound: 0, error: err.message }));
    await this.report(command.commandId, this.envelope({ type: 'scan-result', commandId: command.commandId, scanId: command.scanId, ...outcome }));
    this.emit('scanned', command.scanId, outcome);
  }

  /**
   * Brings one component to the target version. With a version installed and a store that can
   * patch, it asks for `url?from=<installed>`; the server answers with a patch or the full file.
   * A patch that fails in any way (transfer, digest, rebuild) is dropped and the full file
   * fetched instead; either way only a file whose SHA-256 is the command's is installed. With a
   * pinned upstream key, the target must carry the upstream's signed statement for exactly this
   * type, version, SHA-256 and size (else UnsignedComponentError, before any download). A
   * downgrade (to a pinned older version) always takes the full file: patches only go forward.
   */
  async fetchComponent(sent: ComponentTarget, current: string | null, options: { downgrade?: boolean } = {}): Promise<AppliedComponent> {
    const target = this.verifyTarget(sent);
    const store = this.options.store;
    const full = async (): Promise<AppliedComponent> => {
      const bytes = await this.download(target.url, async (body, headers) => wireBytes(headers, await store.install(target.type, target.version, target.sha256, body)));
      return { type: target.type, fromVersion: current, toVersion: target.version, mode: 'full', bytes };
    };
    if (current === null || options.downgrade || !store.applyPatch || this.patchFormats().length === 0 || (store.canPatchFrom && !(await store.canPatchFrom(target.type, current)))) return full();
    const url = new URL(target.url);
    url.searchParams.set('from', current);
    url.searchParams.set('formats', this.patchFormats().join(','));
    try {
      return await this.download(url.toString(), async (body, headers) => {
        if (headers.get('x-herald-delivery') !== 'incremental') {
          const bytes = wireBytes(headers, await store.install(target.type, target.version, target.sha256, body));
          return { type: target.type, fromVersion: current, toVersion: target.version, mode: 'full' as const, bytes };
        }
        const format = headers.get('x-herald-patch-format') ?? 'herald-delta-1';
        const bytes = await store.applyPatch!(target.type, current, target.version, target.sha256, body, headers.get('x-herald-sha256'), format);
        return { type: target.type, fromVersion: current, toVersion: target.version, mode: 'incremental' as const, bytes };
      });
    } catch (err) {
      this.emit('warning', new Error(`incremental update of ${target.type} ${current}→${target.version} failed, downloading the full file: ${(err as Error).message}`));
      return full();
    }
  }

  /** The patch formats this agent declares and asks for. */
  private patchFormats(): string[] {
    const store = this.options.store;
    if (!store.applyPatch) return [];
    return this.options.patchFormats ?? store.patchFormats?.() ?? ['herald-delta-1'];
  }

  /** GET with the server's back-pressure honoured: on 503, wait Retry-After plus jitter, then again. */
  private async download<T>(url: string, consume: (body: Readable, headers: Headers) => Promise<T>): Promise<T> {
    const maxRetries = this.options.maxDownloadRetries ?? 20;
    const responseTimeoutMs = this.options.downloadResponseTimeoutMs ?? 30_000;
    const pause = (seconds: number) => new Promise((r) => setTimeout(r, seconds * 1000 + Math.random() * (this.options.retryJitterMs ?? 1_000)));
    for (let retry = 0; ; retry++) {
      let res: Response;
      const noResponse = new AbortController();
      const timer = setTimeout(() => noResponse.abort(new Error(`no response within ${responseTimeoutMs} ms`)), responseTimeoutMs);
      try {
        // zstd too where the binding is built (the smallest coding the server keeps is sent).
        res = await fetch(url, { signal: noResponse.signal, headers: { 'accept-encoding': acceptEncoding() } });
      } catch (err) {
        // A connection refused or reset before any answer (a server restarting, a reused socket
        // the server had just closed), or no answer in time: try again like a 503, within the same budget.
        if (retry >= maxRetries) throw err;
        await pause(1);
        continue;
      } finally {
        // Only the wait for the response is bounded: the body may take as long as it takes.
        clearTimeout(timer);
      }
      if (res.status === 503 && retry < maxRetries) {
        await res.body?.cancel();
        const seconds = Number(res.headers.get('retry-after') ?? '1');
        await pause(Number.isFinite(seconds) ? seconds : 1);
        continue;
      }
      if (!res.ok || !res.body) throw new Error(`download failed: HTTP ${res.status} from ${url}`);
      return consume(decodeBody(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), res.headers.get('content-encoding')), res.headers);
    }
  }

  private envelope(body: Record<string, unknown> & { type: AgentMessage['type'] }): AgentMessage {
    return { ...body, schemaVersion: 1, messageId: randomUUID(), agentId: this.agentId, sentAt: new Date().toISOString() } as AgentMessage;
  }

  /** Sends a result; one not confirmed is kept and sent again on the next connection. */
  private async report(commandId: string, message: AgentMessage): Promise<void> {
    this.unsent.set(commandId, message);
    await this.send(message);
    this.unsent.delete(commandId);
  }

  private async send(body: (Record<string, unknown> & { type: AgentMessage['type'] }) | AgentMessage): Promise<void> {
    const ch = this.channel;
    if (!ch) throw new Error('not connected');
    await this.sendOn(ch, 'messageId' in body ? (body as AgentMessage) : this.envelope(body));
  }

  private async sendOn(ch: amqp.ConfirmChannel, body: (Record<string, unknown> & { type: AgentMessage['type'] }) | AgentMessage): Promise<void> {
    const message = 'messageId' in body ? (body as AgentMessage) : this.envelope(body);
    await new Promise<void>((resolve, reject) => {
      ch.publish(
        Exchanges.agentInbound,
        agentInboundRoutingKey(this.agentId, message.type),
        Buffer.from(JSON.stringify(message)),
        { persistent: true, messageId: message.messageId, type: message.type, contentType: 'application/json' },
        (err) => (err ? reject(new Error(`broker refused ${message.type}`)) : resolve()),
      );
    });
  }

  /**
   * Says goodbye (so the server marks it offline at once) and disconnects. Without goodbye it
   * stops as a crashed agent would: its queue goes away and the server hears nothing.
   */
  async stop({ goodbye = true }: { goodbye?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    await this.starting?.catch(() => undefined);
    await this.work.catch(() => undefined);
    if (goodbye && this.channel) await this.send({ type: 'goodbye', bootId: this.bootId }).catch(() => undefined);
    const ch = this.channel;
    this.channel = null;
    this.model = null;
    this.connection?.detach(this);
    // Closing the channel cancels the consumer, and the auto-delete queue goes with it.
    if (ch) await closeQuietly(ch);
    if (this.ownsConnection) await this.connection?.close();
    this.connection = null;
    this.ownsConnection = false;
  }
}

/** Commands remembered per agent: duplicates arrive soon after their original, never weeks later. */
const REMEMBERED_COMMANDS = 256;

function remember(into: Set<string>, key: string): void;
function remember<V>(into: Map<string, V>, key: string, value: V): void;
function remember<V>(into: Set<string> | Map<string, V>, key: string, value?: V): void {
  if (into instanceof Set) into.add(key);
  else into.set(key, value as V);
  if (into.size > REMEMBERED_COMMANDS) into.delete(into.keys().next().value!);
}

/**
 * A broker that goes away in the middle of a channel operation can leave it unanswered; an agent
 * must never wait on one for ever (it would never reconnect or stop).
 */
const SETUP_TIMEOUT_MS = 15_000;
const CLOSE_TIMEOUT_MS = 2_000;

function within<T>(ms: number, work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the broker within ${ms} ms while ${what}`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

async function closeQuietly(ch: amqp.Channel): Promise<void> {
  await within(CLOSE_TIMEOUT_MS, ch.close(), 'closing a channel').catch(() => undefined);
}

/**
 * The bytes that came over the wire: a coded full file is decoded before the store counts it
 * (fetch decodes gzip and deflate, decodeBody zstd); the server sent Content-Length coded bytes.
 */
function wireBytes(headers: Headers, received: number): number {
  const length = Number(headers.get('content-length'));
  return headers.get('content-encoding') && Number.isInteger(length) && length > 0 ? length : received;
}
