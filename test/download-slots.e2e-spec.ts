import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Readable } from 'node:stream';
import type { ComponentStore, HeraldAgentEvents } from '@herald/agent-sdk';
import { DigestMismatchError, HeraldAgent } from '@herald/agent-sdk';
import type { InstalledComponent } from '@herald/contracts';
import { HeraldSystem, UpstreamFixture, waitFor } from '@herald/testing';
import { initialPatternFile, nextPatternFile } from '../apps/update-source/src/pattern-file';

jest.setTimeout(180_000);

const TYPE = 'virus-pattern';
const AGENTS = 20;

/**
 * An agent on a slow link: reads its download a chunk at a time with a pause between chunks,
 * so each transfer holds its slot long enough for the others to collide with it.
 */
class SlowStore implements ComponentStore {
  private version: string;
  constructor(initial: string) {
    this.version = initial;
  }
  async installed(): Promise<InstalledComponent[]> {
    return [{ type: TYPE, version: this.version }];
  }
  async install(_type: string, version: string, sha256: string, body: Readable): Promise<number> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      bytes += chunk.length;
      await sleep(5);
    }
    if (hash.digest('hex') !== sha256) throw new DigestMismatchError('digest mismatch');
    this.version = version;
    return bytes;
  }
}

/**
 * R6 at the download endpoint: with DOWNLOAD_SLOTS=2, twenty agents notified at once never get
 * more than two transfers served together; the others are told 503 + Retry-After, wait with
 * jitter, and all twenty finish.
 */
describe('download slots (R6)', () => {
  const upstream = new UpstreamFixture();
  let system: HeraldSystem;
  const agents: HeraldAgent[] = [];

  beforeAll(async () => {
    await upstream.start();
    system = await HeraldSystem.start({
      label: 'slots',
      env: { UPSTREAM_MANIFEST_URL: upstream.manifestUrl, UPSTREAM_PUBLIC_KEY: upstream.publicKey, DOWNLOAD_SLOTS: '2', DOWNLOAD_RETRY_AFTER_SECONDS: '1' },
    });
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await system?.stop();
    await upstream.stop();
  });

  it('never runs more than 2 transfers at once, and all 20 agents finish', async () => {
    const first = initialPatternFile(TYPE, '1.0.0', 1_000_000);
    upstream.publish({ type: TYPE, version: '1.0.0', content: first });
    expect((await system.http<{ downloaded: unknown[] }>('component-download', 'POST', '/components/check')).body.downloaded).toHaveLength(1);

    const results: Array<Promise<HeraldAgentEvents['updated'][0]>> = [];
    for (let i = 0; i < AGENTS; i++) {
      const agent = new HeraldAgent({ agentId: `storm-${i}`, amqpUrl: system.amqpUrl, store: new SlowStore('1.0.0'), heartbeatIntervalMs: 1_000, retryJitterMs: 500 });
      agents.push(agent);
      results.push(new Promise((resolve) => agent.once('updated', resolve)));
    }
    await Promise.all(agents.map((a) => a.start()));
    await waitFor(
      async () => {
        const all = await Promise.all(agents.map((a) => system.http('notification-dispatch', 'GET', `/agents/${a.agentId}/timeline`)));
        return all.every((r) => r.status === 200);
      },
      { what: 'dispatch to know all agents' },
    );

    // One new version: R1 notifies all twenty at once.
    const second = nextPatternFile(first, TYPE, '1.0.1');
    upstream.publish({ type: TYPE, version: '1.0.1', content: second });
    await system.http('component-download', 'POST', '/components/check');

    const done = await Promise.all(results);
    expect(done.filter((r) => r.outcome !== 'completed').map((r) => r.error)).toEqual([]);
    // Pattern files compress: agents that came after the background pass had kept 1.0.1 coded got
    // the zstd copy (the SDK asks for zstd and gzip; zstd is the smaller), the first ones the file as it is.
    const zstd = await waitFor(
      async () => {
        const listing = await system.http<{ versions: Array<{ version: string; encodings: Array<{ coding: string; size: number }> }> }>('component-download', 'GET', `/components/${TYPE}/versions`);
        return listing.body.versions.find((v) => v.version === '1.0.1')?.encodings.find((e) => e.coding === 'zstd');
      },
      { what: '1.0.1 kept zstd-coded' },
    );
    expect(zstd.size).toBeLessThan(second.length);
    for (const component of done.map((r) => r.components[0]!)) {
      expect(component).toEqual({ type: TYPE, fromVersion: '1.0.0', toVersion: '1.0.1', mode: 'full', bytes: component.bytes === zstd.size ? zstd.size : second.length });
    }
    const stats = (await system.http<{ slots: number; peakInUse: number; served: number; refused: number; inUse: number }>('component-download', 'GET', '/components/downloads')).body;
    expect(stats.slots).toBe(2);
    expect(stats.peakInUse).toBe(2);
    expect(stats.refused).toBeGreaterThan(0);
    expect(stats.served).toBe(AGENTS);
    expect(stats.inUse).toBe(0);
    const metrics = (await system.http<string>('component-download', 'GET', '/metrics', undefined, null)).body;
    expect(metrics).toContain('herald_download_slots{service="component-download"} 2');
    expect(metrics).toContain(`herald_downloads_refused_total{service="component-download"} ${stats.refused}`);
    expect(metrics).toContain(`herald_downloads_served_total{delivery="full",service="component-download"} ${AGENTS}`);
  });

  it('counts a download the agent walks away from, frees its slot, and logs no error', async () => {
    // Bigger than the socket buffers, so the transfer is still going when the agent leaves; a
    // type no agent runs, so nobody is notified of it.
    upstream.publish({ type: 'abandoned-pattern', version: '1.0', content: randomBytes(32 << 20) });
    expect((await system.http<{ downloaded: unknown[] }>('component-download', 'POST', '/components/check')).body.downloaded).toHaveLength(1);
    const url = `${system.url('component-download')}/components/abandoned-pattern/versions/1.0/download`;
    const metric = async () => {
      const text = (await system.http<string>('component-download', 'GET', '/metrics', undefined, null)).body;
      return Number(/herald_downloads_abandoned_total\{delivery="full",service="component-download"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const before = await metric();
    const gone = new AbortController();
    const res = await fetch(url, { signal: gone.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read(); // a first chunk, then the agent goes away (its timeout, a restart)
    gone.abort();
    await reader.read().catch(() => undefined);

    await waitFor(async () => (await metric()) === before + 1, { what: 'the abandoned download to be counted' });
    const stats = (await system.http<{ inUse: number }>('component-download', 'GET', '/components/downloads')).body;
    expect(stats.inUse).toBe(0);
    const errors = (await readFile(system.logFile('component-download'), 'utf8'))
      .split('\n')
      .filter((line) => line.startsWith('{') && (JSON.parse(line) as { level: number }).level >= 50);
    expect(errors).toEqual([]);
  });
});
