import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import * as amqp from 'amqplib';
import { Client } from 'pg';
import { Fleet } from '../apps/agent-simulator/src/fleet';
import { HeraldSystem, TEST_ADMIN_TOKEN, UpstreamFixture, createTestVhost, waitFor } from '@herald/testing';

const usage = `How fast Herald tells a fleet, against the broker's own floor, in one run.

  npm run bench:fanout -- [--agents 1000] [--offline 0] [--storm] [--quick] [--timeout 900] [--profile DIR]

--agents    online agents (the simulator's, in this process, one connection per 500)
--offline   registered agents that are offline when the version arrives (they cost time at release)
--storm     instead of a release to online agents: every agent reconnects at once while outdated (R2)
--quick     200 agents unless --agents says otherwise; for a smoke run
--profile   write a V8 CPU profile of each service into DIR (open it in Chrome's DevTools)

BENCH_LOG_LEVEL=info (environment) keeps the services' request logs (test/artifacts/logs), e.g. to see slow or
abandoned downloads; the default, warn, keeps logging out of the measurement.

Runs, back to back: (a) the floor: a bare amqplib client publishes one persistent mandatory command
per agent queue on a confirm channel and waits for every agent's persistent reply; (b) Herald, all
three services as processes on a database and vhost of their own, from the upstream check to the
first and last agent notified, the last acknowledgement and the last report Herald recorded;
(c) CPU per process (services, PostgreSQL, broker) divided by the number of agents, and the bytes
the three schemas grew by per agent. Prints a table, then, last, fanout-ratio (Herald's last
acknowledgement / the floor) and cpu-ms-per-agent (services and PostgreSQL).`;

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const SCHEMAS = ['component_download', 'notification_dispatch', 'agent_presence'];
const FILE_BYTES = 100 * 1024;

// ---- CPU and memory of processes, from /proc ---------------------------------------------------

interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, seconds */
  cpu: number;
  /** cutime + cstime: children that exited and were waited for, seconds */
  childCpu: number;
}

function stat(pid: number): ProcStat | null {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = raw.lastIndexOf(')');
    const comm = raw.slice(raw.indexOf('(') + 1, close);
    const f = raw.slice(close + 2).split(' '); // f[0] is field 3 (state)
    return { pid, ppid: Number(f[1]), comm, cpu: (Number(f[11]) + Number(f[12])) / CLOCK_TICKS, childCpu: (Number(f[13]) + Number(f[14])) / CLOCK_TICKS };
  } catch {
    return null;
  }
}

function allProcesses(): ProcStat[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map((d) => stat(Number(d)))
    .filter((s): s is ProcStat => s !== null);
}

/** CPU seconds of the whole PostgreSQL cluster: every server process, and the backends that exited (the postmaster's children). */
function postgresCpu(): number {
  const procs = allProcesses().filter((p) => p.comm === 'postgres' || p.comm.startsWith('postgres'));
  const pids = new Set(procs.map((p) => p.pid));
  return procs.reduce((sum, p) => sum + p.cpu + (pids.has(p.ppid) ? 0 : p.childCpu), 0);
}

function brokerCpu(): number {
  return allProcesses()
    .filter((p) => p.comm === 'beam.smp')
    .reduce((sum, p) => sum + p.cpu, 0);
}

function peakRssMb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

interface CpuSnapshot {
  services: Record<string, number>;
  postgres: number;
  broker: number;
  bench: number;
}

function snapshot(pids: Record<string, number>): CpuSnapshot {
  const services = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, stat(pid)?.cpu ?? 0]));
  const own = process.cpuUsage();
  return { services, postgres: postgresCpu(), broker: brokerCpu(), bench: (own.user + own.system) / 1e6 };
}

function delta(a: CpuSnapshot, b: CpuSnapshot): CpuSnapshot {
  return {
    services: Object.fromEntries(Object.keys(b.services).map((k) => [k, b.services[k]! - (a.services[k] ?? 0)])),
    postgres: b.postgres - a.postgres,
    broker: b.broker - a.broker,
    bench: b.bench - a.bench,
  };
}

// ---- (a) the floor: a bare client and bare agents ----------------------------------------------

interface FloorResult {
  ms: number;
  cpu: CpuSnapshot;
}

/**
 * The broker's own floor for telling N agents: each agent (on its own channel, N/500 connections,
 * as the simulator's) has an exclusive queue bound by its id to a direct exchange and answers a
 * command with a persistent reply on a confirm channel, then acknowledges the command. The server
 * publishes one persistent mandatory command per agent on one confirm channel and waits for every
 * reply. Timed from the first publish to the last reply consumed.
 */
async function floor(agents: number): Promise<FloorResult> {
  const vhost = await createTestVhost('floor');
  const connections: amqp.ChannelModel[] = [];
  try {
    const server = await amqp.connect(vhost.url);
    connections.push(server);
    const setup = await server.createChannel();
    await setup.assertExchange('floor.commands', 'direct', { durable: true });
    await setup.assertQueue('floor.replies', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const agentConnections = await Promise.all(Array.from({ length: Math.max(1, Math.ceil(agents / 500)) }, () => amqp.connect(vhost.url)));
    connections.push(...agentConnections);
    for (const c of connections) c.on('error', () => undefined);
    const ids = Array.from({ length: agents }, (_, i) => `floor-${i + 1}`);
    const queue = [...ids.entries()];
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        const [i, id] = next;
        const ch = await agentConnections[i % agentConnections.length]!.createConfirmChannel();
        const q = `floor.agent.${id}`;
        await ch.assertQueue(q, { exclusive: true, durable: false, autoDelete: true });
        await ch.bindQueue(q, 'floor.commands', id);
        await ch.prefetch(8);
        ch.on('error', () => undefined); // closed at the end of the run
        await ch.consume(q, (msg) => {
          if (!msg) return;
          ch.publish('', 'floor.replies', Buffer.from(JSON.stringify({ agentId: id, type: 'ack' })), { persistent: true }, (err) => {
            if (!err) ch.ack(msg);
          });
        });
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    const replies = await server.createChannel();
    await replies.prefetch(1000);
    let got = 0;
    let done!: () => void;
    const all = new Promise<void>((r) => (done = r));
    await replies.consume('floor.replies', (msg) => {
      if (!msg) return;
      replies.ack(msg);
      if (++got === agents) done();
    });
    const publisher = await server.createConfirmChannel();
    const before = snapshot({});
    const started = Date.now();
    for (const id of ids) {
      publisher.publish('floor.commands', id, Buffer.from(JSON.stringify({ type: 'update', agentId: id })), { persistent: true, mandatory: true });
    }
    await publisher.waitForConfirms();
    await all;
    const ms = Date.now() - started;
    const cpu = delta(before, snapshot({}));
    // Let the agents' last confirms and acks arrive before the connections close.
    await new Promise((r) => setTimeout(r, 500));
    return { ms, cpu };
  } finally {
    for (const c of connections.reverse()) await c.close().catch(() => undefined);
    await vhost.delete();
  }
}

// ---- (b) Herald --------------------------------------------------------------------------------

interface HeraldResult {
  mode: 'release' | 'storm';
  agents: number;
  offline: number;
  /** From the check (or, in a storm, from the agents starting) to each milestone, ms. */
  verifiedMs: number | null;
  firstNotifiedMs: number;
  lastNotifiedMs: number;
  lastAckMs: number;
  lastReportMs: number;
  registeredMs: number | null;
  cpu: CpuSnapshot;
  peakRssMb: Record<string, number>;
  /** Growth of the three schemas per agent: all of it, and the part in outbox and inbox (pruned after a day / a week). */
  /** The download endpoint's own counters (R6 slots): files served, requests refused with 503. */
  downloads: { served: number; refused: number };
  bytesPerAgent: { all: number; transient: number };
  updated: number;
}

async function sql<T>(url: string, query: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(query, params)).rows as T[];
  } finally {
    await client.end();
  }
}

const schemaBytes = async (url: string): Promise<{ all: number; transient: number }> => {
  const rows = await sql<{ all: string; transient: string }>(
    url,
    `SELECT coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))), 0) AS all,
            coalesce(sum(pg_total_relation_size(format('%I.%I', schemaname, tablename))) FILTER (WHERE tablename IN ('outbox', 'inbox')), 0) AS transient
       FROM pg_tables WHERE schemaname = ANY($1)`,
    [SCHEMAS],
  );
  return { all: Number(rows[0]!.all), transient: Number(rows[0]!.transient) };
};

/** Milliseconds from `t0` to the newest event of `type` recorded in `schema` since then (null when none). */
async function lastEvent(url: string, schema: string, type: string, t0: number, which: 'min' | 'max' = 'max'): Promise<number | null> {
  const rows = await sql<{ at: Date | null }>(url, `SELECT ${which}(recorded_at) AS at FROM ${schema}.events WHERE type = $1 AND recorded_at >= $2`, [type, new Date(t0)]);
  return rows[0]?.at ? rows[0].at.getTime() - t0 : null;
}

async function herald(options: { agents: number; offline: number; storm: boolean; timeoutMs: number; profileDir?: string }): Promise<HeraldResult> {
  const upstream = await new UpstreamFixture().start();
  const file = (version: string) => Buffer.concat([Buffer.from(`virus-pattern ${version}\n`), randomBytes(FILE_BYTES)]);
  upstream.publish({ type: 'virus-pattern', version: '1.0.0', content: file('1.0.0') });
  const system = await HeraldSystem.start({
    label: 'fanout',
    env: {
      UPSTREAM_MANIFEST_URL: upstream.manifestUrl,
      UPSTREAM_PUBLIC_KEY: upstream.publicKey,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
      HEARTBEAT_TIMEOUT_MS: '600000',
      OUTBOX_POLL_INTERVAL_MS: '500',
      PATCH_WAIT_MS: '0',
    },
    nodeArgs: options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [],
  });
  const fleets: Fleet[] = [];
  try {
    const settings = await system.http('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', { maxInFlight: Math.min(100_000, (options.agents + options.offline) * 2) });
    if (settings.status !== 200) throw new Error(`could not change the settings: ${settings.status} ${JSON.stringify(settings.body)}`);
    await check(system);
    const fleetOf = (n: number, prefix: string, offline: number) =>
      new Fleet({ amqpUrl: system.amqpUrl, agents: n, prefix, offline, components: { 'virus-pattern': ['1.0.0'] }, heartbeatIntervalMs: 300_000, startConcurrency: 256 });
    if (options.offline > 0) {
      const away = fleetOf(options.offline, 'away', 1);
      fleets.push(away);
      await away.start();
    }
    const fleet = fleetOf(options.agents, 'bench', 0);
    fleets.push(fleet);
    const online = async () => Number((await sql<{ n: string }>(system.db.url, 'SELECT count(*) AS n FROM notification_dispatch.directory_agents WHERE online'))[0]!.n);
    const known = async () => Number((await sql<{ n: string }>(system.db.url, 'SELECT count(*) AS n FROM notification_dispatch.directory_agents'))[0]!.n);
    const pids = system.pids() as Record<string, number>;
    const total = options.agents + options.offline;
    let t0: number;
    let registeredMs: number | null = null;
    let before: CpuSnapshot;
    let bytesBefore: { all: number; transient: number };
    if (!options.storm) {
      await fleet.start();
      await waitFor(async () => (await known()) === total && (await online()) === options.agents, { timeoutMs: options.timeoutMs, intervalMs: 500, what: 'every agent registered' });
      bytesBefore = await schemaBytes(system.db.url);
      before = snapshot(pids);
      t0 = Date.now();
      upstream.publish({ type: 'virus-pattern', version: '1.0.1', content: file('1.0.1') });
      await check(system);
    } else {
      // The agents say hello once, leave, miss the release, and come back all at once.
      await fleet.start();
      await waitFor(async () => (await online()) === options.agents, { timeoutMs: options.timeoutMs, intervalMs: 500, what: 'every agent registered' });
      await fleet.stop();
      await waitFor(async () => (await online()) === 0, { timeoutMs: options.timeoutMs, intervalMs: 500, what: 'every agent gone' });
      upstream.publish({ type: 'virus-pattern', version: '1.0.1', content: file('1.0.1') });
      await check(system);
      const back = fleetOf(options.agents, 'bench', 0);
      fleets.push(back);
      bytesBefore = await schemaBytes(system.db.url);
      before = snapshot(pids);
      t0 = Date.now();
      await back.start();
      await waitFor(async () => (await online()) === options.agents, { timeoutMs: options.timeoutMs, intervalMs: 250, what: 'every agent registered again' });
      registeredMs = Date.now() - t0;
    }
    const updating = fleets.at(-1)!;
    await waitFor(() => updating.counts().updated >= options.agents, { timeoutMs: options.timeoutMs, intervalMs: 200, what: `all ${options.agents} agents updated` });
    // The server records the last report a moment after the agent sent it.
    await waitFor(async () => ((await lastEvent(system.db.url, 'notification_dispatch', 'UpdateCompleted', t0)) ?? -1) >= updating.timings().lastUpdatedAt - t0 - 1, {
      timeoutMs: 60_000,
      what: 'the last report recorded',
    });
    const after = snapshot(pids);
    const times = updating.timings();
    return {
      mode: options.storm ? 'storm' : 'release',
      agents: options.agents,
      offline: options.offline,
      verifiedMs: await lastEvent(system.db.url, 'component_download', 'ComponentVersionDownloaded', t0),
      firstNotifiedMs: times.firstNotifiedAt - t0,
      lastNotifiedMs: times.lastNotifiedAt - t0,
      lastAckMs: (await lastEvent(system.db.url, 'notification_dispatch', 'NotificationAcknowledged', t0)) ?? NaN,
      lastReportMs: (await lastEvent(system.db.url, 'notification_dispatch', 'UpdateCompleted', t0)) ?? NaN,
      registeredMs,
      cpu: delta(before, after),
      peakRssMb: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, peakRssMb(pid)])),
      bytesPerAgent: await schemaBytes(system.db.url).then((b) => ({ all: (b.all - bytesBefore.all) / options.agents, transient: (b.transient - bytesBefore.transient) / options.agents })),
      updated: updating.counts().updated,
      downloads: (await system.http<{ served: number; refused: number }>('component-download', 'GET', '/components/downloads', undefined, TEST_ADMIN_TOKEN)).body,
    };
  } finally {
    for (const f of fleets.reverse()) await f.stop().catch(() => undefined);
    await system.stop();
    await upstream.stop();
  }
}

async function check(system: HeraldSystem): Promise<void> {
  const res = await system.http<{ downloaded: unknown[]; error?: string }>('component-download', 'POST', '/components/check', undefined, TEST_ADMIN_TOKEN);
  if (res.status !== 200 || res.body.downloaded.length !== 1) throw new Error(`the upstream check did not download the new version: ${JSON.stringify(res.body)}`);
}

// ---- report ------------------------------------------------------------------------------------

const s = (ms: number | null) => (ms === null || Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(2)} s`);
const perAgent = (seconds: number, n: number) => ((seconds * 1000) / n).toFixed(2);

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string' },
      offline: { type: 'string', default: '0' },
      storm: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      timeout: { type: 'string', default: '900' },
      profile: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const agents = Number(values.agents ?? (values.quick ? 200 : 1000));
  const offline = Number(values.offline);
  if (!Number.isInteger(agents) || agents < 1 || !Number.isInteger(offline) || offline < 0) throw new Error('--agents and --offline are whole numbers');
  const timeoutMs = Number(values.timeout) * 1000;

  console.log(`bench:fanout  agents=${agents} offline=${offline} mode=${values.storm ? 'storm' : 'release'}  cores=${cpus().length} load=${loadavg().map((l) => l.toFixed(2)).join('/')}`);
  const base = await floor(agents);
  console.log(`floor: ${s(base.ms)} (broker ${base.cpu.broker.toFixed(2)} s CPU, client and agents ${base.cpu.bench.toFixed(2)} s)`);
  const h = await herald({ agents, offline, storm: values.storm, timeoutMs, profileDir: values.profile });
  const serviceCpu = Object.values(h.cpu.services).reduce((a, b) => a + b, 0);
  const rows: Array<[string, string]> = [
    ['bare broker: publish → last reply', s(base.ms)],
    ...(h.mode === 'storm' ? ([['Herald: agents start → all registered', s(h.registeredMs)]] as Array<[string, string]>) : []),
    [`Herald: ${h.mode === 'storm' ? 'agents start' : 'check'} → version verified`, s(h.verifiedMs)],
    ['Herald: → first agent notified', s(h.firstNotifiedMs)],
    ['Herald: → last agent notified', s(h.lastNotifiedMs)],
    ['Herald: → last acknowledgement recorded', s(h.lastAckMs)],
    ['Herald: → last report recorded', s(h.lastReportMs)],
    ...Object.entries(h.cpu.services).map(([name, cpu]): [string, string] => [`CPU ${name}`, `${cpu.toFixed(2)} s = ${perAgent(cpu, agents)} ms/agent`]),
    ['CPU PostgreSQL', `${h.cpu.postgres.toFixed(2)} s = ${perAgent(h.cpu.postgres, agents)} ms/agent`],
    ['CPU RabbitMQ', `${h.cpu.broker.toFixed(2)} s = ${perAgent(h.cpu.broker, agents)} ms/agent`],
    ['CPU simulated agents (this process)', `${h.cpu.bench.toFixed(2)} s`],
    ...Object.entries(h.peakRssMb).map(([name, mb]): [string, string] => [`peak RSS ${name}`, `${mb.toFixed(0)} MB`]),
    ['storage grown, per agent', `${(h.bytesPerAgent.all / 1024).toFixed(1)} KB (outbox and inbox, pruned later: ${(h.bytesPerAgent.transient / 1024).toFixed(1)} KB)`],
    ['downloads served / refused (503, come back later)', `${h.downloads.served} / ${h.downloads.refused}`],
    ['agents updated', `${h.updated}/${agents}`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log('');
  for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
  console.log('');
  console.log(`fanout-ratio: ${(h.lastAckMs / base.ms).toFixed(1)}`);
  console.log(`cpu-ms-per-agent: ${perAgent(serviceCpu + h.cpu.postgres, agents)}`);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`bench:fanout: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
