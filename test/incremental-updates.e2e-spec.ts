import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HeraldAgentEvents } from '@herald/agent-sdk';
import { DirectoryComponentStore, HeraldAgent } from '@herald/agent-sdk';
import { applyPatch } from '@herald/delta';
import { HeraldSystem, freePort, waitFor } from '@herald/testing';
import { FolderUpstream } from '../apps/update-source/src/folder-upstream';

jest.setTimeout(240_000);

const TYPE = 'virus-pattern';
const RELEASES = 20;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Listing {
  versions: Array<{ version: string; sha256: string; size: number; source: string; patchedFrom: string | null }>;
  patches: Array<{ fromVersion: string; toVersion: string; sha256: string; size: number; method: string }>;
}

/**
 * R5 end to end with the reference update source and real agents: the server rebuilds each new
 * release from the upstream's incremental, keeps 7 fulls and patches from the 14 versions before
 * the latest after 20 releases; an agent within that window gets a patch and ends with the full
 * version's bytes, one 15 versions behind gets the full file, and one whose patch was damaged on
 * the server's disk gets the full file: the server checks what it serves and records the fault.
 * (An agent that receives a damaged patch anyway falls back on its own: component-store unit.)
 */
describe('incremental updates (R5)', () => {
  let upstreamDir: string;
  let upstream: FolderUpstream;
  let server: Server;
  let system: HeraldSystem;
  const agents: HeraldAgent[] = [];
  const agentDirs: string[] = [];

  const listing = async () => (await system.http<Listing>('component-download', 'GET', `/components/${TYPE}/versions`)).body;

  beforeAll(async () => {
    upstreamDir = await mkdtemp(path.join(tmpdir(), 'herald-upstream-'));
    upstream = new FolderUpstream(upstreamDir);
    const port = await freePort();
    server = await upstream.serve(port, '127.0.0.1');
    system = await HeraldSystem.start({
      label: 'incremental',
      env: { UPSTREAM_MANIFEST_URL: `http://127.0.0.1:${port}/manifest.json`, UPSTREAM_PUBLIC_KEY: await upstream.publicKey() },
    });
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await system?.stop();
    await new Promise((r) => server?.close(r));
    await rm(upstreamDir, { recursive: true, force: true });
    await Promise.all(agentDirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('rebuilds releases from upstream incrementals and keeps exactly 7 fulls and the 14-patch window after 20 releases', async () => {
    for (let k = 0; k < RELEASES; k++) {
      const entry = await upstream.publishPattern(TYPE, { bytes: 200_000 });
      const check = await system.http<{ downloaded: Array<{ version: string; source: string; patchedFrom?: string }> }>('component-download', 'POST', '/components/check');
      expect(check.body.downloaded).toEqual([
        k === 0
          ? { componentType: TYPE, version: entry.version, size: entry.size, source: 'full' }
          : { componentType: TYPE, version: entry.version, size: entry.size, source: 'incremental', patchedFrom: `1.0.${k - 1}` },
      ]);
      // Patches are built, then retention applied, in the background: wait for both before the next release.
      await waitFor(
        async () => {
          const { versions, patches } = await listing();
          return patches.length === Math.min(k, 14) && patches.every((p) => p.toVersion === entry.version) && versions.length === Math.min(k + 1, 7);
        },
        { timeoutMs: 30_000, what: `the patches to ${entry.version} and retention` },
      );
    }

    const { versions, patches } = await listing();
    expect(versions.map((v) => v.version)).toEqual(['1.0.19', '1.0.18', '1.0.17', '1.0.16', '1.0.15', '1.0.14', '1.0.13']);
    expect(patches.map((p) => `${p.fromVersion}>${p.toVersion}`)).toEqual(Array.from({ length: 14 }, (_, i) => `1.0.${18 - i}>1.0.19`));
    // The upstream's own patch for the newest step, diffs from the fulls held when 1.0.19 arrived
    // (1.0.12 to 1.0.18: retention runs after the build), joined patches beyond them.
    expect(patches.map((p) => p.method)).toEqual(['upstream', ...Array(6).fill('diff'), ...Array(7).fill('composed')]);

    // Every patch rebuilds 1.0.19 from its base, byte for byte.
    const target = await readFile(upstream.fileOf(TYPE, '1.0.19'));
    for (const p of patches) {
      const patch = await readFile(path.join(system.storeDir, 'sha256', p.sha256));
      expect(sha256(patch)).toBe(p.sha256);
      expect(applyPatch(await readFile(upstream.fileOf(TYPE, p.fromVersion)), patch).equals(target)).toBe(true);
    }
    // Nothing else is left on disk: older fulls and patches are deleted (by a collection that
    // follows the pass in the background).
    const kept = [...new Set([...versions.map((v) => v.sha256), ...patches.map((p) => p.sha256)])].sort();
    expect(kept).toHaveLength(21);
    await waitFor(async () => JSON.stringify((await readdir(path.join(system.storeDir, 'sha256'))).sort()) === JSON.stringify(kept), {
      what: 'only the kept fulls and patches on disk',
    });
    const retired = await system.sql<{ n: string }>(`SELECT count(*) AS n FROM component_download.events WHERE type = 'ComponentFilesRetired'`);
    expect(Number(retired[0]!.n)).toBeGreaterThan(0);
  });

  it('gives an agent within the window a patch, one 15 versions behind the full file, and the full file instead of a patch damaged on disk', async () => {
    const { patches, versions } = await listing();
    const latest = versions[0]!;
    const corruptedFrom = '1.0.10';
    const corrupted = patches.find((p) => p.fromVersion === corruptedFrom)!;
    const blob = path.join(system.storeDir, 'sha256', corrupted.sha256);
    const bytes = await readFile(blob);
    bytes[bytes.length - 10]! ^= 0xff;
    await writeFile(blob, bytes);

    const start = async (id: string, version: string) => {
      const dir = await mkdtemp(path.join(tmpdir(), 'herald-agent-'));
      agentDirs.push(dir);
      await mkdir(path.join(dir, TYPE));
      await copyFile(upstream.fileOf(TYPE, version), path.join(dir, TYPE, version));
      const agent = new HeraldAgent({ agentId: id, amqpUrl: system.amqpUrl, store: new DirectoryComponentStore(dir, [{ type: TYPE, version }]), heartbeatIntervalMs: 1_000 });
      agents.push(agent);
      const warnings: string[] = [];
      agent.on('warning', (e) => warnings.push(e.message));
      const updated = new Promise<HeraldAgentEvents['updated'][0]>((resolve) => agent.once('updated', resolve));
      await agent.start();
      return { dir, updated, warnings };
    };
    // Each connects with an outdated version, so R2 updates it at once.
    const near = await start('within-window', '1.0.17');
    const far = await start('fifteen-behind', '1.0.4');
    const broken = await start('corrupted-patch', corruptedFrom);

    const nearResult = await near.updated;
    const nearPatch = patches.find((p) => p.fromVersion === '1.0.17')!;
    expect(nearResult).toMatchObject({ outcome: 'completed', components: [{ type: TYPE, fromVersion: '1.0.17', toVersion: latest.version, mode: 'incremental', bytes: nearPatch.size }] });
    expect(nearPatch.size).toBeLessThan(latest.size / 5);
    expect(sha256(await readFile(path.join(near.dir, TYPE, latest.version)))).toBe(latest.sha256);
    expect(near.warnings).toEqual([]);

    const farResult = await far.updated;
    expect(farResult).toMatchObject({ outcome: 'completed', components: [{ type: TYPE, fromVersion: '1.0.4', toVersion: latest.version, mode: 'full', bytes: latest.size }] });
    expect(sha256(await readFile(path.join(far.dir, TYPE, latest.version)))).toBe(latest.sha256);

    const brokenResult = await broken.updated;
    expect(brokenResult).toMatchObject({ outcome: 'completed', components: [{ type: TYPE, fromVersion: corruptedFrom, toVersion: latest.version, mode: 'full', bytes: latest.size }] });
    expect(sha256(await readFile(path.join(broken.dir, TYPE, latest.version)))).toBe(latest.sha256);
    // The server never sent the damaged patch: the agent had nothing to fall back from.
    expect(broken.warnings).toEqual([]);
    const faults = (await system.http<{ faults: Array<Record<string, unknown>> }>('component-download', 'GET', '/components/file-faults')).body.faults;
    expect(faults).toEqual([expect.objectContaining({ componentType: TYPE, version: latest.version, patchFrom: corruptedFrom, sha256: corrupted.sha256, fault: 'corrupt' })]);

    // Patch and full bytes served are told apart in the metrics.
    const metrics = (await system.http<string>('component-download', 'GET', '/metrics', undefined, null)).body;
    const served = (delivery: string) => Number(new RegExp(`herald_download_bytes_total\\{delivery="${delivery}",service="component-download"\\} (\\d+)`).exec(metrics)?.[1] ?? -1);
    expect(served('incremental')).toBe(nearPatch.size);
    expect(served('full')).toBe(2 * latest.size);

    // What each agent did is on its timeline at dispatch, with the mode and the bytes.
    const completed = await waitFor(
      async () => {
        const res = await system.http<{ entries: Array<{ type: string; components?: unknown }> }>('notification-dispatch', 'GET', '/agents/within-window/timeline');
        return res.body.entries?.find((e) => e.type === 'UpdateCompleted');
      },
      { what: 'the completed update on the timeline' },
    );
    expect(JSON.stringify(completed)).toContain('incremental');
  });
});
