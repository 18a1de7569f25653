import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { Fleet } from '../apps/agent-simulator/src/fleet';
import {
  HeraldSystem,
  REPO_ROOT,
  SERVICES,
  TEST_ADMIN_TOKEN,
  Tmpfs,
  UpstreamFixture,
  sleep,
  startPrivatePostgres,
  startRabbitCluster,
  waitFor,
  type ServiceName,
} from '@herald/testing';

export const usage = `Chaos: a rollout to a simulated fleet, and one fault at a time during it (issue 13).

  npm run chaos -- [--agents 500] [--offline 0.12] [--faults a,b,c] [--quick]
                   [--recover-timeout 300] [--hold 30] [--size 1000000]
                   [--broker-urls all|first] [--env KEY=VALUE ...]

Starts its OWN 3-node RabbitMQ cluster and its OWN PostgreSQL cluster (never the shared ones),
a tmpfs of its own as the component store, the three services from dist/ with short timings, an
upstream, and a simulated fleet (--offline of it said hello once and left). For each fault: a new
version is released, and once the rollout is under way the fault is injected. Then it waits up
to --recover-timeout seconds for every reachable agent to be on the new version, every rollout
complete, no R6 slot held and every service ready, and compares Herald's records (rollouts,
timelines) with what the simulated agents received and did.

Faults: %FAULTS%

--quick            60 agents, recover timeout 150 s (unless given)
--broker-urls      what RABBITMQ_URL the services and agents get: all three nodes comma-separated,
                   or only the first (for a build whose RABBITMQ_URL takes one URL)
--env              extra setting for every service (repeatable), e.g. a retry policy

Prints a table and, last, "chaos: faults=F lost=L doubled=D stuck=S manual-restarts=M".
Exit code 1 when any of those is not 0. Everything it started is removed at the end and on Ctrl-C.`;

export const FAULTS = {
  'kill-download': 'kill -9 component-download during the rollout, then the harness restarts it',
  'kill-dispatch': 'kill -9 notification-dispatch during the rollout, then the harness restarts it',
  'kill-presence': 'kill -9 agent-presence during the rollout, then the harness restarts it',
  'stop-broker-node': 'stop the RabbitMQ node the services are connected to; it stays down until the checks are done',
  'stop-postgres': 'stop PostgreSQL (fast shutdown) for --hold seconds',
  'readonly-store': 'remount the component store read-only for --hold seconds, with an upstream check (a newer version) while it is',
  'two-dispatch-kill-one': 'run a second notification-dispatch, kill -9 the first during the rollout; it is restarted after the checks',
} as const;
export type FaultName = keyof typeof FAULTS;
export const ALL_FAULTS = Object.keys(FAULTS) as FaultName[];

const COMPONENT = 'virus-pattern';

export interface ChaosOptions {
  agents: number;
  /** Share of the fleet that said hello once and left (not reachable). */
  offline: number;
  faults: FaultName[];
  /** From the fault, how long the system has to heal (ms). */
  recoverTimeoutMs: number;
  /** How long the timed faults (PostgreSQL down, store read-only) last (ms). */
  holdMs: number;
  /** Size of each component version (bytes). */
  fileBytes: number;
  /** All cluster nodes in RABBITMQ_URL (comma-separated), or only the first. */
  brokerUrls: 'all' | 'first';
  /** Extra settings for every service. */
  env: Record<string, string>;
  log: (line: string) => void;
}

export interface FaultResult {
  fault: FaultName;
  versions: string[];
  /** From the fault to healed (ms); null: not healed within the recover timeout. */
  recoveredMs: number | null;
  lost: number;
  doubled: number;
  stuck: number;
  manualRestarts: number;
  notes: string[];
}

export interface ChaosTotals {
  faults: number;
  lost: number;
  doubled: number;
  stuck: number;
  manualRestarts: number;
}

// ---- cleanup, also on Ctrl-C --------------------------------------------------------------------

/** Undo steps of everything a run started, newest first; run once. */
class Teardown {
  private readonly steps: Array<{ what: string; undo: () => Promise<unknown> }> = [];
  private running: Promise<void> | null = null;

  add(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  run(log: (line: string) => void): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.undo();
        } catch (err) {
          log(`chaos: cleanup of ${step.what} failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

const activeTeardowns = new Set<{ teardown: Teardown; log: (line: string) => void }>();

/** Removes what every run in this process started (for a SIGINT handler). */
export async function teardownAll(): Promise<void> {
  await Promise.all([...activeTeardowns].map(({ teardown, log }) => teardown.run(log)));
}

// ---- what the simulated agents received and did -------------------------------------------------

interface AgentRecord {
  /** Update commands: commandId, notificationId, the versions of COMPONENT they carried, in which fault. */
  commands: Array<{ commandId: string; notificationId: string; version: string | undefined; duplicate: boolean; fault: number }>;
  results: Array<{ notificationId: string; outcome: 'completed' | 'failed'; applied: string[]; fault: number }>;
}

class SimulatorRecord {
  readonly agents = new Map<string, AgentRecord>();
  fault = 0;

  private of(agentId: string): AgentRecord {
    let r = this.agents.get(agentId);
    if (!r) this.agents.set(agentId, (r = { commands: [], results: [] }));
    return r;
  }

  readonly observer = {
    command: (agentId: string, command: { type: string; commandId: string; notificationId?: string; components?: Array<{ type: string; version: string }> }, duplicate: boolean) => {
      if (command.type !== 'update') return;
      this.of(agentId).commands.push({
        commandId: command.commandId,
        notificationId: command.notificationId!,
        version: command.components?.find((c) => c.type === COMPONENT)?.version,
        duplicate,
        fault: this.fault,
      });
    },
    updated: (agentId: string, result: { notificationId: string; outcome: 'completed' | 'failed'; components: Array<{ type: string; toVersion: string; mode: string }> }) => {
      this.of(agentId).results.push({
        notificationId: result.notificationId,
        outcome: result.outcome,
        applied: result.components.filter((c) => c.type === COMPONENT && c.mode !== 'none').map((c) => c.toVersion),
        fault: this.fault,
      });
    },
  };

  /** Agents that received a command for one of `versions` in the current fault. */
  notifiedFor(versions: Set<string>): number {
    let n = 0;
    for (const r of this.agents.values()) if (r.commands.some((c) => c.fault === this.fault && c.version !== undefined && versions.has(c.version))) n++;
    return n;
  }
}

// ---- Herald's side ------------------------------------------------------------------------------

interface RolloutView {
  rolloutId: string;
  component: { type: string; version: string };
  counts: { targeted: number; upToDate: number; notified: number; acknowledged: number; updated: number; failed: number; gaveUp: number; inProgress: number };
  complete: boolean;
}
interface RolloutAgent {
  agentId: string;
  targeted: boolean;
  skippedReason: string | null;
  updated: boolean;
  failed: boolean;
  gaveUp: boolean;
}
interface TimelineEntry {
  position: number;
  type: string;
  notificationId?: string;
  reason?: string;
  targetReached?: boolean;
  components?: Array<{ type: string; version: string }>;
}

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  }));
}

// ---- the run ------------------------------------------------------------------------------------

/** `storeDir`: where this run's component store was mounted (gone once it returns). */
export async function runChaos(options: ChaosOptions): Promise<{ results: FaultResult[]; totals: ChaosTotals; storeDir: string }> {
  const { log } = options;
  const teardown = new Teardown();
  const entry = { teardown, log };
  activeTeardowns.add(entry);
  const results: FaultResult[] = [];
  try {
    log(`chaos: starting a private 3-node RabbitMQ cluster, a private PostgreSQL and a tmpfs store`);
    // Registered before they are up: a Ctrl-C while one is starting waits for it, then removes it.
    const starting = {
      rabbit: startRabbitCluster({ nodes: 3, name: 'herald-chaos' }),
      pg: startPrivatePostgres({ name: 'herald-chaos' }),
      store: Tmpfs.mount('2g', 'chaos-store'),
    };
    teardown.add('the RabbitMQ cluster', async () => (await starting.rabbit.catch(() => null))?.remove());
    teardown.add('the PostgreSQL cluster', async () => (await starting.pg.catch(() => null))?.remove());
    teardown.add('the store mount', async () => (await starting.store.catch(() => null))?.unmount());
    const [rabbit, pg, store] = await Promise.all([starting.rabbit, starting.pg, starting.store]);
    log(`chaos: RabbitMQ nodes ${rabbit.nodeNames.map((n, i) => `${n} (:${rabbit.ports[i]})`).join(', ')}; PostgreSQL ${pg.cluster} (:${pg.port}); store ${store.dir}`);
    const databaseUrl = await pg.createDatabase('herald');
    // The services' RABBITMQ_URL. 'first' is for a build whose RABBITMQ_URL takes one URL: then
    // the "stop the node the services are connected to" fault can only heal when the node returns.
    const serviceBrokerUrl = options.brokerUrls === 'all' ? rabbit.urls.join(',') : rabbit.urls[0]!;
    // The agents: the whole list too; with 'first', the second node, so stopping the services'
    // node tests the services and not the agents.
    const agentBrokerUrl = options.brokerUrls === 'all' ? rabbit.urls.join(',') : rabbit.urls[1]!;
    log(`chaos: services' RABBITMQ_URL: ${options.brokerUrls === 'all' ? 'all three nodes' : 'the first node only'}`);

    const upstream = await new UpstreamFixture().start();
    teardown.add('the upstream', () => upstream.stop());
    let minor = 0;
    const release = (): string => {
      const version = `1.0.${minor++}`;
      upstream.publish({ type: COMPONENT, version, content: Buffer.concat([Buffer.from(`${COMPONENT} ${version}\n`), randomBytes(options.fileBytes)]) });
      return version;
    };

    const startingSystem = HeraldSystem.start({
      label: 'chaos',
      env: {
        UPSTREAM_MANIFEST_URL: upstream.manifestUrl,
        UPSTREAM_PUBLIC_KEY: upstream.publicKey,
        // Scheduled checks: a version a failed check missed comes on the next one by itself.
        UPSTREAM_CHECK_INTERVAL_MS: '10000',
        LOG_LEVEL: 'info',
        STARTUP_TIMEOUT_MS: '60000',
        HEARTBEAT_TIMEOUT_MS: '45000',
        OFFLINE_SWEEP_INTERVAL_MS: '2000',
        OUTBOX_POLL_INTERVAL_MS: '200',
        PATCH_WAIT_MS: '0',
        DOWNLOAD_SLOTS: '10',
        DOWNLOAD_RETRY_AFTER_SECONDS: '1',
        DISPATCH_WAVE_DELAY_MS: '500',
        DISPATCH_DEADLINE_SWEEP_MS: '500',
        ...options.env,
      },
      infrastructure: {
        db: { name: `chaos-${process.pid}`, url: databaseUrl, drop: async () => undefined },
        vhost: { name: '/', url: serviceBrokerUrl, closeAllConnections: async () => undefined, delete: async () => undefined },
        storeDir: store.dir,
      },
    });
    teardown.add('the services', async () => (await startingSystem.catch(() => null))?.stop());
    const system = await startingSystem;
    log(`chaos: services up (logs: ${path.join(REPO_ROOT, 'test', 'artifacts', 'logs', `chaos-${process.pid}-*.log`)})`);

    // Instances of notification-dispatch to ask (the first one that answers).
    const dispatchUrls = (): string[] => [system.url('notification-dispatch'), ...system.replicaUrls('notification-dispatch')];
    const api = async <T>(service: ServiceName, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: T }> => {
      const bases = service === 'notification-dispatch' ? dispatchUrls() : [system.url(service)];
      let last: Error | null = null;
      for (const base of bases) {
        try {
          const res = await fetch(`${base}${urlPath}`, {
            method,
            headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            body: body === undefined ? undefined : JSON.stringify(body),
            signal: AbortSignal.timeout(30_000),
          });
          const text = await res.text();
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            // metrics: text
          }
          return { status: res.status, body: parsed as T };
        } catch (err) {
          last = err as Error;
        }
      }
      throw last ?? new Error('no instance answered');
    };

    const settings = await api('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', {
      resendIntervalSeconds: 5,
      ackTimeoutSeconds: 5,
      reportTimeoutSeconds: 30,
      maxAttempts: 5,
      maxInFlight: 50,
      scanAfterUpdate: false,
      updateOnReconnect: true,
      // Failed updates (a download cut by a killed component-download) retried after 10, 20, 40 s.
      updateRetries: 3,
      updateRetryDelaySeconds: 10,
      updateRetryBackoff: 2,
      updateRetryJitter: 0.2,
    });
    if (settings.status !== 200) throw new Error(`could not change the settings: ${settings.status} ${JSON.stringify(settings.body)}`);

    const firstVersion = release();
    const check = await api<{ downloaded: unknown[] }>('component-download', 'POST', '/components/check');
    if (check.status !== 200 || check.body.downloaded.length !== 1) throw new Error(`the first upstream check failed: ${JSON.stringify(check.body)}`);

    const record = new SimulatorRecord();
    const fleet = new Fleet({
      amqpUrl: agentBrokerUrl,
      agents: options.agents,
      connections: Math.max(3, Math.ceil(options.agents / 500)),
      prefix: 'chaos',
      offline: options.offline,
      components: { [COMPONENT]: [firstVersion] },
      heartbeatIntervalMs: 10_000,
      startConcurrency: 32,
      observer: record.observer,
    });
    teardown.add('the simulated fleet', () => fleet.stop());
    await fleet.start();
    const reachable = fleet.reachable();
    log(`chaos: fleet of ${options.agents} agents, ${reachable} reachable and ${options.agents - reachable} offline`);
    const sql = async <T>(query: string): Promise<T[]> => {
      const c = new Client({ connectionString: databaseUrl });
      await c.connect();
      try {
        return (await c.query(query)).rows as T[];
      } finally {
        await c.end();
      }
    };
    await waitFor(
      async () => {
        const [row] = await sql<{ known: string; online: string }>('SELECT count(*) AS known, count(*) FILTER (WHERE online) AS online FROM notification_dispatch.directory_agents');
        return Number(row!.known) === options.agents && Number(row!.online) === reachable;
      },
      { timeoutMs: 180_000, intervalMs: 500, what: 'every agent known to notification-dispatch' },
    );

    // ---- the checks ----
    const ready = async (base: string): Promise<boolean> => {
      try {
        return (await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(5_000) })).ok;
      } catch {
        return false;
      }
    };
    const inFlight = async (): Promise<number | null> => {
      try {
        const res = await api<string>('notification-dispatch', 'GET', '/metrics');
        const m = /^herald_agents_in_flight(?:\{[^}]*\})? (\d+)/m.exec(String(res.body));
        return m ? Number(m[1]) : null;
      } catch {
        return null;
      }
    };
    const rolloutsFor = async (versions: string[]): Promise<Map<string, RolloutView>> => {
      const res = await api<{ rollouts: RolloutView[] }>('notification-dispatch', 'GET', '/rollouts?limit=50');
      const out = new Map<string, RolloutView>();
      for (const r of res.body.rollouts ?? []) if (r.component.type === COMPONENT && versions.includes(r.component.version)) out.set(r.component.version, r);
      return out;
    };
    const onTarget = async (target: string): Promise<string[]> => {
      const behind: string[] = [];
      for (const [id, installed] of await fleet.installed()) if (installed.find((c) => c.type === COMPONENT)?.version !== target) behind.push(id);
      return behind;
    };

    // Services the harness has stopped on purpose (not to be restarted by the watcher).
    const heldDown = new Set<ServiceName>();
    let manualRestarts = 0;
    const notes: string[] = [];
    /** A service that exited by itself: a person would have had to restart it. Restart it and count. */
    const watch = async (): Promise<void> => {
      const pids = system.pids();
      for (const name of SERVICES) {
        if (heldDown.has(name) || pids[name] !== undefined) continue;
        manualRestarts++;
        notes.push(`${name} exited by itself; restarted`);
        log(`chaos:   ${name} exited by itself: a manual restart`);
        try {
          await system.startService(name);
        } catch (err) {
          log(`chaos:   restarting ${name} failed: ${(err as Error).message}`);
        }
      }
    };

    const timelines = new Map<string, TimelineEntry[]>();
    const heldSlotsAtStart = await inFlight();
    if (heldSlotsAtStart !== 0) log(`chaos: ${heldSlotsAtStart} R6 slots held before the first fault`);

    for (const [index, fault] of options.faults.entries()) {
      record.fault = index + 1;
      manualRestarts = 0;
      notes.length = 0;
      log(`chaos: fault ${index + 1}/${options.faults.length}: ${fault}: ${FAULTS[fault]}`);

      const versions: string[] = [];
      let undo: () => Promise<void> = async () => undefined;
      try {
        // Before the release: a second dispatch for the fault that needs one.
        let replicaPort: number | null = null;
        if (fault === 'two-dispatch-kill-one') {
          replicaPort = (await system.startReplica('notification-dispatch')).port;
        }

        versions.push(release());
        const released = await api<{ downloaded: unknown[] }>('component-download', 'POST', '/components/check');
        if (released.status !== 200 || released.body.downloaded.length !== 1) notes.push(`the release check answered ${released.status}: ${JSON.stringify(released.body).slice(0, 200)}`);

        // Inject once the rollout is under way: a few agents have their command.
        const threshold = Math.max(1, Math.ceil(reachable * 0.05));
        await waitFor(() => record.notifiedFor(new Set(versions)) >= threshold, { timeoutMs: 120_000, intervalMs: 50, what: `${threshold} agents notified of ${versions[0]}` }).catch(() => {
          notes.push(`the rollout had not reached ${threshold} agents before the fault`);
        });
        const behindAtFault = (await onTarget(versions[0]!)).length;
        if (behindAtFault === 0) notes.push('the rollout had finished before the fault');
        const faultAt = Date.now();
        log(`chaos:   injecting at ${record.notifiedFor(new Set(versions))} notified, ${reachable - behindAtFault} updated`);

        switch (fault) {
          case 'kill-download':
          case 'kill-dispatch':
          case 'kill-presence': {
            const name = ({ 'kill-download': 'component-download', 'kill-dispatch': 'notification-dispatch', 'kill-presence': 'agent-presence' } as const)[fault];
            heldDown.add(name);
            await system.stopService(name, 'SIGKILL');
            // If it cannot come back, the watcher below restarts it again and counts a manual restart.
            await system.startService(name).catch((err: Error) => notes.push(`the harness restart of ${name} failed: ${err.message}`));
            heldDown.delete(name);
            break;
          }
          case 'stop-broker-node': {
            const node = (await rabbit.nodeOfConnection((c) => (SERVICES as readonly string[]).includes(c.name))) ?? 0;
            log(`chaos:   stopping ${rabbit.nodeNames[node]}`);
            await rabbit.stopNode(node);
            undo = async () => {
              log(`chaos:   starting ${rabbit.nodeNames[node]} again`);
              await rabbit.startNode(node);
            };
            break;
          }
          case 'stop-postgres': {
            await pg.stop();
            await sleep(options.holdMs);
            await pg.start();
            break;
          }
          case 'readonly-store': {
            await store.readOnly();
            // A newer version arrives while the store cannot take it: the check must fail cleanly;
            // after the store is writable again, a scheduled check brings it.
            versions.push(release());
            const during = await api<unknown>('component-download', 'POST', '/components/check').catch((err: Error) => ({ status: 0, body: err.message }));
            notes.push(`check on a read-only store: ${during.status}`);
            await sleep(options.holdMs);
            await store.writable();
            break;
          }
          case 'two-dispatch-kill-one': {
            heldDown.add('notification-dispatch');
            await system.stopService('notification-dispatch', 'SIGKILL');
            undo = async () => {
              await system.startService('notification-dispatch');
              heldDown.delete('notification-dispatch');
              await system.stopReplica(replicaPort!, 'SIGTERM');
            };
            break;
          }
        }

        // ---- wait for the system to heal ----
        const target = versions.at(-1)!;
        const deadline = faultAt + options.recoverTimeoutMs;
        let recoveredMs: number | null = null;
        for (;;) {
          await watch();
          const behind = await onTarget(target);
          if (behind.length === 0) {
            const rollouts = await rolloutsFor(versions).catch(() => new Map<string, RolloutView>());
            const complete = versions.every((v) => rollouts.get(v)?.complete === true);
            const slots = complete ? await inFlight() : null;
            const bases = [...SERVICES.filter((s) => !heldDown.has(s)).map((s) => system.url(s)), ...system.replicaUrls('notification-dispatch')];
            if (complete && slots === 0 && (await Promise.all(bases.map(ready))).every(Boolean)) {
              recoveredMs = Date.now() - faultAt;
              break;
            }
          }
          if (Date.now() > deadline) break;
          await sleep(1_000);
        }
        log(`chaos:   ${recoveredMs === null ? `not healed within ${options.recoverTimeoutMs / 1000} s` : `healed in ${(recoveredMs / 1000).toFixed(1)} s`}`);

        // ---- compare Herald's records with the agents' ----
        const counted = await countFault({ versions, target, reachableIds: [...(await fleet.installed()).keys()] });
        // A service still not ready at the deadline (say, cut off from the broker while two of
        // three nodes are up) is stuck too, even when the agents happen to be done.
        const instances = [...SERVICES.filter((x) => !heldDown.has(x)).map((x) => [x, system.url(x)] as const), ...system.replicaUrls('notification-dispatch').map((u) => ['notification-dispatch replica', u] as const)];
        for (const [name, base] of instances) {
          if (await ready(base)) continue;
          counted.stuck++;
          counted.notes.push(`${name} not ready at the deadline`);
        }
        // Never "not healed" with every count 0 (a rollout never started, slots unknown…).
        if (recoveredMs === null && counted.lost + counted.doubled + counted.stuck === 0) {
          counted.stuck++;
          counted.notes.push('not healed, for none of the reasons counted above');
        }
        await undo();
        undo = async () => undefined;
        await settle();
        results.push({ fault, versions, recoveredMs, ...counted, manualRestarts, notes: [...notes, ...counted.notes] });
      } catch (err) {
        // The fault could not be run to its end (an API that did not answer…): what is behind is stuck.
        notes.push(`the fault run failed: ${(err as Error).message}`);
        await undo().catch((e: Error) => notes.push(`undoing it failed: ${e.message}`));
        await settle();
        const behind = versions.length > 0 ? (await onTarget(versions.at(-1)!)).length : 0;
        results.push({ fault, versions, recoveredMs: null, lost: 0, doubled: 0, stuck: behind, manualRestarts, notes: [...notes] });
      }
      const r = results.at(-1)!;
      log(`chaos:   lost=${r.lost} doubled=${r.doubled} stuck=${r.stuck} manual-restarts=${r.manualRestarts}${r.notes.length ? `  (${r.notes.join('; ')})` : ''}`);
    }

    /**
     * After the fault is undone: each service gets a grace period to be ready by itself; one that
     * exited, or is still not ready, would need a person (counted, and restarted here).
     */
    async function settle(): Promise<void> {
      const graceEnd = Date.now() + 90_000;
      for (;;) {
        await watch();
        const states = await Promise.all(SERVICES.filter((s) => !heldDown.has(s)).map(async (s) => [s, await ready(system.url(s))] as const));
        const notReady = states.filter(([, ok]) => !ok).map(([s]) => s);
        if (notReady.length === 0) return;
        if (Date.now() > graceEnd) {
          for (const name of notReady) {
            manualRestarts++;
            notes.push(`${name} not ready 90 s after the fault was undone; restarted`);
            log(`chaos:   ${name} not ready 90 s after the fault was undone: a manual restart`);
            await system.stopService(name, 'SIGKILL');
            await system.startService(name).catch((err: Error) => log(`chaos:   restarting ${name} failed: ${err.message}`));
          }
          return;
        }
        await sleep(1_000);
      }
    }

    async function countFault({ versions, target, reachableIds }: { versions: string[]; target: string; reachableIds: string[] }) {
      const notesOut: string[] = [];
      const released = new Set(versions);
      const lost = new Set<string>();
      const doubled = new Map<string, number>();
      const stuck = new Set<string>();
      const addDoubled = (key: string, n: number) => doubled.set(key, (doubled.get(key) ?? 0) + n);
      const evidence: unknown[] = [];

      // Herald's timelines, whole each time: positions are not stable (see the report of this
      // run: the timeline is ordered by transaction id as text), so ?after= could skip entries.
      await pool(reachableIds, 8, async (id) => {
        const res = await api<{ entries: TimelineEntry[] }>('notification-dispatch', 'GET', `/agents/${encodeURIComponent(id)}/timeline`).catch(() => null);
        if (res?.status === 200) timelines.set(id, res.body.entries);
        else notesOut.push(`no timeline for ${id} (${res?.status ?? 'no answer'})`);
      });
      const behind = new Set(await onTarget(target));

      for (const id of reachableIds) {
        const sim = record.agents.get(id) ?? { commands: [], results: [] };
        const timeline = timelines.get(id) ?? [];
        // Applied twice: the same version installed more than once (ever).
        const applied = new Map<string, number>();
        for (const r of sim.results) for (const v of r.applied) applied.set(v, (applied.get(v) ?? 0) + 1);
        for (const v of released) if ((applied.get(v) ?? 0) > 1) addDoubled(`${id} applied ${v}`, applied.get(v)! - 1);
        // Recorded twice: more than one completed update that closed one notification (a completion
        // short of a raised target, R7, opens a new round of the same notification: not a double).
        const completedPer = new Map<string, number>();
        for (const e of timeline) {
          if (e.type === 'UpdateCompleted' && e.notificationId && e.targetReached !== false) completedPer.set(e.notificationId, (completedPer.get(e.notificationId) ?? 0) + 1);
        }
        const heraldNotifications = new Set(timeline.filter((e) => e.type === 'AttemptSent' && e.components?.some((c) => c.type === COMPONENT && released.has(c.version))).map((e) => e.notificationId!));
        for (const n of heraldNotifications) if ((completedPer.get(n) ?? 0) > 1) addDoubled(`${id} recorded ${n} completed`, completedPer.get(n)! - 1);
        // Lost: a report the agent sent that Herald never recorded, or an agent behind that never got a command.
        // A completed report must be recorded as UpdateCompleted, a failed one as UpdateFailed or, while
        // retries are left, UpdateRetryScheduled (issue 13 item 1), of the same notification.
        const recordedAs = (...types: string[]) => new Set(timeline.filter((e) => types.includes(e.type)).map((e) => e.notificationId));
        const [completedIds, failedIds] = [recordedAs('UpdateCompleted'), recordedAs('UpdateFailed', 'UpdateRetryScheduled')];
        const reportsThisFault = sim.results.filter((r) => r.fault === record.fault);
        // A report Herald did not record (e.g. it came after the report deadline closed the
        // notification) is lost, unless Herald learned the outcome later anyway: a later update of
        // the agent completed or was resolved as already up to date (a retry, issue 13 item 1).
        const lastOf = (n: string) => Math.max(0, ...timeline.filter((e) => e.notificationId === n).map((e) => e.position));
        const learnedLater = (n: string) =>
          timeline.some((e) => e.notificationId !== n && e.position > lastOf(n) && (e.type === 'UpdateCompleted' || (e.type === 'NotificationResolved' && e.reason === 'already-up-to-date')));
        const unrecorded = reportsThisFault.filter(
          (r) => !(r.outcome === 'completed' ? completedIds : failedIds).has(r.notificationId) && !(r.outcome === 'completed' && learnedLater(r.notificationId)),
        );
        const commanded = sim.commands.some((c) => c.fault === record.fault && c.version !== undefined && released.has(c.version));
        if (unrecorded.length > 0) lost.add(id);
        // Herald recorded a command as sent that the agent never received: lost. Not sent at all
        // (the service was cut off): stuck.
        else if (behind.has(id) && !commanded && heraldNotifications.size > 0) lost.add(id);
        else if (behind.has(id)) stuck.add(id);
        const twice = [...doubled.keys()].some((k) => k.startsWith(`${id} `));
        if ((lost.has(id) || stuck.has(id) || twice) && evidence.length < 30) {
          evidence.push({ agentId: id, verdict: lost.has(id) ? 'lost' : stuck.has(id) ? 'stuck' : 'doubled', unrecordedReports: unrecorded, simulator: sim, timeline });
        }
      }
      if (evidence.length > 0) {
        const file = path.join(REPO_ROOT, 'test', 'artifacts', `chaos-${process.pid}-${record.fault}.json`);
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, JSON.stringify(evidence, null, 1));
        notesOut.push(`evidence: ${path.relative(REPO_ROOT, file)}`);
      }

      // The rollouts: complete, counts that add up.
      const rollouts = await rolloutsFor(versions).catch(() => new Map<string, RolloutView>());
      let inProgress = 0;
      for (const v of versions) {
        const r = rollouts.get(v);
        if (!r) {
          notesOut.push(`no rollout for ${v}`);
          for (const id of reachableIds) if (behind.has(id)) stuck.add(id);
          continue;
        }
        const agents: RolloutAgent[] = [];
        for (let offset = 0; ; offset += 1000) {
          const page = await api<{ agents: RolloutAgent[]; total: number }>('notification-dispatch', 'GET', `/rollouts/${r.rolloutId}/agents?limit=1000&offset=${offset}`);
          agents.push(...(page.body.agents ?? []));
          if (agents.length >= (page.body.total ?? 0) || (page.body.agents ?? []).length === 0) break;
        }
        const c = r.counts;
        const updatedAgents = agents.filter((a) => a.updated).length;
        if (c.updated > updatedAgents) addDoubled(`rollout ${v} updated`, c.updated - updatedAgents);
        const outcomes = c.updated + c.failed + c.gaveUp + c.upToDate;
        if (outcomes > c.targeted) {
          addDoubled(`rollout ${v} outcomes`, outcomes - c.targeted);
          notesOut.push(`rollout ${v}: ${outcomes} outcomes for ${c.targeted} targeted`);
        }
        if (!r.complete) {
          inProgress += c.inProgress;
          notesOut.push(`rollout ${v}: ${c.inProgress} in progress`);
        }
        if (c.failed > 0) notesOut.push(`rollout ${v}: ${c.failed} failed`);
        if (c.gaveUp > 0) notesOut.push(`rollout ${v}: ${c.gaveUp} given up`);
        // A reachable agent the rollout neither targeted nor skipped was forgotten.
        const listed = new Set(agents.map((a) => a.agentId));
        if (v === versions[0]) {
          for (const id of reachableIds) {
            if (listed.has(id) || !behind.has(id)) continue;
            lost.add(id);
            stuck.delete(id);
          }
        }
      }
      const slots = await inFlight();
      const leaked = slots ?? 0;
      if (slots === null) notesOut.push('in-flight slots unknown (no dispatch answered)');
      if (leaked > 0) notesOut.push(`${leaked} R6 slots still held`);
      const counted = new Set([...lost, ...stuck]).size;
      const stuckCount = stuck.size + leaked + Math.max(0, inProgress - counted);
      if (behind.size > 0) notesOut.push(`${behind.size} reachable agents not on ${target}`);
      const doubledCount = [...doubled.values()].reduce((a, b) => a + b, 0);
      if (doubledCount > 0) notesOut.push(`doubled: ${[...doubled.keys()].slice(0, 3).join(', ')}${doubled.size > 3 ? ', …' : ''}`);
      return { lost: lost.size, doubled: doubledCount, stuck: stuckCount, notes: notesOut };
    }

    return { results, totals: totalsOf(results), storeDir: store.dir };
  } finally {
    await teardown.run(log);
    activeTeardowns.delete(entry);
  }
}

export function totalsOf(results: FaultResult[]): ChaosTotals {
  return {
    faults: results.length,
    lost: results.reduce((a, r) => a + r.lost, 0),
    doubled: results.reduce((a, r) => a + r.doubled, 0),
    stuck: results.reduce((a, r) => a + r.stuck, 0),
    manualRestarts: results.reduce((a, r) => a + r.manualRestarts, 0),
  };
}

export function summaryLine(t: ChaosTotals): string {
  return `chaos: faults=${t.faults} lost=${t.lost} doubled=${t.doubled} stuck=${t.stuck} manual-restarts=${t.manualRestarts}`;
}

export function table(results: FaultResult[]): string {
  const rows = [
    ['fault', 'time to recover', 'lost', 'doubled', 'stuck', 'manual restarts', 'notes'],
    ...results.map((r) => [
      r.fault,
      r.recoveredMs === null ? 'not healed' : `${(r.recoveredMs / 1000).toFixed(1)} s`,
      String(r.lost),
      String(r.doubled),
      String(r.stuck),
      String(r.manualRestarts),
      r.notes.join('; '),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}

/** Whether this build's RABBITMQ_URL takes several URLs (issue 13 item 3): then all nodes are given. */
export function defaultBrokerUrls(): 'all' | 'first' {
  return existsSync(path.join(REPO_ROOT, 'dist', 'libs', 'common', 'src', 'broker-urls.js')) ? 'all' : 'first';
}

export function parseChaosArgs(argv: string[], log: (line: string) => void = console.log): ChaosOptions | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      agents: { type: 'string' },
      offline: { type: 'string', default: '0.12' },
      faults: { type: 'string' },
      quick: { type: 'boolean', default: false },
      'recover-timeout': { type: 'string' },
      hold: { type: 'string', default: '30' },
      size: { type: 'string', default: '1000000' },
      'broker-urls': { type: 'string' },
      env: { type: 'string', multiple: true },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage.replace('%FAULTS%', `\n${Object.entries(FAULTS).map(([k, v]) => `  ${k.padEnd(22)} ${v}`).join('\n')}`));
    return null;
  }
  const agents = Number(values.agents ?? (values.quick ? 60 : 500));
  if (!Number.isInteger(agents) || agents < 1) throw new Error(`--agents is a positive whole number, not ${values.agents}`);
  const offline = Number(values.offline);
  if (!(offline >= 0 && offline < 1)) throw new Error(`--offline is a share from 0 to below 1, not ${values.offline}`);
  const faults = values.faults ? values.faults.split(',').map((f) => f.trim()).filter(Boolean) : ALL_FAULTS;
  const unknown = faults.filter((f) => !(f in FAULTS));
  if (unknown.length) throw new Error(`unknown fault(s) ${unknown.join(', ')}; known: ${ALL_FAULTS.join(', ')}`);
  const recover = Number(values['recover-timeout'] ?? (values.quick ? 150 : 300));
  const hold = Number(values.hold);
  const size = Number(values.size);
  if (!(recover > 0) || !(hold > 0) || !(size > 0)) throw new Error('--recover-timeout, --hold and --size are positive numbers');
  const brokerUrls = (values['broker-urls'] ?? defaultBrokerUrls()) as 'all' | 'first';
  if (brokerUrls !== 'all' && brokerUrls !== 'first') throw new Error(`--broker-urls is all or first, not ${values['broker-urls']}`);
  const env: Record<string, string> = {};
  for (const e of values.env ?? []) {
    const at = e.indexOf('=');
    if (at < 1) throw new Error(`--env is KEY=VALUE, not ${e}`);
    env[e.slice(0, at)] = e.slice(at + 1);
  }
  return { agents, offline, faults: faults as FaultName[], recoverTimeoutMs: recover * 1000, holdMs: hold * 1000, fileBytes: size, brokerUrls, env, log };
}

async function main(): Promise<number> {
  const options = parseChaosArgs(process.argv.slice(2));
  if (!options) return 0;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`chaos: ${signal}: removing everything this run started`);
    void teardownAll().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  options.log(`chaos: agents=${options.agents} offline=${options.offline} faults=${options.faults.join(',')} recover-timeout=${options.recoverTimeoutMs / 1000}s hold=${options.holdMs / 1000}s`);
  const { results, totals } = await runChaos(options);
  console.log('');
  console.log(table(results));
  console.log('');
  console.log(summaryLine(totals));
  return totals.lost + totals.doubled + totals.stuck + totals.manualRestarts === 0 ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    async (err: Error) => {
      console.error(`chaos: ${err.stack ?? err.message}`);
      await teardownAll();
      process.exit(2);
    },
  );
}
