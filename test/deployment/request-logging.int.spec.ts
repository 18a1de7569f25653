import { spawn } from 'node:child_process';
import path from 'node:path';
import { HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';
import {
  REPO_ROOT,
  TEST_ADMIN_TOKEN,
  type TestDatabase,
  type TestVhost,
  createTestDatabase,
  createTestVhost,
  freePort,
  waitFor,
} from '@herald/testing';

jest.setTimeout(180_000);

/** pino's numeric levels. */
const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/*
 * A service's request log (issue 14, item 5): the dashboard polls a service's API every second or
 * two per open tab, and each poll used to be an info line of about 1 KB with the request headers.
 * Checked on a real agent-presence process logging at debug, so that every request line is written
 * and its level can be read: successful reads at debug (not written at the default info),
 * changes at info, refusals at warn; no line carries a header.
 */
describe('request logging of a service', () => {
  let db: TestDatabase;
  let vhost: TestVhost;
  let output = '';
  let port: number;
  let stop: () => Promise<void>;

  beforeAll(async () => {
    [db, vhost] = await Promise.all([createTestDatabase('reqlog'), createTestVhost('reqlog')]);
    port = await freePort();
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'apps', 'agent-presence', 'src', 'main.js')], {
      env: { PATH: process.env.PATH, DATABASE_URL: db.url, RABBITMQ_URL: vhost.url, LOG_LEVEL: 'debug', AGENT_PRESENCE_PORT: String(port), ADMIN_TOKENS: `tester:${TEST_ADMIN_TOKEN}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    };
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok === true, { timeoutMs: 120_000, what: 'agent-presence to be healthy' });
  });

  afterAll(async () => {
    await stop?.();
    await Promise.allSettled([db?.drop(), vhost?.delete()]);
  });

  /** The request lines written so far (JSON lines with a `req`), by URL. */
  const requestLines = (url: string) =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => ({ line, entry: JSON.parse(line) as { level: number; req?: { url?: string; method?: string }; res?: { statusCode?: number } } }))
      .filter(({ entry }) => entry.req?.url === url && entry.res !== undefined);

  const call = (method: string, url: string, body?: unknown) =>
    fetch(`http://127.0.0.1:${port}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${TEST_ADMIN_TOKEN}`,
        cookie: 'session=cookie-secret-0123456789',
        'user-agent': 'dashboard-poll-test',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('logs successful reads at debug, changes at info, refusals at warn, each line without headers', async () => {
    // An agent to change the privileges of: it says hello over the broker.
    const agent = new HeraldAgent({ agentId: 'reqlog-agent', amqpUrl: vhost.url, store: new MemoryComponentStore([]) });
    await agent.start();
    try {
      await waitFor(async () => (await call('GET', '/agents/reqlog-agent')).status === 200, { timeoutMs: 60_000, what: 'the agent to be registered' });
    } finally {
      await agent.stop();
    }
    expect((await call('PUT', '/agents/reqlog-agent/privileges', { independentMode: true })).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await call('GET', '/agents/summary')).status).toBe(200);
    expect((await call('GET', '/agents/nobody-here')).status).toBe(404);
    expect((await call('PUT', '/agents/nobody-here/privileges', { independentMode: true })).status).toBe(404);
    expect((await call('GET', '/agents?status=sideways')).status).toBe(400);

    await waitFor(() => requestLines('/agents?status=sideways').length === 1, { timeoutMs: 30_000, what: 'the last request to be logged' });
    const polls = requestLines('/agents/summary');
    expect(polls.map(({ entry }) => [entry.level, entry.req?.method, entry.res?.statusCode])).toEqual(Array(5).fill([LEVEL.debug, 'GET', 200]));
    expect(requestLines('/agents/nobody-here').map(({ entry }) => entry.level)).toEqual([LEVEL.warn]);
    expect(requestLines('/agents/nobody-here/privileges').map(({ entry }) => entry.level)).toEqual([LEVEL.warn]);
    expect(requestLines('/agents/reqlog-agent/privileges').map(({ entry }) => [entry.level, entry.res?.statusCode])).toEqual([[LEVEL.info, 200]]);

    const all = [...polls, ...requestLines('/agents/reqlog-agent/privileges'), ...requestLines('/agents/nobody-here'), ...requestLines('/agents/nobody-here/privileges'), ...requestLines('/agents?status=sideways')];
    for (const { line, entry } of all) {
      expect(Object.keys(entry.req!).sort()).toEqual(['id', 'method', 'url']);
      expect(Object.keys(entry.res!)).toEqual(['statusCode']);
      expect(line).not.toMatch(/headers|authorization|cookie|user-agent|dashboard-poll-test/i);
      // A short line: the request's id, method and URL, its status and time, and pino's fields.
      expect(line.length).toBeLessThan(400);
    }
  });
});
