import { SERVICES, waitFor } from '@herald/testing';
import { RulesHarness } from './support/rules-harness';

jest.setTimeout(180_000);

/** RabbitMQ drops every connection (as a broker restart does): services and agents come back, and no update is lost. */
describe('broker outage', () => {
  const h = new RulesHarness();

  beforeAll(() => h.start());
  afterAll(() => h.stop());

  const everyServiceHealthy = () =>
    waitFor(async () => (await Promise.all(SERVICES.map(async (s) => (await h.system.http(s, 'GET', '/health', undefined, null)).status))).every((c) => c === 200), {
      what: 'every service healthy again',
      timeoutMs: 30_000,
    });

  it('recovers services and agents after all connections are closed, and a rollout cut in the middle still completes', async () => {
    const type = 'outage-pattern';
    await h.settings({ resendIntervalSeconds: 2, maxAttempts: 10, ackTimeoutSeconds: 2, includeIndependentAndOffline: false, updateOnReconnect: true });
    const agents = await Promise.all(Array.from({ length: 4 }, (_, i) => h.agent(`outage-${i}`, [{ type, version: '1.0' }])));

    await h.system.vhost.closeAllConnections();
    await everyServiceHealthy();
    await waitFor(() => agents.every((a) => a.agent.connected), { what: 'the agents to reconnect', timeoutMs: 30_000 });

    // A rollout after the outage reaches everyone.
    const first = await h.publish(type, '1.1');
    await waitFor(async () => (await h.rollout(first.rolloutId)).counts.updated === agents.length, { what: 'the rollout after the outage', timeoutMs: 30_000 });

    // And one cut right after it starts completes too: outbox, resends and R2 on hello pick it up.
    const second = await h.publish(type, '1.2');
    await h.system.vhost.closeAllConnections();
    await everyServiceHealthy();
    await waitFor(async () => (await Promise.all(agents.map((a) => a.version(type)))).every((v) => v === '1.2'), {
      what: 'every agent on 1.2 after the cut',
      timeoutMs: 60_000,
    });
    for (const agent of agents) {
      expect(agent.installs).toEqual([`${type}@1.1`, `${type}@1.2`]);
    }
    const view = await waitFor(
      async () => {
        const r = await h.rollout(second.rolloutId);
        return r.counts.updated + r.counts.updatedAfterSkip === agents.length ? r : undefined;
      },
      { what: 'the second rollout to count every agent', timeoutMs: 30_000 },
    );
    expect(view.counts.gaveUp).toBe(0);
  });
});
