import { waitFor } from '@herald/testing';
import { RulesHarness, types } from '../support/rules-harness';

jest.setTimeout(180_000);

/**
 * Failed updates are retried on a policy of their own (updateRetries, updateRetryDelaySeconds,
 * updateRetryBackoff, updateRetryJitter) through the delay queues, recorded on the timeline, and
 * given up with the reason at the end; the rollout counts every agent once.
 */
describe('retries of failed updates', () => {
  const h = new RulesHarness();

  beforeAll(() => h.start());
  afterAll(() => h.stop());

  it('retries an update that failed to apply, doubling the wait, and gives up with the reason after the last retry', async () => {
    const type = 'retry-pattern';
    await h.settings({ notifyOnDownload: true, updateOnReconnect: true, ackTimeoutSeconds: 10, updateRetries: 2, updateRetryDelaySeconds: 2, updateRetryBackoff: 2, updateRetryJitter: 0 });
    const flaky = await h.agent('retry-flaky', [{ type, version: '1.0' }], { failInstalls: 1 });
    const broken = await h.agent('retry-broken', [{ type, version: '1.0' }], { failInstalls: 99 });
    const fine = await h.agent('retry-fine', [{ type, version: '1.0' }]);

    const { rolloutId } = await h.publish(type, '1.1');

    const flakyTimeline = await h.waitForEntry(flaky.id, (e) => e.type === 'UpdateCompleted', 'the retry to succeed', 60_000);
    expect(types(flakyTimeline).filter((t) => ['UpdateRetryScheduled', 'UpdateFailed', 'UpdateCompleted'].includes(t))).toEqual(['UpdateRetryScheduled', 'UpdateCompleted']);
    const retry = flakyTimeline.find((e) => e.type === 'UpdateRetryScheduled')!;
    expect(retry).toMatchObject({ retry: 1, retries: 2, nextAttempt: 2, error: expect.stringContaining('ENOSPC') });
    expect(Date.parse(retry.dueAt as string) - Date.parse(retry.at)).toBe(2_000);
    // The retry went out as a new attempt, not before it was due.
    const second = flakyTimeline.find((e) => e.type === 'AttemptSent' && e.attempt === 2)!;
    expect(Date.parse(second.at)).toBeGreaterThanOrEqual(Date.parse(retry.dueAt as string) - 100);
    expect(flaky.installs).toEqual([`${type}@1.1`]);

    const brokenTimeline = await h.waitForEntry(broken.id, (e) => e.type === 'UpdateFailed', 'the give-up after the last retry', 60_000);
    const retries = brokenTimeline.filter((e) => e.type === 'UpdateRetryScheduled');
    expect(retries.map((e) => [e.retry, Date.parse(e.dueAt as string) - Date.parse(e.at)])).toEqual([
      [1, 2_000],
      [2, 4_000],
    ]);
    expect(brokenTimeline.filter((e) => e.type === 'AttemptSent').map((e) => e.attempt)).toEqual([1, 2, 3]);
    expect(brokenTimeline.at(-1)).toMatchObject({ type: 'UpdateFailed', retries: 2, error: expect.stringContaining('ENOSPC') });
    expect(await broken.version(type)).toBe('1.0');

    await h.waitForEntry(fine.id, (e) => e.type === 'UpdateCompleted', 'the healthy agent to update');
    // The rollout's read model follows the timelines asynchronously.
    const view = await waitFor(async () => ((await h.rollout(rolloutId)).complete ? h.rollout(rolloutId) : undefined), { what: 'the rollout to complete', timeoutMs: 20_000 });
    expect(view.counts).toMatchObject({ targeted: 3, updated: 2, failed: 1, gaveUp: 0, alreadyUpToDate: 0, superseded: 0, inProgress: 0, retried: 2 });
    expect(view.complete).toBe(true);
  });

  it('retries updates that failed while component-download was down, once it is back, without a restart of anything else', async () => {
    const type = 'retry-outage';
    await h.settings({ notifyOnDownload: true, updateOnReconnect: true, ackTimeoutSeconds: 10, updateRetries: 3, updateRetryDelaySeconds: 3, updateRetryBackoff: 2, updateRetryJitter: 0 });
    const agent = await h.agent('retry-outage-agent', [{ type, version: '1.0' }]);
    await agent.stop();
    await h.waitOnline(agent.id, false);
    await h.publish(type, '2.0');

    // The agent comes back (R2) while component-download is down: its download fails.
    await h.system.stopService('component-download', 'SIGKILL');
    await agent.restart();
    const failed = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateRetryScheduled', 'the failed download to be scheduled for a retry', 60_000);
    expect(types(failed)).not.toContain('UpdateFailed');
    await h.system.startService('component-download');

    const done = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the retry after component-download came back', 90_000);
    expect(types(done)).not.toContain('UpdateFailed');
    expect(agent.installs).toEqual([`${type}@2.0`]);
    expect(await agent.version(type)).toBe('2.0');
  });
});
