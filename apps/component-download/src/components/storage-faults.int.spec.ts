import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { open, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import pino from 'pino';
import { connectHeraldTransport } from '@herald/messaging';
import { ServiceConfigModule } from '@herald/platform';
import { type TestDatabase, type TestVhost, TEST_ADMIN_TOKEN, Tmpfs, UpstreamFixture, createTestDatabase, createTestVhost, waitFor } from '@herald/testing';
import { ComponentDownloadModule } from '../app.module';
import { ComponentDownloadConfig } from '../config';
import { downloadResumable } from './check-upstream/resumable-download';
import { PatchMaintainer } from './keep-versions/patch-maintainer';

jest.setTimeout(120_000);

const TYPE = 'virus-pattern';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

@Module({})
class Host {}

interface CheckReport {
  downloaded: Array<{ version: string }>;
  rejected: Array<{ version: string; reason: string; detail: string }>;
}

/**
 * Issue 13, item 2: the component store on a real file system of the test's own (a tmpfs), made
 * read-only, full, and with files removed or damaged, under component-download running in this
 * process on a real database and broker. Nothing may escape as an uncaught exception.
 */
describe('component store faults (tmpfs, service in-process)', () => {
  let store: Tmpfs;
  let db: TestDatabase;
  let vhost: TestVhost;
  let app: NestExpressApplication | undefined;
  let base = '';
  const upstream = new UpstreamFixture();
  const escaped: unknown[] = [];
  const onEscape = (err: unknown) => escaped.push(err);

  const http = async (method: string, urlPath: string) => {
    const res = await fetch(`${base}${urlPath}`, { method, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    const buf = Buffer.from(await res.arrayBuffer());
    let body: unknown = buf;
    if ((res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(buf.toString());
    else if ((res.headers.get('content-type') ?? '').startsWith('text/')) body = buf.toString();
    return { status: res.status, body, headers: res.headers };
  };
  const check = async () => {
    const res = await http('POST', '/components/check');
    expect(res.status).toBe(200);
    return res.body as CheckReport;
  };
  const download = (version: string, from?: string) => http('GET', `/components/${TYPE}/versions/${version}/download${from ? `?from=${from}` : ''}`);
  const metric = async (line: string) => {
    const text = (await http('GET', '/metrics')).body as string;
    const found = text.split('\n').find((l) => l.startsWith(line));
    return found ? Number(found.slice(line.length).trim()) : 0;
  };
  const faults = (kind: string, operation: string) => metric(`herald_storage_faults_total{kind="${kind}",operation="${operation}",service="component-download"}`);
  const ready = async () => http('GET', '/health/ready') as Promise<{ status: number; body: { details: { componentStore: { status: string; fault?: string; message?: string } } } }>;
  const idle = () => app!.get(PatchMaintainer).idle();

  // Versions: 1.0.1 is 1.0.0 with a few bytes changed; 1.0.2 is 1.0.1 with 1.2 MB added.
  const v100 = randomBytes(300_000);
  const v101 = Buffer.from(v100);
  v101.write('changed', 1000);
  const v102 = Buffer.concat([v101, randomBytes(1_200_000)]);
  const v103 = Buffer.concat([v102.subarray(0, 1_000_000), Buffer.from('the fourth'), v102.subarray(1_000_000)]);

  beforeAll(async () => {
    process.on('uncaughtException', onEscape);
    process.on('unhandledRejection', onEscape);
    store = await Tmpfs.mount('8m', 'int');
    [db, vhost] = await Promise.all([createTestDatabase('store'), createTestVhost('store'), upstream.start()]);
    const config = ComponentDownloadConfig.parse({
      DATABASE_URL: db.url,
      RABBITMQ_URL: vhost.url,
      LOG_LEVEL: 'silent',
      COMPONENT_STORE_DIR: store.dir,
      UPSTREAM_MANIFEST_URL: upstream.manifestUrl,
      UPSTREAM_PUBLIC_KEY: upstream.publicKey,
      UPSTREAM_CHECK_INTERVAL_MS: '0',
      UPSTREAM_TIMEOUT_MS: '10000',
      STORE_PROBE_INTERVAL_MS: '200',
      STORE_RETRY_AFTER_SECONDS: '7',
      PATCH_WINDOW: '1',
      OUTBOX_POLL_INTERVAL_MS: '100',
      ADMIN_TOKENS: `tester:${TEST_ADMIN_TOKEN}`,
    });
    app = await NestFactory.create<NestExpressApplication>({ module: Host, imports: [ServiceConfigModule.forRoot(config), ComponentDownloadModule] }, { logger: false });
    connectHeraldTransport(app);
    await app.init();
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await app?.close().catch(() => undefined);
    await upstream.stop();
    await Promise.allSettled([db?.drop(), vhost?.delete()]);
    await store?.unmount();
    process.off('uncaughtException', onEscape);
    process.off('unhandledRejection', onEscape);
  });

  afterEach(() => {
    expect(escaped).toEqual([]);
  });

  it('read-only: the check fails with a recorded reason, kept versions still download, ready says why; after remount rw the next check succeeds', async () => {
    upstream.publish({ type: TYPE, version: '1.0.0', content: v100 });
    expect((await check()).downloaded.map((d) => d.version)).toEqual(['1.0.0']);
    await idle();

    await store.readOnly();
    upstream.publish({ type: TYPE, version: '1.0.1', content: v101 });
    const refused = await check();
    expect(refused.downloaded).toEqual([]);
    expect(refused.rejected).toEqual([{ componentType: TYPE, version: '1.0.1', reason: 'store-unavailable', detail: expect.stringContaining('read-only') }]);
    const recorded = (await http('GET', '/components/rejections')).body as { rejections: Array<{ version: string; reason: string; detail: string }> };
    expect(recorded.rejections[0]).toMatchObject({ version: '1.0.1', reason: 'store-unavailable', detail: expect.stringContaining('EROFS') });

    // Still up, and what it holds is served.
    expect((await http('GET', '/health')).status).toBe(200);
    const got = await download('1.0.0');
    expect(got.status).toBe(200);
    expect(sha256(got.body as Buffer)).toBe(sha256(v100));

    const notReady = await ready();
    expect(notReady.status).toBe(503);
    expect(notReady.body.details.componentStore).toMatchObject({ status: 'down', fault: 'read-only', message: expect.stringContaining('read-only') });
    expect(await faults('read-only', 'check')).toBe(1);
    expect(await metric('herald_component_store_writable{service="component-download"}')).toBe(0);
    expect(await metric('herald_component_rejections_total{reason="store-unavailable",service="component-download"}')).toBe(1);

    // The disk comes back: no restart, the very next check keeps the version.
    await store.writable();
    expect((await check()).downloaded.map((d) => d.version)).toEqual(['1.0.1']);
    expect((await ready()).status).toBe(200);
    expect(await metric('herald_component_store_writable{service="component-download"}')).toBe(1);
    await idle();
    const latest = (await http('GET', '/components')).body as { components: Array<{ version: string; patchesFrom: string[] }> };
    expect(latest.components).toEqual([expect.objectContaining({ version: '1.0.1', patchesFrom: ['1.0.0'] })]);
  });

  it('full: a file bigger than the free space fails the check cleanly (partial file removed); after space is freed the next check keeps it', async () => {
    const filler = await store.fill(600_000);
    const published = upstream.publish({ type: TYPE, version: '1.0.2', content: v102 });
    const refused = await check();
    expect(refused.downloaded).toEqual([]);
    expect(refused.rejected).toEqual([{ componentType: TYPE, version: '1.0.2', reason: 'store-unavailable', detail: expect.stringContaining('full') }]);
    expect(await readdir(path.join(store.dir, 'partial'))).toEqual([]);
    await expect(stat(path.join(store.dir, 'sha256', published.sha256))).rejects.toThrow();
    expect(await faults('full', 'check')).toBe(1);
    expect((await http('GET', '/health')).status).toBe(200);
    // What it downloaded is given back: small writes succeed, so the store is ready.
    await waitFor(async () => (await ready()).status === 200, { what: 'ready with 600 KB free' });

    await rm(filler);
    expect((await check()).downloaded.map((d) => d.version)).toEqual(['1.0.2']);
    await idle();
  });

  it('no space at all: ready is down with "full" until space is freed, then up again by the probe alone', async () => {
    const filler = await store.fill(0);
    await waitFor(async () => (await ready()).body.details.componentStore.fault === 'full', { what: 'ready to report a full store' });
    expect((await ready()).status).toBe(503);
    upstream.publish({ type: TYPE, version: '1.0.3', content: v103 });
    expect((await check()).rejected).toEqual([{ componentType: TYPE, version: '1.0.3', reason: 'store-unavailable', detail: expect.stringContaining('full') }]);
    expect((await download('1.0.2')).status).toBe(200);

    await rm(filler);
    await waitFor(async () => (await ready()).status === 200, { what: 'ready once space is freed' });
    expect((await check()).downloaded.map((d) => d.version)).toEqual(['1.0.3']);
    await idle();
  });

  it('a kept file missing from the store: 410 for that download, recorded, counted; others still served', async () => {
    await rm(path.join(store.dir, 'sha256', sha256(v100)));
    const gone = await download('1.0.0');
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ statusCode: 410, fault: 'missing' });
    expect((await download('1.0.0')).status).toBe(410);
    expect((await download('1.0.3')).status).toBe(200);
    const recorded = (await http('GET', '/components/file-faults')).body as { faults: unknown[] };
    // Recorded once, however many agents asked.
    expect(recorded.faults).toEqual([expect.objectContaining({ componentType: TYPE, version: '1.0.0', patchFrom: null, sha256: sha256(v100), fault: 'missing' })]);
    expect(await faults('missing', 'download')).toBe(2);
    expect((await http('GET', '/health')).status).toBe(200);
  });

  it('a kept file damaged on disk is not served (410, recorded); a damaged patch gives way to the full file', async () => {
    const damage = async (file: string) => {
      const fh = await open(file, 'r+');
      await fh.write(Buffer.from('XX'), 0, 2, 10);
      await fh.close();
    };
    await damage(path.join(store.dir, 'sha256', sha256(v101)));
    const bad = await download('1.0.1');
    expect(bad.status).toBe(410);
    expect(bad.body).toMatchObject({ fault: 'corrupt' });

    const versions = (await http('GET', `/components/${TYPE}/versions`)).body as { patches: Array<{ fromVersion: string; toVersion: string; sha256: string; format: string }> };
    // The one served without `formats` (an agent from before protocol 1.3).
    const patch = versions.patches.find((p) => p.fromVersion === '1.0.2' && p.toVersion === '1.0.3' && p.format === 'herald-delta-1')!;
    expect(patch).toBeDefined();
    expect((await download('1.0.3', '1.0.2')).headers.get('x-herald-delivery')).toBe('incremental');
    await damage(path.join(store.dir, 'sha256', patch.sha256));
    const instead = await download('1.0.3', '1.0.2');
    expect(instead.status).toBe(200);
    expect(instead.headers.get('x-herald-delivery')).toBe('full');
    expect(sha256(instead.body as Buffer)).toBe(sha256(v103));

    const recorded = (await http('GET', '/components/file-faults')).body as { faults: unknown[] };
    expect(recorded.faults.slice(0, 2)).toEqual([
      expect.objectContaining({ version: '1.0.3', patchFrom: '1.0.2', sha256: patch.sha256, fault: 'corrupt' }),
      expect.objectContaining({ version: '1.0.1', patchFrom: null, sha256: sha256(v101), fault: 'corrupt' }),
    ]);
    expect(await faults('corrupt', 'download')).toBe(2);
    expect((await http('GET', '/health')).status).toBe(200);
  });
});

/** The stream that crashed the service (issue 13): an upstream download into a read-only or full store. */
describe('resumable download into a faulty store (tmpfs)', () => {
  let store: Tmpfs;
  let server: Server;
  let url: URL;
  const body = randomBytes(1_000_000);
  const log = pino({ level: 'silent' });
  const escaped: unknown[] = [];
  const onEscape = (err: unknown) => escaped.push(err);
  const fetchInto = (partialPath: string) =>
    downloadResumable({ url, expected: { size: body.length, sha256: sha256(body) }, partialPath, attempts: 3, idleTimeoutMs: 10_000, log });

  beforeAll(async () => {
    process.on('uncaughtException', onEscape);
    store = await Tmpfs.mount('2m', 'resume');
    server = createServer((_req, res) => res.end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/file`);
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await store?.unmount();
    process.off('uncaughtException', onEscape);
  });

  it('read-only: store-unavailable, not an exception', async () => {
    await store.readOnly();
    try {
      expect(await fetchInto(path.join(store.dir, 'partial'))).toMatchObject({ ok: false, reason: 'store-unavailable', fault: 'read-only', detail: expect.stringContaining('EROFS') });
    } finally {
      await store.writable();
    }
    expect(escaped).toEqual([]);
  });

  it('full mid-transfer: store-unavailable, the partial file removed', async () => {
    const filler = await store.fill(300_000);
    const partial = path.join(store.dir, 'partial');
    expect(await fetchInto(partial)).toMatchObject({ ok: false, reason: 'store-unavailable', fault: 'full', detail: expect.stringContaining('ENOSPC') });
    await expect(stat(partial)).rejects.toThrow();
    await rm(filler);
    expect(await fetchInto(partial)).toMatchObject({ ok: true, sha256: sha256(body) });
    expect(escaped).toEqual([]);
  });
});
