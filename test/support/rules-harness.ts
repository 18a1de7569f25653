import { randomBytes } from 'node:crypto';
import type { AgentCredentials, HeraldAgentOptions } from '@herald/agent-sdk';
import { HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';
import type { InstalledComponent, ScanCommand, UpdateCommand } from '@herald/contracts';
import { HeraldSystem, type HeraldSystemOptions, type TestVhost, UpstreamFixture, waitFor } from '@herald/testing';

export interface TimelineEntry {
  position: number;
  at: string;
  type: string;
  notificationId?: string;
  attempt?: number;
  reason?: string;
  [key: string]: unknown;
}

export interface Timeline {
  agentId: string;
  agent: { online: boolean; independentMode: boolean; independentPrivilege: boolean; components: InstalledComponent[] } | null;
  entries: TimelineEntry[];
}

export interface RolloutView {
  rolloutId: string;
  component: { type: string; version: string };
  counts: Record<string, number> & { skipped: Record<string, number>; onReconnect: Record<string, number> };
  complete: boolean;
}

/** A reference agent with everything it received and did on record, for assertions. */
export class SimAgent {
  readonly updates: UpdateCommand[] = [];
  readonly duplicates: Array<UpdateCommand | ScanCommand> = [];
  readonly scans: ScanCommand[] = [];
  /** Whether the agent is between receiving an update command and reporting it. */
  updating = false;
  agent: HeraldAgent;

  constructor(
    readonly id: string,
    readonly store: CountingStore,
    /** Every install the agent's store performed: a version must never be applied twice. */
    readonly installs: string[],
    private readonly options: Omit<HeraldAgentOptions, 'store' | 'agentId'>,
    private readonly onUpdating?: (agent: SimAgent, busy: boolean) => void,
  ) {
    this.agent = this.create();
  }

  private create(): HeraldAgent {
    const agent = new HeraldAgent({ ...this.options, agentId: this.id, store: this.store });
    agent.on('command', (command, duplicate) => {
      if (duplicate) this.duplicates.push(command);
      else if (command.type === 'update') {
        this.updates.push(command);
        if (this.options.acknowledge !== false) {
          this.updating = true;
          this.onUpdating?.(this, true);
        }
      } else this.scans.push(command);
    });
    agent.on('warning', (err) => console.warn(`agent ${this.id}: ${err.message}`));
    agent.on('updated', () => {
      this.updating = false;
      this.onUpdating?.(this, false);
    });
    return agent;
  }

  start(): Promise<void> {
    return this.agent.start();
  }

  /** Clean shutdown: goodbye, so the server marks it offline at once. */
  stop(): Promise<void> {
    return this.agent.stop();
  }

  /** The agent process starts again (new boot id), keeping its installed components. */
  async restart(): Promise<void> {
    await this.agent.stop({ goodbye: false });
    this.agent = this.create();
    await this.agent.start();
  }

  async version(type: string): Promise<string | undefined> {
    return (await this.store.installed()).find((c) => c.type === type)?.version;
  }
}

/** An in-memory component store that records each install (and can be slowed down, or fail). */
export class CountingStore extends MemoryComponentStore {
  constructor(
    initial: InstalledComponent[],
    private readonly record: string[],
    private readonly installDelayMs = 0,
    /** The first this many installs fail, as a full disk would. */
    private failInstalls = 0,
  ) {
    super(initial);
  }

  override async install(...args: Parameters<MemoryComponentStore['install']>): Promise<number> {
    if (this.installDelayMs > 0) await new Promise((r) => setTimeout(r, this.installDelayMs));
    if (this.failInstalls > 0) {
      this.failInstalls--;
      throw new Error(`ENOSPC: no space left on device, installing ${args[0]} ${args[1]}`);
    }
    const bytes = await super.install(...args);
    this.record.push(`${args[0]}@${args[1]}`);
    return bytes;
  }
}

/**
 * The three services, an upstream and helpers to drive the event-triggered update rules from
 * the outside: publish versions, change settings, run agents, read timelines and rollouts.
 */
export class RulesHarness {
  readonly upstream = new UpstreamFixture();
  system!: HeraldSystem;
  private readonly agents: SimAgent[] = [];
  /** Most agents seen updating at the same time (R6). */
  maxConcurrentUpdates = 0;
  private concurrentUpdates = 0;

  async start(env: Record<string, string> = {}, options: { broker?: TestVhost; ports?: HeraldSystemOptions['ports'] } = {}): Promise<void> {
    await this.upstream.start();
    this.system = await HeraldSystem.start({
      label: 'rules',
      broker: options.broker,
      ports: options.ports,
      env: {
        UPSTREAM_MANIFEST_URL: this.upstream.manifestUrl,
        UPSTREAM_PUBLIC_KEY: this.upstream.publicKey,
        HEARTBEAT_TIMEOUT_MS: '3000',
        OFFLINE_SWEEP_INTERVAL_MS: '250',
        DISPATCH_WAVE_DELAY_MS: '300',
        ...env,
      },
    });
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.agents.map((a) => a.agent.stop({ goodbye: false })));
    await this.system?.stop();
    await this.upstream.stop();
  }

  async settings(patch: Record<string, unknown>): Promise<Record<string, unknown>> {
    const res = await this.system.http<Record<string, unknown>>('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', patch);
    if (res.status !== 200) throw new Error(`settings change refused: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }

  /** Starts an agent and waits until both presence and dispatch know it is online. */
  async agent(
    id: string,
    components: InstalledComponent[],
    options: {
      independent?: boolean;
      acknowledge?: boolean;
      installDelayMs?: number;
      failInstalls?: number;
      start?: boolean;
      amqpUrl?: string | readonly string[];
      credentials?: AgentCredentials;
      labels?: Record<string, string>;
      refuseDowngrades?: boolean;
    } = {},
  ): Promise<SimAgent> {
    const installs: string[] = [];
    const sim = new SimAgent(
      id,
      new CountingStore(components, installs, options.installDelayMs, options.failInstalls),
      installs,
      {
        amqpUrl: options.amqpUrl ?? this.system.amqpUrl,
        credentials: options.credentials,
        independentMode: options.independent ?? false,
        labels: options.labels,
        refuseDowngrades: options.refuseDowngrades,
        acknowledge: options.acknowledge,
        heartbeatIntervalMs: 500,
        retryJitterMs: 200,
      },
      (_agent, busy) => {
        this.concurrentUpdates += busy ? 1 : -1;
        this.maxConcurrentUpdates = Math.max(this.maxConcurrentUpdates, this.concurrentUpdates);
      },
    );
    this.agents.push(sim);
    if (options.start !== false) {
      await sim.start();
      await this.waitOnline(id, true);
    }
    return sim;
  }

  /** Waits until dispatch (and so presence before it) sees the agent online or offline. */
  async waitOnline(id: string, online: boolean): Promise<void> {
    await waitFor(async () => (await this.timeline(id))?.agent?.online === online, { what: `dispatch to see ${id} ${online ? 'online' : 'offline'}`, timeoutMs: 15_000 });
  }

  /** An agent that was connected once and then shut down cleanly: known and offline. */
  async offlineAgent(id: string, components: InstalledComponent[], options: { independent?: boolean } = {}): Promise<SimAgent> {
    const sim = await this.agent(id, components, options);
    await sim.stop();
    await this.waitOnline(id, false);
    return sim;
  }

  async grantIndependentPrivilege(id: string, granted: boolean): Promise<void> {
    const res = await this.system.http('agent-presence', 'PUT', `/agents/${id}/privileges`, { independentMode: granted });
    if (res.status !== 200) throw new Error(`privilege change refused: ${res.status}`);
    await waitFor(async () => (await this.timeline(id))?.agent?.independentPrivilege === granted, { what: 'dispatch to see the privilege' });
  }

  /** Publishes a new version upstream, has component-download fetch it, and returns its rollout. */
  async publish(type: string, version: string, content: Buffer = randomBytes(4096)): Promise<RolloutView> {
    this.upstream.publish({ type, version, content });
    const check = await this.system.http<{ downloaded: unknown[] }>('component-download', 'POST', '/components/check');
    if (check.status !== 200 || check.body.downloaded.length === 0) throw new Error(`check did not download ${type} ${version}: ${JSON.stringify(check.body)}`);
    return waitFor(
      async () => {
        const res = await this.system.http<{ rollouts: RolloutView[] }>('notification-dispatch', 'GET', '/rollouts?limit=100');
        return res.body.rollouts.find((r) => r.component.type === type && r.component.version === version);
      },
      // Under load the announcement can take a few seconds to pass through the outbox and queue.
      { what: `the rollout of ${type} ${version}`, timeoutMs: 30_000 },
    );
  }

  async rollout(id: string): Promise<RolloutView> {
    return (await this.system.http<RolloutView>('notification-dispatch', 'GET', `/rollouts/${id}`)).body;
  }

  async timeline(id: string): Promise<Timeline | undefined> {
    const res = await this.system.http<Timeline>('notification-dispatch', 'GET', `/agents/${id}/timeline`);
    return res.status === 200 ? res.body : undefined;
  }

  async entries(id: string): Promise<TimelineEntry[]> {
    return (await this.timeline(id))?.entries ?? [];
  }

  /** Waits until the agent's timeline has an entry matching `predicate`, and returns the timeline. */
  async waitForEntry(id: string, predicate: (e: TimelineEntry) => boolean, what: string, timeoutMs = 20_000): Promise<TimelineEntry[]> {
    return waitFor(
      async () => {
        const entries = await this.entries(id);
        return entries.some(predicate) ? entries : undefined;
      },
      { what: `${id}: ${what}`, timeoutMs, intervalMs: 100 },
    );
  }
}

export const types = (entries: readonly TimelineEntry[]): string[] => entries.map((e) => e.type);
