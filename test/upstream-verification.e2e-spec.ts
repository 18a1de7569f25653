import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type ComponentTarget, type UpstreamManifest, generateUpstreamKeys, parsePublicKey, signManifest, signStatement, verifyStatement } from '@herald/contracts';
import { HeraldAgent, type HeraldAgentEvents, MemoryComponentStore } from '@herald/agent-sdk';
import { CuttingProxy, HeraldSystem, freePort } from '@herald/testing';
import { FolderUpstream } from '../apps/update-source/src/folder-upstream';

jest.setTimeout(120_000);

interface Report {
  manifest?: { manifestVersion: number | null; accepted: boolean; reason?: string };
  downloaded: Array<{ version: string; source: string }>;
  rejected: Array<{ version: string; reason: string; detail: string }>;
  upToDate: string[];
}
interface Rejection {
  scope: string;
  componentType: string | null;
  version: string | null;
  manifestVersion: number | null;
  reason: string;
  detail: string;
}

const TYPE = 'virus-pattern';

/**
 * What component-download does with a hostile or broken upstream (the reference update source
 * behind a proxy that can cut connections): a cut download resumes; a tampered or truncated
 * file, an unsigned or badly signed manifest and an older manifest are each refused, nothing
 * is kept or announced, and the reason is recorded once.
 */
describe('upstream verification', () => {
  let dir: string;
  let upstream: FolderUpstream;
  let server: Server;
  let proxy: CuttingProxy;
  let system: HeraldSystem;
  let agent: HeraldAgent | undefined;

  const check = async () => {
    const res = await system.http<Report>('component-download', 'POST', '/components/check');
    expect(res.status).toBe(200);
    return res.body;
  };
  const rejections = async () => (await system.http<{ rejections: Rejection[] }>('component-download', 'GET', '/components/rejections')).body.rejections;
  const announced = async () =>
    (
      await system.sql<{ version: string }>(
        `SELECT payload->'component'->>'version' AS version FROM component_download.outbox WHERE type = 'component.version-available' ORDER BY id`,
      )
    ).map((r) => r.version);
  const latest = async () => (await system.http<{ components: Array<{ version: string; sha256: string }> }>('component-download', 'GET', '/components')).body.components[0];
  const manifestFile = () => path.join(dir, 'manifest.json');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'herald-upstream-'));
    upstream = new FolderUpstream(dir);
    const port = await freePort();
    server = await upstream.serve(port, '127.0.0.1');
    proxy = await new CuttingProxy(`http://127.0.0.1:${port}`).start();
    system = await HeraldSystem.start({
      label: 'verify',
      env: { UPSTREAM_MANIFEST_URL: `${proxy.baseUrl}/manifest.json`, UPSTREAM_PUBLIC_KEY: await upstream.publicKey(), UPSTREAM_DOWNLOAD_ATTEMPTS: '3' },
    });
    await upstream.publishPattern(TYPE, { bytes: 300_000, patches: false });
    expect((await check()).downloaded.map((d) => d.version)).toEqual(['1.0.0']);
  });

  afterAll(async () => {
    await agent?.stop();
    await system?.stop();
    await proxy?.stop();
    await new Promise((r) => server?.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('resumes a download cut half way from where it stopped', async () => {
    const entry = await upstream.publishPattern(TYPE, { patches: false });
    const filePath = `/files/${TYPE}/${entry.version}`;
    const half = Math.floor(entry.size / 2);
    proxy.cutAfter(filePath, half);

    const report = await check();
    expect(report.downloaded).toEqual([expect.objectContaining({ version: entry.version, source: 'full' })]);
    const tries = proxy.requests.filter((r) => r.path === filePath);
    expect(tries).toHaveLength(2);
    expect(tries[0]).toMatchObject({ range: null, cut: true, sent: half });
    // The second request asks only for the rest, and the rest is all that crosses the wire again.
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(tries[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBe(half);
    expect(tries[1]).toMatchObject({ status: 206, sent: entry.size - resumedAt });
    // What is kept is exactly the upstream's file.
    const kept = await readFile(path.join(system.storeDir, 'sha256', entry.sha256));
    expect(createHash('sha256').update(kept).digest('hex')).toBe(entry.sha256);
    expect(await announced()).toEqual(['1.0.0', entry.version]);
  });

  it('refuses a tampered file: nothing kept or announced, the reason recorded once', async () => {
    const entry = await upstream.publishPattern(TYPE, { patches: false });
    const file = upstream.fileOf(TYPE, entry.version);
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 3)]! ^= 0xff; // same size, one byte changed
    await writeFile(file, bytes);

    const report = await check();
    expect(report.downloaded).toEqual([]);
    expect(report.rejected).toEqual([expect.objectContaining({ version: entry.version, reason: 'digest-mismatch' })]);
    await check(); // the scheduled check would find the same again
    const recorded = (await rejections()).filter((r) => r.version === entry.version);
    expect(recorded).toEqual([expect.objectContaining({ scope: 'component', componentType: TYPE, reason: 'digest-mismatch' })]);
    expect(recorded[0]!.detail).toContain(entry.sha256);
    expect((await latest())!.version).toBe('1.0.1');
    expect(await announced()).not.toContain(entry.version);
    // Neither the store nor the partial area holds the bad bytes.
    const digest = createHash('sha256').update(bytes).digest('hex');
    await expect(readFile(path.join(system.storeDir, 'sha256', digest))).rejects.toThrow();
    await expect(readFile(path.join(system.storeDir, 'partial', entry.sha256))).rejects.toThrow();
  });

  it('refuses a truncated file', async () => {
    const entry = await upstream.publishPattern(TYPE, { patches: false });
    const file = upstream.fileOf(TYPE, entry.version);
    await writeFile(file, (await readFile(file)).subarray(0, Math.floor(entry.size * 0.6)));

    const report = await check();
    expect(report.downloaded).toEqual([]);
    expect(report.rejected).toEqual([expect.objectContaining({ version: entry.version, reason: 'truncated' })]);
    expect((await rejections()).find((r) => r.version === entry.version)).toMatchObject({ reason: 'truncated' });
    expect(await announced()).not.toContain(entry.version);
  });

  it('refuses an unsigned manifest and one signed with another key', async () => {
    const entry = await upstream.publishPattern(TYPE, { patches: false });
    const good = await readFile(manifestFile());
    const state = await upstream.manifest();

    await writeFile(manifestFile(), JSON.stringify(state));
    let report = await check();
    expect(report.manifest).toMatchObject({ accepted: false, reason: 'unsigned', manifestVersion: state.manifestVersion });
    expect(report.downloaded).toEqual([]);

    await writeFile(manifestFile(), JSON.stringify(signManifest(state, generateUpstreamKeys().privateKeyPem)));
    report = await check();
    expect(report.manifest).toMatchObject({ accepted: false, reason: 'bad-signature' });
    expect(report.downloaded).toEqual([]);

    // A payload changed after signing is a bad signature too.
    const envelope = JSON.parse(good.toString()) as { payload: string };
    const forged = { ...state, components: state.components.map((c) => ({ ...c, sha256: '0'.repeat(64) })) };
    await writeFile(manifestFile(), JSON.stringify({ ...envelope, payload: Buffer.from(JSON.stringify(forged)).toString('base64') }));
    await check();
    await check();

    const manifestRejections = (await rejections()).filter((r) => r.scope === 'manifest');
    expect(manifestRejections.map((r) => r.reason)).toEqual(['bad-signature', 'unsigned']);
    expect(manifestRejections[0]).toMatchObject({ componentType: null, manifestVersion: state.manifestVersion });
    expect(await announced()).not.toContain(entry.version);

    await writeFile(manifestFile(), good);
    expect((await check()).downloaded).toEqual([expect.objectContaining({ version: entry.version })]);
  });

  it('refuses an older manifest (rollback), even though it is properly signed', async () => {
    const old = await readFile(manifestFile());
    const oldVersion = (await upstream.manifest()).manifestVersion;
    const entry = await upstream.publishPattern(TYPE, { patches: false });
    const current = await readFile(manifestFile());
    expect((await check()).downloaded).toEqual([expect.objectContaining({ version: entry.version })]);

    await writeFile(manifestFile(), old);
    const report = await check();
    expect(report.manifest).toMatchObject({ accepted: false, reason: 'rollback', manifestVersion: oldVersion });
    expect(report.upToDate).toEqual([]);
    expect((await rejections())[0]).toMatchObject({ scope: 'manifest', reason: 'rollback', manifestVersion: oldVersion });
    expect((await latest())!.version).toBe(entry.version);

    await writeFile(manifestFile(), current);
    expect((await check()).manifest).toMatchObject({ accepted: true });
    const events = await system.sql<{ type: string }>(`SELECT type FROM component_download.events WHERE stream_id = 'upstream-manifest' ORDER BY global_position`);
    expect(events.filter((e) => e.type === 'UpstreamManifestRejected')).toHaveLength(3);
  });
  const announcedTarget = async (version: string) =>
    (
      await system.sql<{ component: ComponentTarget }>(
        `SELECT payload->'component' AS component FROM component_download.outbox WHERE type = 'component.version-available' AND payload->'component'->>'version' = $1`,
        [version],
      )
    )[0]?.component;

  it("announces a kept version with the upstream's signed statement, and an agent that pins the upstream key installs it", async () => {
    const entry = await upstream.publishPattern(TYPE, { patches: false });
    expect((await check()).downloaded).toEqual([expect.objectContaining({ version: entry.version })]);
    const target = await announcedTarget(entry.version);
    expect(target?.statement).toEqual(entry.statement);
    const key = parsePublicKey(await upstream.publicKey());
    expect(verifyStatement(target?.statement, key, target!)).toEqual({
      ok: true,
      statement: { type: TYPE, version: entry.version, sha256: entry.sha256, size: entry.size },
    });

    // Through the whole chain: the version's fact, the update command (R2 on hello), the agent's check.
    agent = new HeraldAgent({
      agentId: 'pinned-1',
      amqpUrl: system.amqpUrl,
      store: new MemoryComponentStore([{ type: TYPE, version: '1.0.0' }]),
      heartbeatIntervalMs: 1_000,
      upstreamPublicKey: await upstream.publicKey(),
    });
    const updated = new Promise<HeraldAgentEvents['updated'][0]>((resolve) => agent!.once('updated', resolve));
    await agent.start();
    expect(await updated).toMatchObject({ outcome: 'completed', components: [{ type: TYPE, fromVersion: '1.0.0', toVersion: entry.version }] });
  });

  it("refuses a manifest entry whose signed statement is not the upstream's or not the entry's (bad-statement)", async () => {
    const entry = await upstream.publishPattern(TYPE, { patches: false });
    const good = await readFile(manifestFile());
    const state = await upstream.manifest();
    const said = { type: TYPE, version: entry.version, sha256: entry.sha256, size: entry.size };
    const key = await upstream.privateKeyPem();
    const rejectedDetails: string[] = [];
    // Signed by another key; then signed by the upstream's key but naming another file.
    for (const statement of [signStatement(said, generateUpstreamKeys().privateKeyPem), signStatement({ ...said, sha256: '0'.repeat(64) }, key)]) {
      const manifest: UpstreamManifest = { ...state, components: state.components.map((c) => (c.version === entry.version ? { ...c, statement } : c)) };
      await writeFile(manifestFile(), JSON.stringify(signManifest(manifest, key)));
      const report = await check();
      expect(report.manifest).toMatchObject({ accepted: true });
      expect(report.downloaded).toEqual([]);
      expect(report.rejected).toEqual([expect.objectContaining({ version: entry.version, reason: 'bad-statement' })]);
      rejectedDetails.push(report.rejected[0]!.detail);
    }
    expect(rejectedDetails).toEqual([expect.stringMatching(/not signed by the upstream key [0-9a-f]{16}$/), expect.stringMatching(/says SHA-256 0{64} \(\d+ bytes\), the entry [0-9a-f]{64}/)]);
    const recorded = (await rejections()).filter((r) => r.version === entry.version && r.reason === 'bad-statement');
    // Recorded once per version and reason, like every refusal.
    expect(recorded.map((r) => r.detail)).toEqual([expect.stringMatching(/the entry's signed statement: the statement is not signed by the upstream key/)]);
    expect(await announced()).not.toContain(entry.version);

    await writeFile(manifestFile(), good);
    expect((await check()).downloaded).toEqual([expect.objectContaining({ version: entry.version })]);
  });

  it('passes on the whole signed manifest as the statement of a version from an upstream without per-version statements', async () => {
    const entry = await upstream.publishPattern(TYPE, { patches: false });
    const state = await upstream.manifest();
    const plain = { ...state, components: state.components.map(({ statement: _none, ...c }) => c) };
    await writeFile(manifestFile(), JSON.stringify(signManifest(plain, await upstream.privateKeyPem())));
    expect((await check()).downloaded).toEqual([expect.objectContaining({ version: entry.version })]);
    const target = await announcedTarget(entry.version);
    expect(target?.statement?.payloadType).toBe('application/vnd.herald.upstream-manifest+json');
    expect(verifyStatement(target?.statement, parsePublicKey(await upstream.publicKey()), target!)).toMatchObject({
      ok: true,
      statement: { sha256: entry.sha256, size: entry.size },
    });
  });
});
