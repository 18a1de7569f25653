import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateUpstreamKeys } from '@herald/contracts';
import { REPO_ROOT, type TestDatabase, type TestVhost, createTestDatabase, createTestVhost, freePort, waitFor } from '@herald/testing';

jest.setTimeout(120_000);

/*
 * No secret is ever printed (issue 14), checked on the real processes: each service started with
 * secrets in every secret-bearing setting, through each path that prints (a configuration error,
 * a database or broker it cannot reach, its logs at trace level while it works, its error
 * answers and its metrics), and everything it wrote grepped for the secrets.
 */

const S = {
  admin: 'Adm1nTokenAlphaBravoCharlie0001',
  shortAdmin: 'shortAdm1n',
  read: 'ReadTokenGolfHotelIndiaJuliet01',
  metrics: 'Metr1csTokenKiloLimaMike00001',
  dbPassword: 'Pg-Pa55w0rd-November',
  mqPassword: 'Mq-Pa55w0rd-Oscar',
  mqPassword2: 'Mq-Pa55w0rd-Papa',
  upstreamPassword: 'Up-Pa55w0rd-Quebec',
};
const secrets = Object.values(S);
const leaks = (text: string) => secrets.filter((s) => text.includes(s) || text.includes(encodeURIComponent(s)));

const APPS = ['component-download', 'notification-dispatch', 'agent-presence'] as const;
const PORT_VARIABLE = { 'component-download': 'COMPONENT_DOWNLOAD_PORT', 'notification-dispatch': 'NOTIFICATION_DISPATCH_PORT', 'agent-presence': 'AGENT_PRESENCE_PORT', dashboard: 'DASHBOARD_PORT' };

interface Run {
  output: () => string;
  exited: Promise<number | null>;
  stop: () => Promise<void>;
}

function start(app: keyof typeof PORT_VARIABLE, env: Record<string, string>): Run {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'apps', app, 'src', 'main.js')], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => out,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

const tokens = {
  ADMIN_TOKENS: `alice:${S.admin}`,
  READ_TOKENS: `viewer:${S.read}`,
  METRICS_TOKEN: S.metrics,
};

describe('secrets in the output of the real processes', () => {
  it.each([...APPS, 'dashboard' as const])('%s: a configuration error names the settings and prints none of their secrets', async (app) => {
    const env: Record<string, string> =
      app === 'dashboard'
        ? { COMPONENT_DOWNLOAD_URL: `ftp://cd:${S.upstreamPassword}@cd:3001`, AGENT_PRESENCE_URL: `ftp://ap:${S.mqPassword}@ap:3003` }
        : {
            ADMIN_TOKENS: `alice:${S.admin},ci:${S.shortAdmin}`,
            READ_TOKENS: `${S.read},${S.shortAdmin}x`,
            METRICS_TOKEN: 'short-metrics',
            DATABASE_URL: `mysql://herald:${S.dbPassword}@db/herald`,
            RABBITMQ_URL: `amqq://herald:${S.mqPassword}@mq1:5672,amqp://herald:${S.mqPassword2}@mq2:5672`,
            ...(app === 'component-download' ? { UPSTREAM_MANIFEST_URL: `ftp://mirror:${S.upstreamPassword}@upstream.example/manifest.json` } : {}),
          };
    const run = start(app, env);
    expect(await run.exited).toBe(1);
    const output = run.output();
    expect(output).toContain('invalid configuration');
    for (const key of Object.keys(env)) expect(output).toContain(`${key}:`);
    expect(leaks(output)).toEqual([]);
  });

  it.each(APPS)('%s: a database and a broker it cannot reach are named without their passwords, at every log level', async (app) => {
    const [dbPort, mqPort, port] = await Promise.all([freePort(), freePort(), freePort()]);
    const run = start(app, {
      ...tokens,
      DATABASE_URL: `postgres://herald:${S.dbPassword}@127.0.0.1:${dbPort}/herald`,
      RABBITMQ_URL: `amqp://herald:${S.mqPassword}@127.0.0.1:${mqPort}`,
      STARTUP_TIMEOUT_MS: '1000',
      LOG_LEVEL: 'trace',
      [PORT_VARIABLE[app]]: String(port),
    });
    expect(await run.exited).toBe(1);
    const output = run.output();
    expect(output).toMatch(/cannot reach RabbitMQ at amqp:\/\/herald:\*\*\*@127\.0\.0\.1|cannot use PostgreSQL at postgres:\/\/herald:\*\*\*@127\.0\.0\.1/);
    expect(leaks(output)).toEqual([]);
  });

  describe('component-download at work', () => {
    let db: TestDatabase;
    let vhost: TestVhost;
    let run: Run | undefined;
    let storeDir: string;

    beforeAll(async () => {
      [db, vhost, storeDir] = await Promise.all([createTestDatabase('secrets'), createTestVhost('secrets'), mkdtemp(path.join(tmpdir(), 'herald-secrets-'))]);
    });
    afterAll(async () => {
      await run?.stop();
      await Promise.all([db?.drop(), vhost?.delete(), storeDir && rm(storeDir, { recursive: true, force: true })]);
    });

    it('logs, answers and exposes metrics without a secret, though its upstream URL has credentials and it logs at trace', async () => {
      const [port, upstreamPort] = await Promise.all([freePort(), freePort()]);
      // PostgreSQL here trusts local connections: the password is carried but never asked for.
      const dbUrl = new URL(db.url);
      dbUrl.username = 'postgres';
      dbUrl.password = S.dbPassword;
      run = start('component-download', {
        ...tokens,
        DATABASE_URL: dbUrl.toString(),
        RABBITMQ_URL: vhost.url,
        LOG_LEVEL: 'trace',
        COMPONENT_DOWNLOAD_PORT: String(port),
        COMPONENT_STORE_DIR: storeDir,
        UPSTREAM_MANIFEST_URL: `http://mirror:${S.upstreamPassword}@127.0.0.1:${upstreamPort}/manifest.json`,
        UPSTREAM_PUBLIC_KEY: generateUpstreamKeys().publicKeyRaw,
        UPSTREAM_CHECK_INTERVAL_MS: '0',
      });
      const base = `http://127.0.0.1:${port}`;
      await waitFor(async () => (await fetch(`${base}/health`)).ok, { timeoutMs: 60_000, intervalMs: 200, what: 'component-download to be healthy' });

      const check = await fetch(`${base}/components/check`, { method: 'POST', headers: { authorization: `Bearer ${S.admin}` } });
      expect(check.status).toBe(200);
      const report = await check.text();
      expect(report).toContain('upstream manifest unavailable');
      expect(leaks(report)).toEqual([]);

      const denied = await fetch(`${base}/components`, { headers: { authorization: `Bearer ${S.read}x` } });
      expect(denied.status).toBe(401);
      expect(leaks(await denied.text())).toEqual([]);
      const listed = await fetch(`${base}/components`, { headers: { authorization: `Bearer ${S.read}` } });
      expect(listed.status).toBe(200);
      // A token pasted into a query string lands in the request log: the line is masked as it is written.
      const pasted = await fetch(`${base}/components?token=${S.admin}`, { headers: { authorization: `Bearer ${S.read}` } });
      expect(pasted.status).toBe(200);

      const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${S.metrics}` } });
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      expect(text).toContain('herald_component_rejections_total');
      expect(leaks(text)).toEqual([]);

      await run.stop();
      const output = run.output();
      // It did log the upstream and the requests, masked.
      expect(output).toContain('mirror:***@127.0.0.1');
      expect(output).toContain('"url":"/components/check"');
      expect(output).toContain('"url":"/components?token=***"');
      expect(leaks(output)).toEqual([]);
    });
  });
});
