import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { HeraldSystem, UpstreamFixture, waitFor } from '@herald/testing';

jest.setTimeout(120_000);

const TYPE = 'wait-pattern';
const PATCH_WAIT_MS = 4_000;

/**
 * A version is announced as soon as it is kept, and its patches are built just after. An agent
 * asking for a patch in between is told to retry in a second instead of being handed the full
 * file; once PATCH_WAIT_MS has passed it gets the full file; once the patch exists, the patch.
 * The test holds the patch builder's lock to keep the patch from being built while it looks.
 */
describe('a patch being built', () => {
  const upstream = new UpstreamFixture();
  let system: HeraldSystem;
  let holder: Client;

  beforeAll(async () => {
    await upstream.start();
    system = await HeraldSystem.start({
      label: 'patchwait',
      env: { UPSTREAM_MANIFEST_URL: upstream.manifestUrl, UPSTREAM_PUBLIC_KEY: upstream.publicKey, PATCH_WAIT_MS: String(PATCH_WAIT_MS) },
    });
    holder = new Client({ connectionString: system.db.url });
    await holder.connect();
  });
  afterAll(async () => {
    await holder?.end().catch(() => undefined);
    await system?.stop();
    await upstream.stop();
  });

  const download = (query: string) => fetch(`${system.url('component-download')}/components/${TYPE}/versions/1.1.0/download${query}`);

  it('answers 503 + Retry-After: 1 while the patch is being built, the full file after PATCH_WAIT_MS, then the patch', async () => {
    const v1 = randomBytes(64 * 1024);
    upstream.publish({ type: TYPE, version: '1.0.0', content: v1 });
    expect((await system.http('component-download', 'POST', '/components/check')).status).toBe(200);

    // The patch builder works on a type under this lock (PatchMaintainer); holding it keeps 1.1.0's patches unbuilt.
    await holder.query(`SELECT pg_advisory_lock(hashtext($1))`, [`herald:patches:${TYPE}`]);
    const v2 = Buffer.concat([v1.subarray(0, 60_000), randomBytes(100), v1.subarray(60_000)]);
    upstream.publish({ type: TYPE, version: '1.1.0', content: v2 });
    expect((await system.http('component-download', 'POST', '/components/check')).status).toBe(200);
    const keptAt = Date.now();

    const waiting = await download('?from=1.0.0');
    expect(waiting.status).toBe(503);
    expect(waiting.headers.get('retry-after')).toBe('1');
    expect(await waiting.json()).toMatchObject({ message: expect.stringMatching(/patch from 1\.0\.0 to 1\.1\.0 is being built/) });

    // Asking for the full file, or from a version no patch will start from, never waits.
    const full = await download('');
    expect(full.status).toBe(200);
    expect(full.headers.get('x-herald-delivery')).toBe('full');
    await full.arrayBuffer();
    const unknownBase = await download('?from=0.9.0');
    expect(unknownBase.status).toBe(200);
    expect(unknownBase.headers.get('x-herald-delivery')).toBe('full');
    await unknownBase.arrayBuffer();

    // After PATCH_WAIT_MS the agent gets the full file rather than waiting longer.
    await new Promise((r) => setTimeout(r, Math.max(0, keptAt + PATCH_WAIT_MS + 500 - Date.now())));
    const late = await download('?from=1.0.0');
    expect(late.status).toBe(200);
    expect(late.headers.get('x-herald-delivery')).toBe('full');
    await late.arrayBuffer();

    // Let go of the lock; the builder runs again when component-download starts, and the patch is served.
    await holder.query(`SELECT pg_advisory_unlock(hashtext($1))`, [`herald:patches:${TYPE}`]);
    await system.stopService('component-download');
    await system.startService('component-download');
    await waitFor(
      async () => {
        const res = await download('?from=1.0.0');
        await res.arrayBuffer();
        return res.status === 200 && res.headers.get('x-herald-delivery') === 'incremental';
      },
      { what: 'the patch from 1.0.0 to be served', timeoutMs: 30_000 },
    );
  });
});
