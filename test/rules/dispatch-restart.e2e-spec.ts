import { sleep, waitFor } from '@herald/testing';
import { RulesHarness, types } from '../support/rules-harness';

jest.setTimeout(180_000);

/** Scenario 9: the resend schedule lives in RabbitMQ and PostgreSQL, not in dispatch's memory. */
describe('notification-dispatch killed while resends are pending', () => {
  const h = new RulesHarness();

  beforeAll(() => h.start());
  afterAll(() => h.stop());

  it('scenario 9: the schedule survives kill -9 and completes; no agent gets an update applied twice', async () => {
    const type = 's9-pattern';
    await h.settings({ notifyOnDownload: true, includeIndependentAndOffline: true, updateOnReconnect: false, resendIntervalSeconds: 3, maxAttempts: 4, ackTimeoutSeconds: 2 });
    const returning = await h.offlineAgent('s9-returning', [{ type, version: '1.0' }]);
    const gone = await h.offlineAgent('s9-gone', [{ type, version: '1.0' }]);
    const online = await h.agent('s9-online', [{ type, version: '1.0' }]);

    await h.publish(type, '1.1');
    await h.waitForEntry(returning.id, (e) => e.type === 'ResendScheduled', 'a pending resend');
    await h.waitForEntry(gone.id, (e) => e.type === 'ResendScheduled', 'a pending resend');
    await h.waitForEntry(online.id, (e) => e.type === 'UpdateCompleted', 'the online agent to update');

    await h.system.stopService('notification-dispatch', 'SIGKILL');
    await returning.restart(); // comes back while dispatch is down; R2 is off, so only a resend can reach it
    await sleep(1_000);
    await h.system.startService('notification-dispatch');

    const back = await h.waitForEntry(returning.id, (e) => e.type === 'UpdateCompleted', 'the resend to reach it after the restart', 30_000);
    expect(back.filter((e) => e.type === 'AttemptSent').length).toBeGreaterThanOrEqual(2);
    const gaveUp = await h.waitForEntry(gone.id, (e) => e.type === 'NotificationGaveUp', 'the give-up after the restart', 40_000);
    expect(gaveUp.filter((e) => e.type === 'AttemptSent').map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    expect(types(gaveUp).filter((t) => t === 'NotificationGaveUp')).toHaveLength(1);

    // Messages may have been duplicated; applying may not.
    for (const agent of [returning, online]) {
      expect(agent.installs).toEqual([`${type}@1.1`]);
      expect(await agent.version(type)).toBe('1.1');
    }
    expect(gone.installs).toEqual([]);
    await sleep(4_000);
    expect(await h.entries(gone.id)).toHaveLength(gaveUp.length);
    await waitFor(async () => (await h.system.http('notification-dispatch', 'GET', '/health')).status === 200, { what: 'dispatch healthy' });
  });
});
