import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { DashboardProcess} from './dashboard-process';
import { startDashboardProcess } from './dashboard-process';
import { REPO_ROOT } from './processes';
import type { TestDatabase} from './postgres';
import { createTestDatabase } from './postgres';
import type { TestVhost} from './rabbitmq';
import { createTestVhost } from './rabbitmq';
import { DEFAULT_START_TIMEOUT_MS, waitFor } from './wait';

export type ServiceName = 'component-download' | 'notification-dispatch' | 'agent-presence';
export const SERVICES: readonly ServiceName[] = ['component-download', 'notification-dispatch', 'agent-presence'];

const PORT_VARIABLE: Record<ServiceName, string> = {
  'component-download': 'COMPONENT_DOWNLOAD_PORT',
  'notification-dispatch': 'NOTIFICATION_DISPATCH_PORT',
  'agent-presence': 'AGENT_PRESENCE_PORT',
};

export interface HeraldSystemOptions {
  /** Extra environment for every service (e.g. UPSTREAM_MANIFEST_URL, HEARTBEAT_TIMEOUT_MS). */
  env?: Record<string, string>;
  label?: string;
  /** Also start the admin dashboard in front of the three services (its URL: `dashboardUrl`). */
  withDashboard?: boolean;
  /** Extra arguments for node when it starts each service (e.g. `--cpu-prof`). */
  nodeArgs?: string[];
  /**
   * How long a service (and the dashboard) may take to answer /health after it is spawned. A
   * quiet machine needs 2–3 s; a loaded one (other test runs, CI neighbours) many times that.
   */
  startTimeoutMs?: number;
  /**
   * The broker to use instead of a fresh vhost on the shared one: e.g. a private cluster's nodes
   * (`privateBroker(cluster)`), whose URLs (comma-separated) the services and agents get.
   */
  broker?: TestVhost;
  /**
   * Run on this database, broker and store instead of fresh ones on the shared servers (fault
   * tests that bring their own, e.g. startPrivatePostgres and startRabbitCluster). stop() still
   * calls `db.drop()` and `vhost.delete()` and empties the store folder.
   */
  infrastructure?: { db: TestDatabase; vhost: TestVhost; storeDir: string };
  /** Ports to use for some services instead of free ones picked at start (e.g. one a private broker's config names). */
  ports?: Partial<Record<ServiceName, number>>;
}

/** SIGKILL, and wait until the process is gone (at once if it already is). */
async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGKILL');
  await gone;
}

/** A private cluster's default vhost as a system's broker: all its nodes' URLs; removing the cluster cleans up. */
export function privateBroker(cluster: { readonly urls: readonly string[] }): TestVhost {
  return {
    name: '/',
    url: cluster.urls.join(','),
    closeAllConnections: () => Promise.reject(new Error('stop a node of the private cluster instead')),
    delete: () => Promise.resolve(),
  };
}

/** Tokens every test system is started with. */
export const TEST_ADMIN_TOKEN = 'test-admin-token-0123456789';
export const TEST_READ_TOKEN = 'test-read-token-0123456789';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * All three Herald services as real processes (the compiled dist/ code), on a database and a
 * vhost of their own. Logs go to test/artifacts/logs/. For e2e tests.
 */
export class HeraldSystem {
  private readonly processes = new Map<ServiceName, ChildProcess>();
  private readonly replicas: ChildProcess[] = [];
  private readonly replicaPorts = new Map<ServiceName, number[]>();
  private readonly replicaByPort = new Map<number, ChildProcess>();
  readonly ports = {} as Record<ServiceName, number>;
  private dashboard: DashboardProcess | null = null;

  private constructor(
    readonly label: string,
    readonly db: TestDatabase,
    readonly vhost: TestVhost,
    readonly storeDir: string,
    private readonly env: Record<string, string>,
    private readonly nodeArgs: string[] = [],
    private readonly startTimeoutMs = DEFAULT_START_TIMEOUT_MS,
  ) {}

  static async start(options: HeraldSystemOptions = {}): Promise<HeraldSystem> {
    const label = options.label ?? 'e2e';
    const [db, vhost, storeDir] = options.infrastructure
      ? [options.infrastructure.db, options.infrastructure.vhost, options.infrastructure.storeDir]
      : await Promise.all([createTestDatabase(label), options.broker ?? createTestVhost(label), mkdtemp(path.join(tmpdir(), 'herald-store-'))]);
    const system = new HeraldSystem(label, db, vhost, storeDir, options.env ?? {}, options.nodeArgs, options.startTimeoutMs);
    for (const name of SERVICES) system.ports[name] = options.ports?.[name] ?? (await freePort());
    // The dashboard needs nothing of the services to start, so it starts beside them. Every start
    // is waited for, failed or not, so that stop() finds each process that did start.
    const started = await Promise.allSettled([...SERVICES.map((name) => system.startService(name)), options.withDashboard ? system.startDashboard() : undefined]);
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await system.stop();
      throw failed.reason;
    }
    return system;
  }

  url(service: ServiceName): string {
    return `http://127.0.0.1:${this.ports[service]}`;
  }

  /** The admin dashboard's base URL; only with `withDashboard`. */
  get dashboardUrl(): string {
    if (!this.dashboard) throw new Error('this system was started without the dashboard (withDashboard: true)');
    return this.dashboard.url;
  }

  /** The process id of each running service (not the replicas): for CPU and memory readings. */
  pids(): Partial<Record<ServiceName, number>> {
    return Object.fromEntries([...this.processes].filter(([, c]) => c.pid !== undefined && c.exitCode === null).map(([name, c]) => [name, c.pid!]));
  }

  /** The broker's URL, or its nodes' URLs comma-separated (a private cluster). */
  get amqpUrl(): string {
    return this.vhost.url;
  }

  /** Starts (or restarts) one service and waits until its /health says it is up. */
  async startService(name: ServiceName): Promise<void> {
    this.processes.set(name, await this.spawnService(name, this.ports[name], name));
  }

  /**
   * Starts another instance of a service on the same database, vhost and store, as a horizontally
   * scaled deployment would; it competes for the same queues. Stopped with the system.
   */
  async startReplica(name: ServiceName): Promise<{ port: number; url: string }> {
    const port = await freePort();
    const child = await this.spawnService(name, port, `${name}-replica-${this.replicas.length + 1}`);
    this.replicas.push(child);
    this.replicaByPort.set(port, child);
    this.replicaPorts.set(name, [...(this.replicaPorts.get(name) ?? []), port]);
    return { port, url: `http://127.0.0.1:${port}` };
  }

  /** Stops one replica (by the port startReplica gave): SIGTERM for a graceful stop, SIGKILL for a crash. */
  async stopReplica(port: number, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.replicaByPort.get(port);
    if (!child) throw new Error(`no replica on port ${port}`);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      await exited;
    }
    for (const [name, ports] of this.replicaPorts) this.replicaPorts.set(name, ports.filter((p) => p !== port));
  }

  replicaUrls(name: ServiceName): string[] {
    return (this.replicaPorts.get(name) ?? []).map((port) => `http://127.0.0.1:${port}`);
  }

  /** The file a service's output (JSON lines) goes to. */
  logFile(name: ServiceName): string {
    return path.join(REPO_ROOT, 'test', 'artifacts', 'logs', `${this.db.name}-${name}.log`);
  }

  private async spawnService(name: ServiceName, port: number, logName: string): Promise<ChildProcess> {
    const logDir = path.join(REPO_ROOT, 'test', 'artifacts', 'logs');
    mkdirSync(logDir, { recursive: true });
    const log = createWriteStream(path.join(logDir, `${this.db.name}-${logName}.log`), { flags: 'a' });
    const child = spawn(process.execPath, ['--enable-source-maps', ...this.nodeArgs, path.join(REPO_ROOT, 'dist', 'apps', name, 'src', 'main.js')], {
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: this.db.url,
        RABBITMQ_URL: this.vhost.url,
        LOG_LEVEL: 'debug',
        COMPONENT_STORE_DIR: this.storeDir,
        PUBLIC_BASE_URL: this.url('component-download'),
        UPSTREAM_CHECK_INTERVAL_MS: '0',
        OUTBOX_POLL_INTERVAL_MS: '100',
        ADMIN_TOKENS: `tester:${TEST_ADMIN_TOKEN}`,
        READ_TOKENS: `viewer:${TEST_READ_TOKEN}`,
        ...this.env,
        [PORT_VARIABLE[name]]: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.pipe(log);
    child.stderr!.pipe(log);
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`${logName} exited with ${code} while starting`))));
    exited.catch(() => undefined);
    try {
      await Promise.race([
        exited,
        waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok, { timeoutMs: this.startTimeoutMs, intervalMs: 100, what: `${logName} to be healthy` }),
      ]);
    } catch (err) {
      // Not registered yet, so stop() would not find it: a child left running keeps Jest from exiting.
      await killAndWait(child);
      throw err;
    }
    return child;
  }

  private async startDashboard(): Promise<void> {
    this.dashboard = await startDashboardProcess({
      services: { 'component-download': this.url('component-download'), 'notification-dispatch': this.url('notification-dispatch'), 'agent-presence': this.url('agent-presence') },
      port: await freePort(),
      logName: `${this.db.name}-dashboard`,
      env: this.env,
      startTimeoutMs: this.startTimeoutMs,
    });
  }

  /** Stops one service: SIGTERM for a graceful stop, SIGKILL for a crash. */
  async stopService(name: ServiceName, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.processes.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    await exited;
    this.processes.delete(name);
  }

  async stop(): Promise<void> {
    await this.dashboard?.stop();
    await Promise.all([
      ...SERVICES.map((name) => this.stopService(name, 'SIGTERM')),
      ...this.replicas.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }),
    ]);
    await Promise.allSettled([this.db.drop(), this.vhost.delete(), rm(this.storeDir, { recursive: true, force: true })]);
  }

  /** Calls a service's API, with the admin token unless `token` says otherwise (null: none). */
  async http<T = unknown>(
    service: ServiceName,
    method: string,
    urlPath: string,
    body?: unknown,
    token: string | null = TEST_ADMIN_TOKEN,
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${this.url(service)}${urlPath}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON (metrics, HTML): the text as it is
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  /** Runs SQL against the system's database (to look into the services' event stores). */
  async sql<T = Record<string, unknown>>(query: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.db.url });
    await client.connect();
    try {
      return (await client.query(query, params)).rows as T[];
    } finally {
      await client.end();
    }
  }
}
