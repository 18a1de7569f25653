import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HeraldAgentEvents } from '@herald/agent-sdk';
import { DirectoryComponentStore, HeraldAgent } from '@herald/agent-sdk';
import { HeraldSystem, REPO_ROOT, UpstreamFixture, sha256, waitFor } from '@herald/testing';

jest.setTimeout(120_000);

/**
 * One update through all three services: upstream publishes a version; component-download
 * fetches and verifies it; notification-dispatch notifies the online agent that
 * agent-presence knows from its hello; the agent acknowledges, downloads, verifies and reports.
 */
describe('walking skeleton', () => {
  const upstream = new UpstreamFixture();
  let system: HeraldSystem;
  let agent: HeraldAgent;
  let agentDir: string;

  beforeAll(async () => {
    await upstream.start();
    system = await HeraldSystem.start({ label: 'skeleton', env: { UPSTREAM_MANIFEST_URL: upstream.manifestUrl, UPSTREAM_PUBLIC_KEY: upstream.publicKey } });
    agentDir = await mkdtemp(path.join(tmpdir(), 'herald-agent-'));
  });

  afterAll(async () => {
    await agent?.stop();
    await system?.stop();
    await upstream.stop();
    await rm(agentDir, { recursive: true, force: true });
  });

  it('downloads, verifies, notifies, delivers, applies and records every step', async () => {
    agent = new HeraldAgent({
      agentId: 'skeleton-agent-1',
      amqpUrl: system.amqpUrl,
      store: new DirectoryComponentStore(agentDir, [{ type: 'virus-pattern', version: '17.0.0' }]),
      heartbeatIntervalMs: 1_000,
    });
    const updated = new Promise<HeraldAgentEvents['updated'][0]>((resolve) => agent.once('updated', resolve));
    await agent.start();

    // presence knows it from its hello, and dispatch has heard so from presence
    await waitFor(async () => (await system.http<{ status: string }>('agent-presence', 'GET', '/agents/skeleton-agent-1')).body?.status === 'online', {
      what: 'presence to list the agent online',
    });
    await waitFor(async () => (await system.http('notification-dispatch', 'GET', '/agents/skeleton-agent-1/timeline')).status === 200, {
      what: 'dispatch to know the agent',
    });

    const content = randomBytes(256 * 1024);
    upstream.publish({ type: 'virus-pattern', version: '17.1.0', content });
    const check = await system.http<{ downloaded: unknown[] }>('component-download', 'POST', '/components/check');
    expect(check.status).toBe(200);
    expect(check.body.downloaded).toEqual([{ componentType: 'virus-pattern', version: '17.1.0', size: content.length, source: 'full' }]);

    const result = await updated;
    expect(result.outcome).toBe('completed');
    expect(result.components).toEqual([{ type: 'virus-pattern', fromVersion: '17.0.0', toVersion: '17.1.0', mode: 'full', bytes: content.length }]);
    const applied = await readFile(path.join(agentDir, 'virus-pattern', '17.1.0'));
    expect(sha256(applied)).toBe(sha256(content));

    // The agent's timeline at dispatch lists every step, in order.
    const timeline = await waitFor(
      async () => {
        const res = await system.http<{ entries: Array<{ type: string; [k: string]: unknown }> }>(
          'notification-dispatch',
          'GET',
          '/agents/skeleton-agent-1/timeline',
        );
        return res.body.entries.some((e) => e.type === 'UpdateCompleted') ? res.body.entries : undefined;
      },
      { what: 'the completed update on the timeline' },
    );
    expect(timeline.map((e) => e.type)).toEqual(['UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
    expect(timeline[0]).toMatchObject({ trigger: 'download', components: [expect.objectContaining({ type: 'virus-pattern', version: '17.1.0', sha256: sha256(content) })] });
    expect(timeline[1]).toMatchObject({ attempt: 1 });
    expect(timeline[3]).toMatchObject({ targetReached: true, installed: [{ type: 'virus-pattern', version: '17.1.0' }] });
    // One correlation id follows the flow from the download to the agent's report.
    const correlationIds = new Set(timeline.map((e) => e.correlationId));
    expect(correlationIds.size).toBe(1);
    expect([...correlationIds][0]).toMatch(/^download-/);

    // The same correlation id is in the logs of the download, the rollout, the attempt and the report.
    const correlationId = [...correlationIds][0] as string;
    const logLines = async (service: string) =>
      (await readFile(path.join(REPO_ROOT, 'test', 'artifacts', 'logs', `${system.db.name}-${service}.log`), 'utf8'))
        .split('\n')
        .filter((l) => l.includes(correlationId))
        .map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(await logLines('component-download')).toContain('component version verified and kept');
    const dispatchLog = await waitFor(async () => {
      const lines = await logLines('notification-dispatch');
      return lines.includes('agent reported its update') ? lines : undefined;
    }, { what: 'the report in the log' });
    expect(dispatchLog).toEqual(expect.arrayContaining(['rollout started', 'update attempt published', 'agent reported its update']));

    // presence has the agent's new components, so it is no longer outdated
    await waitFor(
      async () => {
        const res = await system.http<{ components: Array<{ version: string; outdated: boolean }>; outdated: boolean }>('agent-presence', 'GET', '/agents/skeleton-agent-1');
        return res.body.components[0]?.version === '17.1.0' && res.body.outdated === false;
      },
      { what: 'presence to record the new version' },
    );

    // After keeping the file, component-download's background pass tries to compress it for HTTP
    // content coding; random bytes do not compress, so both codings are recorded as not kept.
    const encoded = await waitFor(
      async () => {
        const rows = await system.sql<{ coding: string; sha256: string | null }>(
          `SELECT data->>'coding' AS coding, data->>'sha256' AS sha256 FROM component_download.events WHERE type = 'ComponentFullEncoded' ORDER BY 1`,
        );
        return rows.length === 2 ? rows : undefined;
      },
      { what: 'the kept file compressed, or found not worth it' },
    );
    expect(encoded).toEqual([
      { coding: 'gzip', sha256: null },
      { coding: 'zstd', sha256: null },
    ]);

    // Each service's state is in its own event store.
    const events = await system.sql<{ schema: string; type: string }>(
      `SELECT 'component_download' AS schema, type FROM component_download.events
       UNION ALL SELECT 'agent_presence', type FROM agent_presence.events
       UNION ALL SELECT 'notification_dispatch', type FROM notification_dispatch.events`,
    );
    const bySchema = (schema: string) => events.filter((e) => e.schema === schema).map((e) => e.type);
    expect(bySchema('component_download').sort()).toEqual(['ComponentFullEncoded', 'ComponentFullEncoded', 'ComponentVersionDownloaded', 'UpstreamManifestAccepted']);
    expect(bySchema('agent_presence')).toEqual(['AgentConnected', 'AgentComponentsReported']);
    expect(bySchema('notification_dispatch').sort()).toEqual(
      // The rollout's plan (counts, then the agents it targets), then the agent's own stream.
      ['AgentsTargeted', 'AttemptSent', 'NotificationAcknowledged', 'RolloutPlanned', 'UpdateCompleted', 'UpdateTargeted'].sort(),
    );
  });
});
