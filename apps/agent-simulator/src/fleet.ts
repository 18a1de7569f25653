import { createHash, createHmac, randomInt } from 'node:crypto';
import { AgentConnection, type AgentConnectionOptions, HeraldAgent, MemoryComponentStore, SharedComponentContent } from '@herald/agent-sdk';
import { compareVersions, type AppliedComponent, type InstalledComponent, type ScanCommand, type UpdateCommand } from '@herald/contracts';

/** How a simulated agent behaves. */
export type AgentRole = 'normal' | 'offline' | 'independent' | 'silent' | 'restarting';

export interface FleetOptions {
  /** The broker: one URL, or the nodes of a cluster comma-separated (connections start on different nodes). */
  amqpUrl: string;
  agents: number;
  /** Connections the agents share; default one per 500 agents. */
  connections?: number;
  /** Agent ids are `<prefix>-<n>`. */
  prefix?: string;
  /** Shares of the fleet, each 0..1; the rest are normal agents. */
  offline?: number;
  independent?: number;
  /** Agents that receive update commands and never acknowledge them. */
  silent?: number;
  /** Agents that crash and come back (new boot id) at random while the run lasts. */
  restarting?: number;
  /** Starting versions, per component type; each agent gets one of them, spread evenly. */
  components: Record<string, string[]>;
  /** Labels every agent reports in its hello: per key, each agent gets one of the values, spread evenly by agent number. */
  labels?: Record<string, string[]>;
  heartbeatIntervalMs?: number;
  /** How long a restarting agent stays down, and how long between its restarts (ms ranges). */
  downMs?: [number, number];
  restartEveryMs?: [number, number];
  /** Versions every reachable agent must reach; added to those seen in update commands. */
  targets?: Record<string, string>;
  /** Agents set up at the same time while starting. */
  startConcurrency?: number;
  /** For amqps:// URLs: the certificate authority the broker's certificate must chain to (AgentConnectionOptions.tls). */
  tls?: AgentConnectionOptions['tls'];
  /** The upstream public key every agent pins (HeraldAgentOptions.upstreamPublicKey); unset: they trust the server. */
  upstreamPublicKey?: string;
  /** Told of every command an agent receives and every update it carries out (a fault test keeps its own record). */
  observer?: FleetObserver;
  /**
   * Per-agent broker identities (docs/security.md): every agent logs in as itself on a
   * connection of its own (`connections` is ignored), with the enrolment token and a secret
   * derived from `secretSeed` and its id, so a restarted simulator logs in as the same agents.
   * An agent's start waits until it is accepted (AGENT_AUTO_ACCEPT, or an admin).
   */
  identity?: { enrolmentToken: string; secretSeed: string };
  /**
   * component-download's base URL. Before the agents start, the full file of each starting
   * version is fetched once from it (the agents' own download endpoint, checked against its
   * Repr-Digest) and shared by every agent on that version, so their first update can be a
   * patch, as a real agent's is. A version the server does not keep stays without bytes: its
   * agents take full files.
   */
  baseContentUrl?: string;
}

/** What seeding the starting versions' content got: the bytes, or why not. */
export interface SeededContent {
  type: string;
  version: string;
  bytes: number;
  /** Why the version has no bytes (HTTP status, digest mismatch, network error). */
  missing?: string;
}

export interface FleetObserver {
  command?(agentId: string, command: UpdateCommand | ScanCommand, duplicate: boolean): void;
  updated?(agentId: string, result: { notificationId: string; outcome: 'completed' | 'failed'; components: AppliedComponent[]; error?: string }): void;
}

/** When the fleet first and last heard of an update (ms since the epoch; 0: not yet). */
export interface FleetTimings {
  firstNotifiedAt: number;
  lastNotifiedAt: number;
  lastUpdatedAt: number;
}

export interface FleetCounts {
  agents: number;
  connected: number;
  notified: number;
  acknowledged: number;
  updated: number;
  failed: number;
  scanned: number;
  restarts: number;
  duplicates: number;
  patchBytes: number;
  fullBytes: number;
}

interface Member {
  id: string;
  role: AgentRole;
  labels: Record<string, string>;
  store: MemoryComponentStore;
  agent: HeraldAgent | null;
  /** The shared connection it rides on; null with per-agent identities (it opens its own). */
  connection: AgentConnection | null;
  notified: boolean;
  acknowledged: boolean;
  updated: boolean;
  failed: boolean;
  scanned: boolean;
  restartTimer: NodeJS.Timeout | null;
}

/** Spreads roles over the fleet deterministically: the first shares go to the special roles. */
export function assignRoles(n: number, shares: Partial<Record<Exclude<AgentRole, 'normal'>, number>>): AgentRole[] {
  const roles: AgentRole[] = [];
  for (const role of ['offline', 'independent', 'silent', 'restarting'] as const) {
    const count = Math.round(n * Math.min(Math.max(shares[role] ?? 0, 0), 1));
    for (let i = 0; i < count && roles.length < n; i++) roles.push(role);
  }
  while (roles.length < n) roles.push('normal');
  // Interleave, so every connection carries a mix.
  const out = new Array<AgentRole>(n);
  const stride = 7919; // a prime: coprime to n (so i -> i * stride mod n is a permutation) unless n is a multiple of it
  for (let i = 0; i < n; i++) out[n % stride === 0 ? i : (i * stride) % n] = roles[i]!;
  return out;
}

/** Expands "1.0.0..1.0.9" into the ten versions between, counting the last part; a list is taken as is. */
export function expandVersions(spec: string): string[] {
  const range = /^(.*?)(\d+)\.\.(?:\1)?(\d+)$/.exec(spec);
  if (range) {
    const [, head, from, to] = range;
    const out: string[] = [];
    for (let v = Number(from); v <= Number(to); v++) out.push(`${head}${v}`);
    if (out.length === 0) throw new Error(`empty version range ${spec}`);
    return out;
  }
  return spec.split(',').map((v) => v.trim()).filter(Boolean);
}

/**
 * Many reference agents (libs/agent-sdk) in one process over a few shared connections, with the
 * mix of behaviours a real fleet has. Counts what they receive and do, per agent.
 */
export class Fleet {
  readonly content = new SharedComponentContent();
  private readonly members: Member[] = [];
  private connections: AgentConnection[] = [];
  private restarts = 0;
  private duplicates = 0;
  private patchBytes = 0;
  private fullBytes = 0;
  private stopping = false;
  private readonly times: FleetTimings = { firstNotifiedAt: 0, lastNotifiedAt: 0, lastUpdatedAt: 0 };
  /** The newest version of each type any update command has carried (the pinned one, for a pinned type). */
  readonly targets = new Map<string, string>();
  /** Types the server pinned (a command listed them in `downgrade`): their target is that version exactly. */
  private readonly pinned = new Set<string>();
  warnings = 0;
  lastWarning: string | null = null;

  constructor(private readonly options: FleetOptions) {
    for (const [type, version] of Object.entries(options.targets ?? {})) this.targets.set(type, version);
  }

  /** Connections the agents share: as given, or one per 500 agents; none with per-agent identities (each agent has its own). */
  get connectionCount(): number {
    if (this.options.identity) return 0;
    return Math.max(1, this.options.connections ?? Math.ceil(this.options.agents / 500));
  }

  get size(): number {
    return this.members.length;
  }

  /** The starting versions' content, fetched by start() when `baseContentUrl` is set. */
  seeded: SeededContent[] = [];

  async start(): Promise<void> {
    const o = this.options;
    if (o.baseContentUrl) this.seeded = await this.seedContent(o.baseContentUrl);
    const connectionCount = this.connectionCount;
    for (let i = 0; i < connectionCount; i++) {
      // Given a cluster's nodes, the connections start on different ones, as a real fleet spreads.
      const c = await AgentConnection.open(o.amqpUrl, { name: `herald-simulator ${i + 1}/${connectionCount}`, firstNode: i, tls: o.tls });
      c.on('warning', (err) => this.warn(err));
      this.connections.push(c);
    }
    const roles = assignRoles(o.agents, { offline: o.offline, independent: o.independent, silent: o.silent, restarting: o.restarting });
    const types = Object.entries(o.components);
    for (let i = 0; i < o.agents; i++) {
      const initial: InstalledComponent[] = types.map(([type, versions]) => ({ type, version: versions[i % versions.length]! }));
      this.members.push({
        id: `${o.prefix ?? 'sim'}-${i + 1}`,
        role: roles[i]!,
        labels: Object.fromEntries(Object.entries(o.labels ?? {}).map(([key, values]) => [key, values[i % values.length]!])),
        store: new MemoryComponentStore(initial, this.content),
        agent: null,
        connection: connectionCount > 0 ? this.connections[i % connectionCount]! : null,
        notified: false,
        acknowledged: false,
        updated: false,
        failed: false,
        scanned: false,
        restartTimer: null,
      });
    }
    const queue = [...this.members];
    const worker = async () => {
      for (let m = queue.shift(); m; m = queue.shift()) await this.startMember(m);
    };
    await Promise.all(Array.from({ length: o.startConcurrency ?? 64 }, worker));
    // Offline agents said hello once, so the server knows them, and then left.
    await Promise.all(this.members.filter((m) => m.role === 'offline').map((m) => this.stopMember(m, true)));
    for (const m of this.members) if (m.role === 'restarting') this.scheduleRestart(m);
  }

  private async seedContent(baseUrl: string): Promise<SeededContent[]> {
    const seeded: SeededContent[] = [];
    for (const [type, versions] of Object.entries(this.options.components)) {
      for (const version of new Set(versions)) {
        const url = `${baseUrl.replace(/\/+$/, '')}/components/${encodeURIComponent(type)}/versions/${encodeURIComponent(version)}/download`;
        try {
          const body = await fetchFull(url);
          if (typeof body === 'string') seeded.push({ type, version, bytes: 0, missing: body });
          else {
            this.content.put(type, version, body);
            seeded.push({ type, version, bytes: body.length });
          }
        } catch (err) {
          seeded.push({ type, version, bytes: 0, missing: (err as Error).message });
        }
      }
    }
    return seeded;
  }

  private createAgent(m: Member): HeraldAgent {
    const identity = this.options.identity;
    const agent = new HeraldAgent({
      agentId: m.id,
      ...(m.connection
        ? { connection: m.connection }
        : {
            amqpUrl: this.options.amqpUrl,
            tls: this.options.tls,
            credentials: identity && { enrolmentToken: identity.enrolmentToken, secret: createHmac('sha256', identity.secretSeed).update(m.id).digest('base64url') },
          }),
      store: m.store,
      hostname: `${m.id}.sim`,
      agentVersion: 'herald-simulator',
      independentMode: m.role === 'independent',
      labels: m.labels,
      acknowledge: m.role !== 'silent',
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 30_000,
      retryJitterMs: 2_000,
      upstreamPublicKey: this.options.upstreamPublicKey,
    });
    agent.on('command', (command, duplicate) => {
      this.options.observer?.command?.(m.id, command, duplicate);
      if (duplicate) this.duplicates++;
      if (command.type === 'update') {
        if (!m.notified) {
          const now = Date.now();
          this.times.firstNotifiedAt ||= now;
          this.times.lastNotifiedAt = now;
        }
        m.notified = true;
        if (m.role !== 'silent') m.acknowledged = true;
        for (const c of command.components) {
          const known = this.targets.get(c.type);
          if (command.downgrade?.includes(c.type)) {
            this.targets.set(c.type, c.version);
            this.pinned.add(c.type);
          } else if (!known || this.pinned.has(c.type) || compareVersions(c.version, known) > 0) {
            this.targets.set(c.type, c.version);
            this.pinned.delete(c.type);
          }
        }
      }
    });
    agent.on('updated', (result) => {
      this.options.observer?.updated?.(m.id, result);
      if (result.outcome === 'completed' && !m.updated) this.times.lastUpdatedAt = Date.now();
      if (result.outcome === 'completed') m.updated = true;
      else m.failed = true;
      for (const c of result.components) {
        if (c.mode === 'incremental') this.patchBytes += c.bytes;
        else if (c.mode === 'full') this.fullBytes += c.bytes;
      }
    });
    agent.on('scanned', () => {
      m.scanned = true;
    });
    agent.on('warning', (err) => this.warn(err));
    return agent;
  }

  private async startMember(m: Member): Promise<void> {
    if (this.stopping) return;
    m.agent = this.createAgent(m);
    try {
      await m.agent.start();
    } catch (err) {
      this.warn(err as Error);
    }
  }

  private async stopMember(m: Member, goodbye: boolean): Promise<void> {
    const agent = m.agent;
    m.agent = null;
    await agent?.stop({ goodbye });
  }

  private scheduleRestart(m: Member): void {
    const [lo, hi] = this.options.restartEveryMs ?? [20_000, 60_000];
    m.restartTimer = setTimeout(() => {
      void (async () => {
        if (this.stopping) return;
        // A crash: no goodbye; the queue goes, the server notices by the missing heartbeats.
        await this.stopMember(m, false);
        this.restarts++;
        const [dlo, dhi] = this.options.downMs ?? [1_000, 5_000];
        await new Promise((r) => setTimeout(r, randomInt(dlo, dhi + 1)));
        await this.startMember(m);
        if (!this.stopping) this.scheduleRestart(m);
      })();
    }, randomInt(lo, hi + 1));
  }

  private warn(err: Error): void {
    this.warnings++;
    this.lastWarning = err.message;
  }

  counts(): FleetCounts {
    const c: FleetCounts = {
      agents: this.members.length,
      connected: 0,
      notified: 0,
      acknowledged: 0,
      updated: 0,
      failed: 0,
      scanned: 0,
      restarts: this.restarts,
      duplicates: this.duplicates,
      patchBytes: this.patchBytes,
      fullBytes: this.fullBytes,
    };
    for (const m of this.members) {
      if (m.agent?.connected) c.connected++;
      if (m.notified) c.notified++;
      if (m.acknowledged) c.acknowledged++;
      if (m.updated) c.updated++;
      if (m.failed) c.failed++;
      if (m.scanned) c.scanned++;
    }
    return c;
  }

  timings(): FleetTimings {
    return { ...this.times };
  }

  ids(): string[] {
    return this.members.map((m) => m.id);
  }

  /** What each reachable agent has installed now. */
  async installed(): Promise<Map<string, InstalledComponent[]>> {
    const out = new Map<string, InstalledComponent[]>();
    for (const m of this.members) if (isReachable(m)) out.set(m.id, await m.store.installed());
    return out;
  }

  connectedIds(): string[] {
    return this.members.filter((m) => m.agent?.connected).map((m) => m.id);
  }

  /** Agents the server can update: online (or back after a restart), acknowledging, not Independent. */
  reachable(): number {
    return this.members.filter(isReachable).length;
  }

  /** How many reachable agents have every component at the newest version seen in a command. */
  async upToDate(): Promise<number> {
    if (this.targets.size === 0) return 0;
    let n = 0;
    for (const m of this.members) if (isReachable(m) && this.reaches(await m.store.installed())) n++;
    return n;
  }

  /** Reachable agents not yet on the newest versions seen, with what they have. */
  async behind(limit = 10): Promise<Array<{ id: string; role: AgentRole; connected: boolean; installed: InstalledComponent[] }>> {
    const out: Array<{ id: string; role: AgentRole; connected: boolean; installed: InstalledComponent[] }> = [];
    for (const m of this.members) {
      if (out.length >= limit) break;
      if (!isReachable(m)) continue;
      const installed = await m.store.installed();
      if (!this.reaches(installed)) out.push({ id: m.id, role: m.role, connected: m.agent?.connected ?? false, installed });
    }
    return out;
  }

  /** Whether `installed` has every target version (or newer; exactly it for a pinned type). */
  private reaches(installed: InstalledComponent[]): boolean {
    const current = new Map(installed.map((c) => [c.type, c.version]));
    return [...this.targets].every(([type, version]) => {
      const have = compareVersions(current.get(type) ?? '0', version);
      return this.pinned.has(type) ? have === 0 : have >= 0;
    });
  }

  roles(): Record<AgentRole, number> {
    const out: Record<AgentRole, number> = { normal: 0, offline: 0, independent: 0, silent: 0, restarting: 0 };
    for (const m of this.members) out[m.role]++;
    return out;
  }

  /** Clean shutdown: every agent that is up says goodbye. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const m of this.members) if (m.restartTimer) clearTimeout(m.restartTimer);
    const queue = [...this.members];
    const worker = async () => {
      for (let m = queue.shift(); m; m = queue.shift()) await this.stopMember(m, true).catch(() => undefined);
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    for (const c of this.connections) await c.close();
    this.connections = [];
  }
}

const isReachable = (m: Member): boolean => m.role === 'normal' || m.role === 'restarting';

/**
 * A full file from a download URL, checked against its Repr-Digest; or why not. Honours R6's
 * 503 + Retry-After a few times, as an agent does.
 */
async function fetchFull(url: string): Promise<Buffer | string> {
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    if (res.status === 503 && attempt < 5) {
      await res.body?.cancel();
      await new Promise((r) => setTimeout(r, Math.min(30, Number(res.headers.get('retry-after') ?? '1') || 1) * 1000));
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel();
      return `HTTP ${res.status}`;
    }
    const body = Buffer.from(await res.arrayBuffer());
    const announced = /sha-256=:([^:]+):/.exec(res.headers.get('repr-digest') ?? '')?.[1];
    if (announced && createHash('sha256').update(body).digest('base64') !== announced) return 'the file does not match its Repr-Digest';
    return body;
  }
}
