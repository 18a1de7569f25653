import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { redactUrlsIn } from '@herald/common';
import type { FleetCounts} from './fleet';
import { Fleet, expandVersions } from './fleet';
import { brokerTls, pinnedUpstreamKey } from './upstream-key';

const usage = `Runs a fleet of simulated Herald agents in one process over a few connections.

  npm run simulate -- [--agents 1000] [--connections N] [--amqp URL[,URL...]] [--prefix sim]
                      [--component virus-pattern=1.0.0..1.0.5 ...]
                      [--offline 0.05] [--independent 0.05] [--silent 0.02] [--restarting 0.05]
                      [--heartbeat 30000] [--target virus-pattern=1.0.4 ...]
                      [--timeout 900] [--forever] [--upstream-key KEY] [--ca FILE]
                      [--downloads URL]

--amqp        the broker (default $RABBITMQ_URL): one URL, or a cluster's nodes comma-separated;
              the connections start on different nodes and move on to the next when one fails
--component   starting versions per type; agents are spread over them ("a..b" counts the
              last part, or a comma list). Default virus-pattern=1.0.0.
--label       key=values: a label every agent reports in its hello, each agent one of the
              values (a comma list), spread evenly; repeat for several keys, e.g.
              --label site=paris,lyon,berlin --label os=linux,windows
--offline     share of agents that say hello once and leave (the server knows them offline)
--independent share running in Independent mode
--silent      share that receive update commands and never acknowledge them
--restarting  share that crash and come back (new boot id) every 20-60 s
--target      done only once every reachable agent has at least this version (default: the
              newest version any update command carried)
--timeout     give up (exit 1) when the reachable agents are not all up to date after this many
              seconds from the first update command
--status-file write the counts as JSON to FILE every second (a container health check reads it)
--forever     keep running after everyone is up to date (for the compose demo); stop with Ctrl-C
--upstream-key the upstream's Ed25519 public key (base64 of the raw 32 bytes, or PEM) every agent
              pins: they install only what the upstream signed. Default UPSTREAM_PUBLIC_KEY, or
              the file UPSTREAM_PUBLIC_KEY_FILE names; without one the agents trust the server.
--enrolment-token  per-agent broker identities (docs/security.md): every agent logs in as its
              id with this token and a secret of its own, one connection per agent. Default
              AGENT_ENROLMENT_TOKEN. The secrets derive from SIM_SECRET_SEED (set it, and keep
              it, so a restarted simulator is the same agents; without it one is made per run).
              Agents wait until they are accepted (AGENT_AUTO_ACCEPT on the server, or an admin).
--ca          with amqps:// URLs: the PEM file of the certificate authority the broker's
              certificate must chain to (default $RABBITMQ_CA_FILE; unset: the system's CAs)
--downloads   component-download's base URL (default $COMPONENT_DOWNLOAD_URL): before the
              agents start, the full file of each starting version is fetched from it once and
              shared, so agents hold real bytes and take patches from their first update. A
              version it does not keep stays without bytes (those agents take full files).
              Unset: agents hold no bytes of their starting versions.

Prints a progress line every second and a summary when every reachable agent is up to date
(exit 0), on timeout (exit 1) or on Ctrl-C.`;

function share(name: string, value: string | undefined): number {
  const n = Number(value ?? '0');
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new Error(`--${name} is a share between 0 and 1, not ${value}`);
  return n;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: process.env.SIM_AGENTS ?? '1000' },
      connections: { type: 'string' },
      amqp: { type: 'string', default: process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672' },
      prefix: { type: 'string', default: 'sim' },
      component: { type: 'string', multiple: true },
      label: { type: 'string', multiple: true },
      offline: { type: 'string', default: '0.05' },
      independent: { type: 'string', default: '0.05' },
      silent: { type: 'string', default: '0.02' },
      restarting: { type: 'string', default: '0.05' },
      heartbeat: { type: 'string', default: '30000' },
      target: { type: 'string', multiple: true },
      timeout: { type: 'string', default: '900' },
      forever: { type: 'boolean', default: false },
      'status-file': { type: 'string' },
      'upstream-key': { type: 'string' },
      'enrolment-token': { type: 'string', default: process.env.AGENT_ENROLMENT_TOKEN },
      ca: { type: 'string' },
      downloads: { type: 'string', default: process.env.COMPONENT_DOWNLOAD_URL },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  const agents = Number(values.agents);
  if (!Number.isInteger(agents) || agents < 1) throw new Error(`--agents must be a positive whole number, not ${values.agents}`);
  const components: Record<string, string[]> = {};
  for (const spec of values.component ?? ['virus-pattern=1.0.0']) {
    const [type, versions] = spec.split('=');
    if (!type || !versions) throw new Error(`--component is type=versions, not ${spec}`);
    components[type] = expandVersions(versions);
  }
  const labels: Record<string, string[]> = {};
  for (const spec of values.label ?? []) {
    const [key, list] = spec.split('=');
    if (!key || !list) throw new Error(`--label is key=values, not ${spec}`);
    labels[key] = list.split(',');
  }
  const targets: Record<string, string> = {};
  for (const spec of values.target ?? []) {
    const [type, version] = spec.split('=');
    if (!type || !version) throw new Error(`--target is type=version, not ${spec}`);
    targets[type] = version;
  }
  const fleet = new Fleet({
    amqpUrl: values.amqp!,
    agents,
    connections: values.connections ? Number(values.connections) : undefined,
    prefix: values.prefix,
    offline: share('offline', values.offline),
    independent: share('independent', values.independent),
    silent: share('silent', values.silent),
    restarting: share('restarting', values.restarting),
    components,
    labels,
    heartbeatIntervalMs: Number(values.heartbeat),
    targets,
    upstreamPublicKey: pinnedUpstreamKey(values['upstream-key']),
    identity: values['enrolment-token'] ? { enrolmentToken: values['enrolment-token'], secretSeed: process.env.SIM_SECRET_SEED ?? randomBytes(32).toString('hex') } : undefined,
    tls: brokerTls(values.ca),
    baseContentUrl: values.downloads || undefined,
  });

  const t0 = Date.now();
  let peakRss = process.memoryUsage.rss();
  let peakHeap = process.memoryUsage().heapUsed;
  let firstCommandAt: number | null = null;
  let doneAt: number | null = null;
  let startedAt: number | null = null;
  const tty = process.stderr.isTTY;

  const progress = (c: FleetCounts, upToDate: number) =>
    `${secs(Date.now() - t0).padStart(7)}  connected ${c.connected}/${c.agents}  notified ${c.notified}  acknowledged ${c.acknowledged}  updated ${c.updated}  up to date ${upToDate}/${fleet.reachable()}  scanned ${c.scanned}  failed ${c.failed}  restarts ${c.restarts}`;

  const summary = async (how: string) => {
    const c = fleet.counts();
    const roles = fleet.roles();
    const lines = [
      '',
      `herald-simulator: ${how}`,
      `  agents      ${c.agents} on ${fleet.connectionCount} connections: ${Object.entries(roles).map(([r, n]) => `${r} ${n}`).join(', ')}`,
      `  targets     ${[...fleet.targets].map(([t, v]) => `${t} ${v}`).join(', ') || 'none seen'}`,
      `  started     all agents up and said hello in ${startedAt ? secs(startedAt - t0) : 'n/a'}`,
      `  update      first command ${firstCommandAt ? `${secs(firstCommandAt - t0)} after start` : 'never came'}; ` +
        `${await fleet.upToDate()}/${fleet.reachable()} reachable agents up to date${doneAt && firstCommandAt ? ` ${secs(doneAt - firstCommandAt)} after the first command` : ''}`,
      `  counts      notified ${c.notified}, acknowledged ${c.acknowledged}, updated ${c.updated}, failed ${c.failed}, scanned ${c.scanned}, restarts ${c.restarts}, duplicate commands ${c.duplicates}`,
      `  downloads   full ${mb(c.fullBytes)}, patches ${mb(c.patchBytes)}`,
      `  memory      peak RSS ${mb(peakRss)}, peak heap ${mb(peakHeap)}, shared component content ${mb(fleet.content.bytes)}`,
      `  warnings    ${fleet.warnings}${fleet.lastWarning ? ` (last: ${redactUrlsIn(fleet.lastWarning)})` : ''}`,
      `  wall time   ${secs(Date.now() - t0)}`,
    ];
    console.log(lines.join('\n'));
  };

  let stopping = false;
  const finish = async (how: string, code: number) => {
    if (stopping) return;
    stopping = true;
    clearInterval(ticker);
    await summary(how);
    await fleet.stop();
    process.exit(code);
  };
  process.once('SIGINT', () => void finish('stopped by Ctrl-C', 130));
  process.once('SIGTERM', () => void finish('stopped', 143));

  let tick = 0;
  const ticker = setInterval(() => {
    void (async () => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      const c = fleet.counts();
      if (c.notified > 0 && firstCommandAt === null) firstCommandAt = Date.now();
      const upToDate = await fleet.upToDate();
      const line = progress(c, upToDate);
      if (values['status-file']) {
        const status = JSON.stringify({ at: new Date().toISOString(), ...c, upToDate, reachable: fleet.reachable(), targets: Object.fromEntries(fleet.targets) });
        await writeFile(`${values['status-file']}.tmp`, status).then(() => rename(`${values['status-file']}.tmp`, values['status-file']!)).catch(() => undefined);
      }
      if (tty) process.stderr.write(`\r${line}\x1b[K`);
      else if (tick++ % 5 === 0) process.stderr.write(`${line}\n`);
      if (stopping || startedAt === null) return;
      if (firstCommandAt !== null && doneAt === null && upToDate === fleet.reachable()) {
        doneAt = Date.now();
        if (tty) process.stderr.write('\n');
        if (!values.forever) return void finish('every reachable agent is up to date', 0);
        await summary('every reachable agent is up to date; still running (--forever)');
      }
      if (doneAt !== null && values.forever && fleet.targets.size > 0 && upToDate < fleet.reachable()) doneAt = null;
      if (!values.forever && firstCommandAt !== null && doneAt === null && Date.now() - firstCommandAt > Number(values.timeout) * 1000) {
        if (tty) process.stderr.write('\n');
        return void finish(`timed out after ${values.timeout} s`, 1);
      }
    })();
  }, 1_000);

  console.log(`herald-simulator: starting ${agents} agents against ${values.amqp!.replace(/\/\/[^@]*@/, '//***@')}`);
  await fleet.start();
  for (const s of fleet.seeded) {
    console.log(`herald-simulator: ${s.type} ${s.version}: ${s.missing ? `no bytes (${s.missing}); its agents take full files` : `${mb(s.bytes)} held, shared by its agents`}`);
  }
  startedAt = Date.now();
  console.log(`herald-simulator: ${fleet.size} agents started in ${secs(startedAt - t0)}; waiting for updates`);
}

main().catch((err: Error) => {
  console.error(redactUrlsIn(`simulate: ${err.message}`));
  process.exit(1);
});
