import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HeraldSystem, type PrivatePostgres, type TestVhost, UpstreamFixture, createTestVhost, startPrivatePostgres, waitFor } from '@herald/testing';

jest.setTimeout(240_000);

/**
 * PostgreSQL goes away under running services (a restart, a failover): HTTP requests that need it
 * answer 503 with Retry-After, which agents and scripts wait out, instead of 500, which the
 * agent takes for a failed update; the services stay up and answer normally once it is back,
 * without a restart. On a PostgreSQL cluster of the test's own (never the shared one).
 */
describe('PostgreSQL away (e2e)', () => {
  const upstream = new UpstreamFixture();
  let pg: PrivatePostgres;
  let vhost: TestVhost;
  let storeDir: string;
  let system: HeraldSystem;

  beforeAll(async () => {
    pg = await startPrivatePostgres({ name: 'herald-dbout' });
    vhost = await createTestVhost('dbout');
    storeDir = await mkdtemp(path.join(tmpdir(), 'herald-store-'));
    await upstream.start();
    const name = 'herald_dbout';
    system = await HeraldSystem.start({
      label: 'dbout',
      env: { UPSTREAM_MANIFEST_URL: upstream.manifestUrl, UPSTREAM_PUBLIC_KEY: upstream.publicKey },
      infrastructure: { db: { name, url: await pg.createDatabase(name), drop: async () => undefined }, vhost, storeDir },
    });
  });

  afterAll(async () => {
    await system?.stop();
    await upstream.stop();
    await pg?.remove();
    await rm(storeDir, { recursive: true, force: true });
  });

  const metric = async (service: 'component-download' | 'notification-dispatch', method: string): Promise<number> => {
    const text = await (await fetch(`${system.url(service)}/metrics`)).text();
    return Number(new RegExp(`herald_http_database_unavailable_total\\{[^}]*method="${method}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };

  it('answers 503 with Retry-After while it is away, and serves again when it is back, with no restart', async () => {
    upstream.publish({ type: 'virus-pattern', version: '1.0', content: Buffer.from('pattern 1.0') });
    const check = await system.http<{ downloaded: unknown[] }>('component-download', 'POST', '/components/check');
    expect(check.body.downloaded).toHaveLength(1);
    const download = `${system.url('component-download')}/components/virus-pattern/versions/1.0/download`;
    expect((await fetch(download)).status).toBe(200);
    const pids = system.pids();

    await pg.stop();
    // What an agent asks for: a download (open), and what an admin asks for: the catalog, the rollouts.
    const res = await fetch(download);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toMatchObject({ statusCode: 503, message: expect.stringMatching(/database is unavailable/) });
    const catalog = await system.http('component-download', 'GET', '/components');
    expect(catalog.status).toBe(503);
    expect(catalog.headers.get('retry-after')).toBe('5');
    expect((await system.http('notification-dispatch', 'GET', '/rollouts')).status).toBe(503);
    expect(await metric('component-download', 'GET')).toBeGreaterThanOrEqual(2);
    expect(await metric('notification-dispatch', 'GET')).toBeGreaterThanOrEqual(1);
    // Metrics still answer (they matter most now); what needs PostgreSQL reads NaN, and says why.
    const scrape = await (await fetch(`${system.url('notification-dispatch')}/metrics`)).text();
    expect(scrape).toMatch(/^herald_outbox_pending\{[^}]*\} nan$/im); // prom-client writes NaN as "Nan"
    expect(scrape).toMatch(/^herald_metric_collect_failures_total\{[^}]*metric="herald_outbox_pending"[^}]*\} [1-9]/m);
    // A request that is wrong stays a 4xx whatever the database does.
    expect((await fetch(`${system.url('component-download')}/components/Not A Type/versions/1.0/download`)).status).toBe(400);

    await pg.start();
    await waitFor(async () => (await fetch(download)).status === 200, { what: 'downloads to be served again', timeoutMs: 60_000 });
    expect((await system.http('component-download', 'GET', '/components')).status).toBe(200);
    expect((await system.http('notification-dispatch', 'GET', '/rollouts')).status).toBe(200);
    expect(system.pids()).toEqual(pids);
  });
});
