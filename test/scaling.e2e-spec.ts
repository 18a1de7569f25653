import { TEST_ADMIN_TOKEN, waitFor } from '@herald/testing';
import { RulesHarness } from './support/rules-harness';

jest.setTimeout(180_000);

/**
 * Every service scaled to two instances on the same queues, database and store: the work is
 * shared (competing consumers), and nothing is decided or applied twice.
 */
describe('two instances of every service', () => {
  const h = new RulesHarness();

  beforeAll(async () => {
    await h.start();
    for (const name of ['component-download', 'notification-dispatch', 'agent-presence'] as const) await h.system.startReplica(name);
  });
  afterAll(() => h.stop());

  it('updates every agent exactly once, holds the R6 bound across instances, and both instances work', async () => {
    const type = 'scale-pattern';
    await h.settings({ maxInFlight: 3, resendIntervalSeconds: 2, includeIndependentAndOffline: false, updateOnReconnect: true });
    const agents = await Promise.all(Array.from({ length: 12 }, (_, i) => h.agent(`scale-${i}`, [{ type, version: '1.0' }], { installDelayMs: 200 })));
    h.maxConcurrentUpdates = 0;

    const rollout = await h.publish(type, '1.1');
    await waitFor(async () => (await h.rollout(rollout.rolloutId)).counts.updated === agents.length, { what: 'every agent to update', timeoutMs: 60_000 });

    for (const agent of agents) {
      expect(agent.updates).toHaveLength(1);
      expect(agent.installs).toEqual([`${type}@1.1`]);
      const entries = await h.entries(agent.id);
      expect(entries.map((e) => e.type)).toEqual(['UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
    }
    expect(h.maxConcurrentUpdates).toBeLessThanOrEqual(3);
    expect(h.maxConcurrentUpdates).toBeGreaterThan(0);
    const view = await h.rollout(rollout.rolloutId);
    expect(view.counts).toMatchObject({ targeted: 12, notified: 12, acknowledged: 12, updated: 12, failed: 0, gaveUp: 0 });

    // Both dispatch instances took part: each counted attempts it sent.
    const sentBy = async (url: string) => {
      const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).text();
      return Number(/herald_notifications_sent_total\{service="notification-dispatch"\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const primary = await sentBy(h.system.url('notification-dispatch'));
    const replicaUrl = h.system.replicaUrls('notification-dispatch')[0]!;
    const replica = await sentBy(replicaUrl);
    expect(primary + replica).toBe(12);
    expect(primary).toBeGreaterThan(0);
    expect(replica).toBeGreaterThan(0);
  });
});
