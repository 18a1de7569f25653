import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The RabbitMQ scripts run directly: the /usr/sbin wrappers switch to the rabbitmq user and its cookie. */
const RABBITMQ_BIN = process.env.RABBITMQ_BIN_DIR ?? '/usr/lib/rabbitmq/bin';

export interface PrivateRabbitClusterOptions {
  /** How many nodes (1 or more); they are joined into one cluster. */
  nodes?: number;
  /** Prefix of the node names (`<name>-<pid>-<n>@localhost`). */
  name?: string;
  /**
   * First of a block of ports to use: node n listens for AMQP on base+n, for Erlang distribution on
   * base+100+n, and its CLI calls use base+200..base+219. Picked free at run time when not given.
   */
  basePort?: number;
  /** How long a node may take to start (ms). */
  startTimeoutMs?: number;
  /** Plugins to enable on every node (shipped with RabbitMQ, e.g. `rabbitmq_auth_backend_http`). */
  plugins?: readonly string[];
  /**
   * Extra rabbitmq.conf lines for every node (e.g. `auth_backends.2 = http`, a TLS listener);
   * `(i) => lines` for lines that differ per node.
   */
  config?: readonly string[] | ((i: number) => readonly string[]);
}

export interface PrivateRabbitCluster {
  /** amqp URLs (guest/guest, default vhost), one per node, in node order. */
  readonly urls: readonly string[];
  readonly ports: readonly number[];
  readonly nodeNames: readonly string[];
  /** The temporary folder holding every node's data, logs and config. */
  readonly dir: string;
  /** Runs rabbitmqctl against node i (with this cluster's cookie); resolves with its stdout. */
  ctl(i: number, ...args: string[]): Promise<string>;
  /** Whether node i's process is running. */
  isRunning(i: number): boolean;
  /** Stops node i gracefully (the whole Erlang node, not only the app) and waits until it has exited. */
  stopNode(i: number): Promise<void>;
  /** Starts node i again (after stopNode or killNode) and waits until it runs and has rejoined. */
  startNode(i: number): Promise<void>;
  /** `kill -9` of node i's Erlang VM; waits until it is gone. */
  killNode(i: number): Promise<void>;
  /** The index of the node that holds a client connection named `connectionName` (or on `port`), if any. */
  nodeOfConnection(match: (connection: { name: string; node: string; peerPort: number }) => boolean): Promise<number | undefined>;
  /** Stops every node and deletes the temporary folder. Safe to call twice. */
  remove(): Promise<void>;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A base port whose block (see basePort) is free: below the kernel's ephemeral range, so clients never take it. */
async function pickBasePort(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 120) * 100;
    const needed = [...Array(nodes).keys()].flatMap((n) => [base + n, base + 100 + n]);
    for (let p = base + 200; p < base + 220; p++) needed.push(p);
    const free = await Promise.all(needed.map(portIsFree));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free block of ports for a private RabbitMQ cluster');
}

/**
 * A RabbitMQ cluster of our own (never the shared broker on 5672): each node a `rabbitmq-server`
 * process with its own node name, ports, data, logs, config and cookie in a temporary folder,
 * no plugins unless asked for. For fault tests that stop, start and kill broker nodes, and for
 * tests that need broker configuration the shared broker must never get (auth backends, TLS).
 */
export async function startRabbitCluster(options: PrivateRabbitClusterOptions = {}): Promise<PrivateRabbitCluster> {
  const count = options.nodes ?? 1;
  if (!Number.isInteger(count) || count < 1) throw new Error(`nodes must be a positive integer, got ${count}`);
  const prefix = options.name ?? 'herald-rabbit';
  const startTimeoutMs = options.startTimeoutMs ?? 120_000;
  const base = options.basePort ?? (await pickBasePort(count));
  const dir = await mkdtemp(path.join(tmpdir(), `${prefix}-`));
  const tag = `${prefix}-${process.pid}-${path.basename(dir).slice(-6).toLowerCase().replace(/[^a-z0-9]/g, 'x')}`;
  const nodeNames = [...Array(count).keys()].map((n) => `${tag}-${n + 1}@localhost`);
  const ports = [...Array(count).keys()].map((n) => base + n);
  const urls = ports.map((p) => `amqp://guest:guest@127.0.0.1:${p}`);
  const children: (ChildProcess | null)[] = Array(count).fill(null);
  let removed = false;

  const cookie = randomBytes(16).toString('hex').toUpperCase();
  await writeFile(path.join(dir, '.erlang.cookie'), cookie);
  await chmod(path.join(dir, '.erlang.cookie'), 0o400);
  const plugins = options.plugins ?? [];
  for (const plugin of plugins) if (!/^[a-z0-9_]+$/.test(plugin)) throw new Error(`not a plugin name: ${plugin}`);
  await writeFile(path.join(dir, 'enabled_plugins'), `[${plugins.join(',')}].\n`);
  // Our own (empty) rabbitmq-env.conf: the system one names the shared node.
  await writeFile(path.join(dir, 'rabbitmq-env.conf'), '');

  const commonEnv = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    LC_ALL: 'C.UTF-8',
    HOME: dir,
    RABBITMQ_CONF_ENV_FILE: path.join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_CTL_DIST_PORT_MIN: String(base + 200),
    RABBITMQ_CTL_DIST_PORT_MAX: String(base + 219),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  });

  const nodeEnv = (i: number): NodeJS.ProcessEnv => {
    const nodeDir = path.join(dir, `node-${i + 1}`);
    return {
      ...commonEnv(),
      RABBITMQ_NODENAME: nodeNames[i],
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(ports[i]),
      RABBITMQ_DIST_PORT: String(base + 100 + i),
      RABBITMQ_MNESIA_BASE: path.join(nodeDir, 'mnesia'),
      RABBITMQ_LOG_BASE: path.join(nodeDir, 'log'),
      RABBITMQ_CONFIG_FILE: path.join(nodeDir, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: path.join(nodeDir, 'advanced.config'),
      RABBITMQ_PID_FILE: path.join(nodeDir, 'rabbitmq.pid'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
    };
  };

  const ctl = async (i: number, ...args: string[]): Promise<string> => {
    const { stdout } = await run(path.join(RABBITMQ_BIN, 'rabbitmqctl'), ['-n', nodeNames[i], '--quiet', ...args], {
      env: commonEnv(),
      timeout: startTimeoutMs + 30_000,
    });
    return stdout;
  };

  const isRunning = (i: number): boolean => {
    const child = children[i];
    return !!child && child.exitCode === null && child.signalCode === null;
  };

  const exitOf = (child: ChildProcess): Promise<void> =>
    child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));

  const spawnNode = async (i: number): Promise<void> => {
    if (isRunning(i)) throw new Error(`node ${nodeNames[i]} is already running`);
    const nodeDir = path.join(dir, `node-${i + 1}`);
    await mkdir(path.join(nodeDir, 'log'), { recursive: true });
    const extra = typeof options.config === 'function' ? options.config(i) : (options.config ?? []);
    await writeFile(path.join(nodeDir, 'rabbitmq.conf'), ['loopback_users.guest = true', 'log.console = false', 'log.file.level = info', ...extra, ''].join('\n'));
    const log = createWriteStream(path.join(nodeDir, 'log', 'server.out'), { flags: 'a' });
    const child = spawn(path.join(RABBITMQ_BIN, 'rabbitmq-server'), [], { env: nodeEnv(i), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    children[i] = child;
    const exited = new Promise<never>((_, reject) =>
      child.once('exit', (code, signal) => reject(new Error(`${nodeNames[i]} exited with ${signal ?? code} while starting (logs: ${nodeDir}/log)`))),
    );
    exited.catch(() => undefined);
    await Promise.race([exited, awaitStartup(i)]);
  };

  // await_startup fails at once while the node has not yet registered with epmd: poll until it answers.
  const awaitStartup = async (i: number): Promise<void> => {
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      try {
        await ctl(i, 'await_startup', '--timeout', String(Math.max(1, Math.ceil((deadline - Date.now()) / 1000))));
        return;
      } catch (err) {
        if (Date.now() > deadline || !isRunning(i)) throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };

  const beamPid = async (i: number): Promise<number> => {
    const text = await readFile(path.join(dir, `node-${i + 1}`, 'rabbitmq.pid'), 'utf8');
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no pid in ${nodeNames[i]}'s pid file`);
    return pid;
  };

  const stopNode = async (i: number): Promise<void> => {
    const child = children[i];
    if (!child || !isRunning(i)) return;
    try {
      // shutdown (unlike stop) waits until the node's OS process has exited.
      await ctl(i, 'shutdown', '--timeout', '60');
    } catch {
      child.kill('SIGTERM');
    }
    // A node that neither shut down nor took the signal within a minute is killed.
    const exited = await Promise.race([exitOf(child).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 60_000).unref())]);
    if (!exited) await killNode(i);
  };

  const killNode = async (i: number): Promise<void> => {
    const child = children[i];
    if (!child || !isRunning(i)) return;
    try {
      process.kill(await beamPid(i), 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    await exitOf(child);
  };

  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    await Promise.all(
      [...Array(count).keys()].map(async (i) => {
        const child = children[i];
        if (!child || !isRunning(i)) return;
        const gone = exitOf(child);
        const stopped = await Promise.race([stopNode(i).then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 60_000).unref())]);
        if (!stopped) await killNode(i);
        await gone;
      }),
    );
    await rm(dir, { recursive: true, force: true });
  };

  try {
    // One node at a time: the first forms the cluster, the others join it (a fresh node must be
    // reset before it joins, which stop_app + join_cluster does on an empty node).
    for (let i = 0; i < count; i++) {
      await spawnNode(i);
      if (i > 0) {
        await ctl(i, 'stop_app');
        await ctl(i, 'join_cluster', nodeNames[0]);
        await ctl(i, 'start_app');
        await awaitStartup(i);
      }
    }
  } catch (err) {
    await remove();
    throw err;
  }

  return {
    urls,
    ports,
    nodeNames,
    dir,
    ctl,
    isRunning,
    stopNode,
    startNode: async (i) => {
      await spawnNode(i);
    },
    killNode,
    nodeOfConnection: async (match) => {
      const live = [...Array(count).keys()].find((i) => isRunning(i));
      if (live === undefined) return undefined;
      const out = await ctl(live, 'list_connections', '--no-table-headers', 'pid', 'peer_port', 'client_properties');
      for (const line of out.split('\n')) {
        const node = /<([^.>]+@[^.>]+)\./.exec(line)?.[1];
        if (!node) continue;
        const peerPort = Number(line.split('\t')[1]);
        const name = /"connection_name",longstr,"([^"]*)"/.exec(line)?.[1] ?? '';
        if (match({ name, node, peerPort })) return nodeNames.indexOf(node);
      }
      return undefined;
    },
    remove,
  };
}
