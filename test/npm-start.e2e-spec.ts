import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestDatabase, TestVhost} from '@herald/testing';
import { REPO_ROOT, createTestDatabase, createTestVhost, freePort, waitFor } from '@herald/testing';

// A service that cannot start is tried three times (npm start restarts it twice) before the stack stops.
jest.setTimeout(240_000);

/** `npm start`, as the README tells a new user to run it. */
describe('npm start', () => {
  let db: TestDatabase;
  let vhost: TestVhost;
  let store: string;

  beforeAll(async () => {
    [db, vhost, store] = await Promise.all([createTestDatabase('start'), createTestVhost('start'), mkdtemp(path.join(tmpdir(), 'herald-start-'))]);
  });
  afterAll(async () => {
    await Promise.allSettled([db.drop(), vhost.delete(), rm(store, { recursive: true, force: true })]);
  });

  async function npmStart(env: Record<string, string>) {
    // The dashboard listens at once, before any service has connected anywhere: a port of its
    // own keeps it from failing on a busy default port and taking the others down with it.
    const dashboardPort = String(await freePort());
    const child = spawn('npm', ['start', '--silent'], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, COMPONENT_STORE_DIR: store, LOG_LEVEL: 'warn', DASHBOARD_PORT: dashboardPort, ...env },
      detached: true, // its own process group, so the whole tree can be signalled
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return { child, exited, output: () => output };
  }

  /** The live processes of `npm start`'s process group: pid and command line. */
  function processesOf(group: number): Array<{ pid: number; args: string }> {
    return execFileSync('ps', ['-eo', 'pid=,pgid=,stat=,args='], { encoding: 'utf8' })
      .split('\n')
      .map((line) => /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line))
      .filter((m): m is RegExpExecArray => m !== null && Number(m[2]) === group && !m[3]!.startsWith('Z'))
      .map((m) => ({ pid: Number(m[1]), args: m[4]!.trim() }));
  }

  /** Process ids of `npm start`'s processes running `script`. */
  function pidsOf(group: number, script: string): number[] {
    return processesOf(group)
      .filter((p) => p.args === `node ${script}`)
      .map((p) => p.pid);
  }

  it('starts all three services and the dashboard to healthy with one command, restarts one that dies without stopping the others, and stops them on SIGTERM', async () => {
    const ports = { download: await freePort(), dispatch: await freePort(), presence: await freePort(), dashboard: await freePort() };
    const run = await npmStart({
      DATABASE_URL: db.url,
      RABBITMQ_URL: vhost.url,
      COMPONENT_DOWNLOAD_PORT: String(ports.download),
      NOTIFICATION_DISPATCH_PORT: String(ports.dispatch),
      AGENT_PRESENCE_PORT: String(ports.presence),
      DASHBOARD_PORT: String(ports.dashboard),
      COMPONENT_DOWNLOAD_URL: `http://127.0.0.1:${ports.download}`,
      NOTIFICATION_DISPATCH_URL: `http://127.0.0.1:${ports.dispatch}`,
      AGENT_PRESENCE_URL: `http://127.0.0.1:${ports.presence}`,
    });
    try {
      for (const port of Object.values(ports)) {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`)).status === 200, { timeoutMs: 60_000, what: `port ${port} healthy` });
      }
      // The dashboard reaches the services it was pointed at.
      const health = (await (await fetch(`http://127.0.0.1:${ports.dashboard}/health`)).json()) as { services: Record<string, { status: string }> };
      expect(health.services).toEqual({ 'component-download': { status: 'up' }, 'notification-dispatch': { status: 'up' }, 'agent-presence': { status: 'up' } });

      // A service that dies (here: killed) is started again; the others keep running, untouched.
      const group = run.child.pid!;
      const script = (name: string) => `dist/apps/${name}/src/main.js`;
      const others = ['component-download', 'notification-dispatch', 'dashboard'].map((name) => ({ name, pids: pidsOf(group, script(name)) }));
      const [presence] = pidsOf(group, script('agent-presence'));
      expect(presence).toBeDefined();
      expect(others.every((o) => o.pids.length === 1)).toBe(true);
      process.kill(presence!, 'SIGKILL');
      await waitFor(() => pidsOf(group, script('agent-presence')).some((pid) => pid !== presence), { timeoutMs: 30_000, what: 'agent-presence to be started again' });
      await waitFor(async () => (await fetch(`http://127.0.0.1:${ports.presence}/health`)).status === 200, { timeoutMs: 60_000, what: 'agent-presence healthy again' });
      for (const o of others) expect({ name: o.name, pids: pidsOf(group, script(o.name)) }).toEqual(o);
      for (const port of [ports.download, ports.dispatch, ports.dashboard]) expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      expect(run.output()).toMatch(/agent-presence\/src\/main\.js restarted/);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${run.output()}`, { cause: err });
    } finally {
      process.kill(-run.child.pid!, 'SIGTERM');
    }
    await run.exited;
    // npm itself may exit first; the services finish their graceful shutdown after it.
    await waitFor(() => processesOf(run.child.pid!).length === 0, { timeoutMs: 60_000, what: 'every process of npm start to exit' });
    for (const port of Object.values(ports)) {
      await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    }
  });

  it('says in one clear line that the broker cannot be reached, and exits non-zero', async () => {
    const run = await npmStart({ DATABASE_URL: db.url, RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:1', STARTUP_TIMEOUT_MS: '1000' });
    const code = await run.exited;
    expect(code).not.toBe(0);
    // The password is never shown (here it equals the user name, so both are masked).
    expect(run.output()).toMatch(/: cannot reach RabbitMQ at amqp:\/\/[^\s:@]+:\*\*\*@127\.0\.0\.1:1\/?[^\n]*ECONNREFUSED/);
    expect(run.output()).not.toContain('guest:guest');
  });

  it('says so when the database cannot be reached', async () => {
    const run = await npmStart({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/herald', RABBITMQ_URL: vhost.url, STARTUP_TIMEOUT_MS: '1000' });
    expect(await run.exited).not.toBe(0);
    expect(run.output()).toMatch(/: cannot use PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:1\/herald: [^\n]*ECONNREFUSED/);
  });
});
