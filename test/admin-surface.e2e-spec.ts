import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO_ROOT, SERVICES, TEST_ADMIN_TOKEN, TEST_READ_TOKEN, waitFor } from '@herald/testing';
import { RulesHarness } from './support/rules-harness';

jest.setTimeout(120_000);

/** What ops and admins rely on: access control, health, metrics, API documents, logs. */
describe('admin and ops surface', () => {
  const h = new RulesHarness();

  beforeAll(() => h.start());
  afterAll(() => h.stop());

  it('needs a token for the APIs: 401 without, 403 for a read-only token on a change, and records who changed what', async () => {
    const none = await h.system.http('notification-dispatch', 'GET', '/rollouts', undefined, null);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="herald"');
    expect((await h.system.http('notification-dispatch', 'GET', '/rollouts', undefined, 'not-a-known-token-at-all')).status).toBe(401);
    expect((await h.system.http('agent-presence', 'GET', '/agents', undefined, null)).status).toBe(401);
    expect((await h.system.http('component-download', 'POST', '/components/check', undefined, null)).status).toBe(401);

    expect((await h.system.http('notification-dispatch', 'GET', '/settings/event-triggered-updates', undefined, TEST_READ_TOKEN)).status).toBe(200);
    const readOnly = await h.system.http('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', { maxAttempts: 4 }, TEST_READ_TOKEN);
    expect(readOnly.status).toBe(403);
    expect((await h.system.http('component-download', 'POST', '/components/check', undefined, TEST_READ_TOKEN)).status).toBe(403);

    expect((await h.system.http('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', { maxAttempts: 4 })).status).toBe(200);
    const history = await h.system.http<{ changes: Array<{ by: string; changes: Array<{ field: string }> }> }>('notification-dispatch', 'GET', '/settings/event-triggered-updates/history');
    expect(history.body.changes.at(-1)).toMatchObject({ by: 'tester', changes: [{ field: 'maxAttempts', from: 5, to: 4 }] });
  });

  it('tells a client who its token is', async () => {
    expect((await h.system.http('notification-dispatch', 'GET', '/auth/whoami')).body).toEqual({ name: 'tester', role: 'admin' });
    expect((await h.system.http('agent-presence', 'GET', '/auth/whoami', undefined, TEST_READ_TOKEN)).body).toEqual({ name: 'viewer', role: 'read' });
    expect((await h.system.http('component-download', 'GET', '/auth/whoami', undefined, null)).status).toBe(401);
  });

  it('keeps health, readiness, API documents and agent downloads open', async () => {
    for (const service of SERVICES) {
      expect((await h.system.http(service, 'GET', '/health', undefined, null)).status).toBe(200);
      const ready = await h.system.http<{ details: Record<string, { status: string }> }>(service, 'GET', '/health/ready', undefined, null);
      expect(ready.status).toBe(200);
      // component-download adds its store (writable or not); the others have only the shared three.
      expect(Object.keys(ready.body.details).sort()).toEqual(service === 'component-download' ? ['broker', 'componentStore', 'database', 'outbox'] : ['broker', 'database', 'outbox']);
      const doc = await h.system.http<{ openapi: string; paths: Record<string, unknown> }>(service, 'GET', '/docs-json', undefined, null);
      expect(doc.status).toBe(200);
      expect(doc.body.openapi).toMatch(/^3\./);
    }
    // Every operation documents its success answer; every protected one its 401.
    for (const service of SERVICES) {
      const doc = await h.system.http<{ paths: Record<string, Record<string, { responses: Record<string, unknown> }>> }>(service, 'GET', '/docs-json', undefined, null);
      for (const [route, operations] of Object.entries(doc.body.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          const codes = Object.keys(operation.responses);
          expect({ service, route, method, success: codes.some((c) => c.startsWith('2')) }).toEqual({ service, route, method, success: true });
          const open = route.startsWith('/health') || route.endsWith('/download');
          expect({ service, route, method, documents401: codes.includes('401') }).toEqual({ service, route, method, documents401: !open });
        }
      }
    }
    const dispatchDoc = await h.system.http<{ paths: Record<string, unknown> }>('notification-dispatch', 'GET', '/docs-json', undefined, null);
    expect(Object.keys(dispatchDoc.body.paths)).toEqual(expect.arrayContaining(['/settings/event-triggered-updates', '/rollouts/{id}', '/rollouts/{id}/progress', '/agents/{id}/timeline']));
    expect((await h.system.http('notification-dispatch', 'GET', '/docs', undefined, null)).status).toBe(200);
    // The download endpoint answers without a token (404: no such version here, not 401).
    expect((await h.system.http('component-download', 'GET', '/components/virus-pattern/versions/9.9.9/download', undefined, null)).status).toBe(404);
  });

  it('exports Prometheus metrics for decisions, agents, messaging and the outbox', async () => {
    const type = 'm-pattern';
    await h.agent('m-a', [{ type, version: '1.0' }]);
    await h.offlineAgent('m-off', [{ type, version: '1.0' }]);
    await h.publish(type, '1.1');
    await h.waitForEntry('m-a', (e) => e.type === 'UpdateCompleted', 'the update');

    const dispatch = await waitFor(
      async () => {
        const text = (await h.system.http<string>('notification-dispatch', 'GET', '/metrics', undefined, null)).body;
        return /herald_notifications_acknowledged_total\{service="notification-dispatch"\} [1-9]/.test(text) ? text : undefined;
      },
      { what: 'the acknowledgement to be counted' },
    );
    for (const name of [
      'herald_notifications_sent_total',
      'herald_notifications_failed_total',
      'herald_notifications_given_up_total',
      'herald_resends_scheduled_total',
      'herald_rollouts_in_progress',
      'herald_agents_in_flight',
      'herald_outbox_lag_seconds',
      'herald_outbox_pending',
      'herald_messages_parked_total',
      'herald_broker_connected',
      'process_cpu_user_seconds_total',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(dispatch).toContain(name);
    }
    expect(dispatch).toMatch(/herald_targets_skipped_total\{reason="offline",service="notification-dispatch"\} 1/);
    // Paging: totals, and a timeline read from a position on.
    const list = await h.system.http<{ total: number; rollouts: unknown[] }>('notification-dispatch', 'GET', '/rollouts?limit=1');
    expect(list.body.total).toBeGreaterThanOrEqual(1);
    expect(list.body.rollouts).toHaveLength(1);
    // Progress over time: the points asked for, and clear errors for a bad count or an unknown rollout.
    const { rolloutId } = list.body.rollouts[0] as { rolloutId: string };
    const progress = await h.system.http<{ targeted: number; points: Array<{ at: string; sent: number; updated: number }> }>('notification-dispatch', 'GET', `/rollouts/${rolloutId}/progress?points=5`);
    expect(progress.status).toBe(200);
    expect(progress.body.points).toHaveLength(5);
    expect(progress.body.points.at(-1)!.sent).toBeLessThanOrEqual(progress.body.targeted);
    expect((await h.system.http('notification-dispatch', 'GET', `/rollouts/${rolloutId}/progress?points=1`)).status).toBe(400);
    expect((await h.system.http('notification-dispatch', 'GET', `/rollouts/${randomUUID()}/progress`)).status).toBe(404);
    expect((await h.system.http('notification-dispatch', 'GET', '/rollouts/nope/progress')).status).toBe(400);
    const all = await h.entries('m-a');
    const tail = await h.system.http<{ entries: Array<{ position: number }> }>('notification-dispatch', 'GET', `/agents/m-a/timeline?after=${all.length - 1}`);
    expect(tail.body.entries.map((e) => e.position)).toEqual([all.length]);

    // Compliance: m-off (offline) is still on 1.0, one version behind, since 1.1 was announced;
    // m-a is not, once presence's word of its new version reached dispatch.
    expect(dispatch).toContain('herald_agents_behind');
    await waitFor(
      async () => /herald_agents_behind\{component_type="m-pattern",service="notification-dispatch"\} 1\n/.test((await h.system.http<string>('notification-dispatch', 'GET', '/metrics', undefined, null)).body),
      { what: 'one agent behind on m-pattern' },
    );
    const compliance = await h.system.http<{ components: Array<{ componentType: string; latest: string; upToDate: number; behind: number }> }>('notification-dispatch', 'GET', '/compliance');
    expect(compliance.body.components.find((c) => c.componentType === type)).toMatchObject({ latest: '1.1', upToDate: 1, behind: 1 });
    const behind = await h.system.http<{ agents: Array<{ agentId: string; versionsBehind: number; behindSince: string }> }>('notification-dispatch', 'GET', `/compliance/agents?component=${type}`);
    expect(behind.body.agents).toEqual([expect.objectContaining({ agentId: 'm-off', installed: '1.0', latest: '1.1', versionsBehind: 1, online: false })]);
    const csv = await fetch(`${h.system.url('notification-dispatch')}/compliance/agents.csv?component=${type}`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('x-total-count')).toBe('1');
    expect((await csv.text()).split('\r\n')).toEqual(['agentId,componentType,installed,latest,versionsBehind,behindSince,online', `m-off,${type},1.0,1.1,1,${behind.body.agents[0]!.behindSince},false`, '']);
    expect((await h.system.http('notification-dispatch', 'GET', '/compliance/agents?minBehind=0')).status).toBe(400);

    const presence = (await h.system.http<string>('agent-presence', 'GET', '/metrics', undefined, null)).body;
    expect(presence).toMatch(/herald_agents\{status="online",service="agent-presence"\} [1-9]/);
    expect(presence).toMatch(/herald_agents\{status="offline",service="agent-presence"\} [1-9]/);
    expect(presence).toContain('herald_agents_outdated');
  });

  it('never writes a token into the logs', async () => {
    for (const service of SERVICES) {
      const log = await readFile(path.join(REPO_ROOT, 'test', 'artifacts', 'logs', `${h.system.db.name}-${service}.log`), 'utf8');
      expect(log.length).toBeGreaterThan(0);
      expect(log).not.toContain(TEST_ADMIN_TOKEN);
      expect(log).not.toContain(TEST_READ_TOKEN);
    }
  });
});
