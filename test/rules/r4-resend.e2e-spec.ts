import { sleep } from '@herald/testing';
import type { TimelineEntry} from '../support/rules-harness';
import { RulesHarness, types } from '../support/rules-harness';

jest.setTimeout(180_000);

const INTERVAL_S = 2;

/** R4 (resend policy) and R7 (one open notification per agent), on real delay queues. */
describe('R4: resend policy', () => {
  const h = new RulesHarness();

  beforeAll(() => h.start());
  afterAll(() => h.stop());
  beforeEach(() =>
    h.settings({
      notifyOnDownload: true,
      includeIndependentAndOffline: true,
      updateOnReconnect: true,
      scanAfterUpdate: false,
      resendIntervalSeconds: INTERVAL_S,
      maxAttempts: 5,
      ackTimeoutSeconds: 2,
    }),
  );

  const attemptTimes = (entries: TimelineEntry[]) => entries.filter((e) => e.type === 'AttemptSent').map((e) => Date.parse(e.at));

  it('scenario 2: an offline agent gets exactly maxAttempts attempts spaced by the interval, then the notification is given up', async () => {
    const type = 's2-pattern';
    const agent = await h.offlineAgent('s2-off', [{ type, version: '1.0' }]);
    await h.publish(type, '1.1');
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'NotificationGaveUp', 'the give-up', 30_000);

    const failures = entries.filter((e) => e.type === 'AttemptFailed');
    expect(failures.map((e) => [e.attempt, e.reason])).toEqual([1, 2, 3, 4, 5].map((n) => [n, 'no-queue']));
    const times = attemptTimes(entries);
    const spacing = times.slice(1).map((t, i) => t - times[i]!);
    // Printed for the closing note: measured spacing against the configured interval.
    console.log(`scenario 2: resend interval ${INTERVAL_S * 1000} ms, measured spacing ${spacing.join(', ')} ms`);
    for (const gap of spacing) {
      expect(gap).toBeGreaterThanOrEqual(INTERVAL_S * 1000 - 50);
      expect(gap).toBeLessThan(INTERVAL_S * 1000 + 1_500);
    }
    expect(entries.at(-1)).toMatchObject({ type: 'NotificationGaveUp', attempts: 5 });
    expect(entries.filter((e) => e.type === 'AttemptSent').map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(types(entries).filter((t) => t === 'ResendScheduled')).toHaveLength(4);

    // Nothing after that.
    await sleep(INTERVAL_S * 1000 * 2);
    expect(await h.entries(agent.id)).toHaveLength(entries.length);
    expect(agent.updates).toHaveLength(0);
  });

  it('scenario 3: an offline agent that comes online during the resend window is updated, and no attempt follows', async () => {
    const type = 's3-pattern';
    const agent = await h.offlineAgent('s3-off', [{ type, version: '1.0' }]);
    await h.publish(type, '1.1');
    await h.waitForEntry(agent.id, (e) => e.type === 'ResendScheduled', 'the first resend to be scheduled');

    await agent.restart(); // back within the window; R2 (on) updates it on hello
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the update after reconnecting');
    expect(await agent.version(type)).toBe('1.1');
    expect(entries).toContainEqual(expect.objectContaining({ type: 'NotificationResolved', reason: 'superseded-by-reconnect' }));

    // The resend that was pending finds its notification resolved: no further attempt.
    await sleep(INTERVAL_S * 1000 * 2);
    const after = await h.entries(agent.id);
    expect(after).toHaveLength(entries.length);
    expect(agent.updates).toHaveLength(1);
    expect(agent.installs).toEqual([`${type}@1.1`]);
  });

  it('scenario 5: an agent that receives but never acknowledges gets attempts up to the limit', async () => {
    const type = 's5-pattern';
    const agent = await h.agent('s5-mute', [{ type, version: '1.0' }], { acknowledge: false });
    await h.publish(type, '1.1');
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'NotificationGaveUp', 'the give-up', 40_000);
    expect(entries.filter((e) => e.type === 'AttemptSent').map((e) => e.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(entries.filter((e) => e.type === 'AttemptFailed').map((e) => e.reason)).toEqual(Array(5).fill('ack-timeout'));
    expect(agent.updates.map((u) => u.attempt)).toEqual([1, 2, 3, 4, 5]);
    expect(agent.installs).toEqual([]);
  });

  it('scenario 8: a newer version published while a resend is pending rides the next attempt; one notification', async () => {
    const type = 's8-pattern';
    await h.settings({ updateOnReconnect: false, resendIntervalSeconds: 3 });
    const agent = await h.offlineAgent('s8-off', [{ type, version: '1.0' }]);
    await h.publish(type, '1.1');
    await h.waitForEntry(agent.id, (e) => e.type === 'ResendScheduled', 'the resend to be pending');

    await h.publish(type, '1.2');
    await h.waitForEntry(agent.id, (e) => e.type === 'NotificationTargetRaised', 'the target to be raised');
    await agent.restart(); // online again before the next attempt; R2 is off, so only the resend reaches it

    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the update', 30_000);
    expect(agent.updates).toHaveLength(1);
    expect(agent.updates[0]!.components.map((c) => c.version)).toEqual(['1.2']);
    expect(await agent.version(type)).toBe('1.2');
    expect(agent.installs).toEqual([`${type}@1.2`]);
    const notifications = new Set(entries.filter((e) => e.notificationId).map((e) => e.notificationId));
    expect(notifications.size).toBe(1);
    expect(types(entries).filter((t) => t === 'UpdateTargeted')).toHaveLength(1);
  });
});
