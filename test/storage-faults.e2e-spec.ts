import { createHash, randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { HeraldAgent, type HeraldAgentEvents, MemoryComponentStore } from '@herald/agent-sdk';
import { HeraldSystem, Tmpfs, UpstreamFixture, waitFor } from '@herald/testing';

jest.setTimeout(180_000);

const TYPE = 'virus-pattern';
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Report {
  downloaded: Array<{ version: string }>;
  rejected: Array<{ version: string; reason: string; detail: string }>;
}
interface Ready {
  details: { componentStore: { status: string; fault?: string; message?: string } };
}

/**
 * Issue 13, item 2, with the real service processes: component-download's store on a tmpfs of
 * the test's own is made read-only during a rollout. The check fails with a recorded reason
 * (it used to crash the process on an uncaught EROFS), the versions kept are still served,
 * /health/ready says why, and after the remount the next check keeps the version and the agent
 * updates, with no restart. A file damaged on disk is not served.
 */
describe('component store faults (e2e)', () => {
  const upstream = new UpstreamFixture();
  let store: Tmpfs;
  let system: HeraldSystem;
  let agent: HeraldAgent | undefined;

  beforeAll(async () => {
    store = await Tmpfs.mount('8m', 'e2e');
    await upstream.start();
    system = await HeraldSystem.start({
      label: 'storefault',
      env: {
        UPSTREAM_MANIFEST_URL: upstream.manifestUrl,
        UPSTREAM_PUBLIC_KEY: upstream.publicKey,
        COMPONENT_STORE_DIR: store.dir,
        STORE_PROBE_INTERVAL_MS: '300',
        STORE_RETRY_AFTER_SECONDS: '5',
      },
    });
  });

  afterAll(async () => {
    await agent?.stop();
    await system?.stop();
    await upstream.stop();
    await store?.unmount();
  });

  const check = async () => {
    const res = await system.http<Report>('component-download', 'POST', '/components/check');
    expect(res.status).toBe(200);
    return res.body;
  };
  const download = async (version: string) => {
    const res = await fetch(`${system.url('component-download')}/components/${TYPE}/versions/${version}/download`);
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  };

  it('a read-only store fails the check, not the service; it serves what it holds and recovers by itself', async () => {
    const v100 = randomBytes(400_000);
    upstream.publish({ type: TYPE, version: '1.0.0', content: v100 });
    expect((await check()).downloaded.map((d) => d.version)).toEqual(['1.0.0']);

    agent = new HeraldAgent({ agentId: 'store-fault-1', amqpUrl: system.amqpUrl, store: new MemoryComponentStore([{ type: TYPE, version: '1.0.0' }]), heartbeatIntervalMs: 1_000, retryJitterMs: 200 });
    const updated = new Promise<HeraldAgentEvents['updated'][0]>((resolve) => agent!.once('updated', resolve));
    await agent.start();
    await waitFor(async () => (await system.http('notification-dispatch', 'GET', '/agents/store-fault-1/timeline')).status === 200, { what: 'dispatch to know the agent' });

    await store.readOnly();
    const v101 = Buffer.concat([v100, randomBytes(100_000)]);
    upstream.publish({ type: TYPE, version: '1.0.1', content: v101 });
    const refused = await check();
    expect(refused.downloaded).toEqual([]);
    expect(refused.rejected).toEqual([expect.objectContaining({ version: '1.0.1', reason: 'store-unavailable', detail: expect.stringContaining('read-only') })]);
    const rejections = (await system.http<{ rejections: Array<{ version: string; reason: string }> }>('component-download', 'GET', '/components/rejections')).body.rejections;
    expect(rejections[0]).toMatchObject({ version: '1.0.1', reason: 'store-unavailable' });

    // The process is up and serves the version it holds.
    expect(system.pids()['component-download']).toBeDefined();
    expect((await system.http('component-download', 'GET', '/health')).status).toBe(200);
    const kept = await download('1.0.0');
    expect(kept.status).toBe(200);
    expect(sha256(kept.body)).toBe(sha256(v100));
    const ready = await system.http<Ready>('component-download', 'GET', '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.details.componentStore).toMatchObject({ status: 'down', fault: 'read-only' });
    const metrics = (await system.http<string>('component-download', 'GET', '/metrics', undefined, null)).body;
    expect(metrics).toContain('herald_storage_faults_total{kind="read-only",operation="check",service="component-download"} 1');
    expect(metrics).toContain('herald_component_store_writable{service="component-download"} 0');

    // The disk comes back: the next check keeps 1.0.1 and the agent is told and updates.
    await store.writable();
    expect((await check()).downloaded.map((d) => d.version)).toEqual(['1.0.1']);
    const result = await updated;
    expect(result).toMatchObject({ outcome: 'completed', components: [expect.objectContaining({ type: TYPE, fromVersion: '1.0.0', toVersion: '1.0.1' })] });
    await waitFor(async () => (await system.http('component-download', 'GET', '/health/ready')).status === 200, { what: 'ready again' });
    expect(system.pids()['component-download']).toBeDefined();
  });

  it('a kept file damaged on disk is not served: 410, recorded', async () => {
    const versions = (await system.http<{ versions: Array<{ version: string; sha256: string }> }>('component-download', 'GET', `/components/${TYPE}/versions`)).body.versions;
    const v100 = versions.find((v) => v.version === '1.0.0')!;
    const fh = await open(path.join(store.dir, 'sha256', v100.sha256), 'r+');
    await fh.write(Buffer.from('tampered'), 0, 8, 1234);
    await fh.close();
    const res = await download('1.0.0');
    expect(res.status).toBe(410);
    expect(JSON.parse(res.body.toString())).toMatchObject({ statusCode: 410, fault: 'corrupt' });
    const faults = (await system.http<{ faults: unknown[] }>('component-download', 'GET', '/components/file-faults')).body.faults;
    expect(faults).toEqual([expect.objectContaining({ componentType: TYPE, version: '1.0.0', sha256: v100.sha256, fault: 'corrupt' })]);
    expect((await download('1.0.1')).status).toBe(200);
    expect(system.pids()['component-download']).toBeDefined();
  });
});
