import { TEST_READ_TOKEN, waitFor } from '@herald/testing';
import { type RolloutView, RulesHarness, types } from '../support/rules-harness';

jest.setTimeout(180_000);

interface Steered extends RolloutView {
  control: { state: 'running' | 'paused' | 'aborted'; heldAttempts: number };
}
interface ControlResponse {
  rollout: Steered;
  changed: boolean;
  agents: number;
}
interface Decision {
  action: string;
  by: string;
  reason: string | null;
  details: Record<string, unknown>;
}

/**
 * Admins steer a rollout: pause holds every attempt of its notifications (resends, and R2's
 * updates on reconnect too), resume sends them, abort closes its open notifications, retry-failed
 * tries its failed agents again; the error threshold pauses a rollout by itself. Each decision is
 * recorded with who took it.
 */
describe('rollout control', () => {
  const h = new RulesHarness();

  beforeAll(() => h.start({ ROLLOUT_GUARD_INTERVAL_MS: '500' }));
  afterAll(() => h.stop());

  const steer = async (rolloutId: string, action: 'pause' | 'resume' | 'abort' | 'retry-failed', body?: object) => {
    const res = await h.system.http<ControlResponse>('notification-dispatch', 'POST', `/rollouts/${rolloutId}/${action}`, body);
    return res;
  };
  const view = async (rolloutId: string) => (await h.system.http<Steered>('notification-dispatch', 'GET', `/rollouts/${rolloutId}`)).body;
  const decisions = async (rolloutId: string) => (await h.system.http<{ decisions: Decision[] }>('notification-dispatch', 'GET', `/rollouts/${rolloutId}/decisions`)).body.decisions;
  const attemptsSent = async (agentId: string) => (await h.entries(agentId)).filter((e) => e.type === 'AttemptSent').map((e) => e.attempt);
  /** Waits a few resend intervals: what was due in them has had every chance to go out. */
  const pauseFor = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('holds resends and updates on reconnect while paused, and sends them on resume', async () => {
    const type = 'ctl-hold';
    await h.settings({ notifyOnDownload: true, updateOnReconnect: true, ackTimeoutSeconds: 2, resendIntervalSeconds: 1, maxAttempts: 20, updateRetries: 0 });
    const mute = await h.agent('ctl-mute', [{ type, version: '1.0' }], { acknowledge: false });
    const away = await h.offlineAgent('ctl-away', [{ type, version: '1.0' }]);
    const { rolloutId } = await h.publish(type, '2.0');
    await h.waitForEntry(mute.id, (e) => e.type === 'AttemptSent', 'the first attempt');

    const paused = await steer(rolloutId, 'pause', { reason: 'investigating reports' });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ changed: true, rollout: { control: { state: 'paused' } } });
    // A second click changes nothing.
    expect((await steer(rolloutId, 'pause')).body).toMatchObject({ changed: false, rollout: { control: { state: 'paused' } } });
    const sentWhenPaused = (await attemptsSent(mute.id)).length;

    // The agent that was away comes back outdated: R2 opens its update, and the pause holds it.
    await away.restart();
    await h.waitForEntry(away.id, (e) => e.type === 'UpdateTargeted' && e.trigger === 'reconnect', 'R2 to open its update');
    await waitFor(async () => (await view(rolloutId)).control.heldAttempts === 2, { what: 'both attempts to be held', timeoutMs: 30_000 });
    await pauseFor(4_000);
    // At most the attempt being recorded as the pause committed went out; no resend after it.
    expect((await attemptsSent(mute.id)).length).toBeLessThanOrEqual(sentWhenPaused + 1);
    const heldFor = (await attemptsSent(mute.id)).length;
    await pauseFor(3_000);
    expect((await attemptsSent(mute.id)).length).toBe(heldFor);
    expect(await attemptsSent(away.id)).toEqual([]);
    expect(away.installs).toEqual([]);

    const resumed = await steer(rolloutId, 'resume');
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ changed: true, agents: 2, rollout: { control: { state: 'running', heldAttempts: 0 } } });
    await h.waitForEntry(away.id, (e) => e.type === 'UpdateCompleted', 'the held update on reconnect to go out and complete', 30_000);
    expect(away.installs).toEqual([`${type}@2.0`]);
    await waitFor(async () => (await attemptsSent(mute.id)).length > heldFor, { what: 'the held resend to go out', timeoutMs: 20_000 });

    expect(await decisions(rolloutId)).toMatchObject([
      { action: 'paused', by: 'tester', reason: 'investigating reports', details: { trigger: 'admin' } },
      { action: 'resumed', by: 'tester' },
    ]);
    // A read-only token may look but not steer.
    const viewer = await h.system.http('notification-dispatch', 'POST', `/rollouts/${rolloutId}/pause`, {}, TEST_READ_TOKEN);
    expect(viewer.status).toBe(403);
    await steer(rolloutId, 'abort');
  });

  it('retries failed agents on request, and abort closes the open notifications with the reason', async () => {
    const type = 'ctl-abort';
    await h.settings({ notifyOnDownload: true, ackTimeoutSeconds: 2, resendIntervalSeconds: 1, maxAttempts: 20, updateRetries: 0 });
    const mute = await h.agent('ctl-mute-2', [{ type, version: '1.0' }], { acknowledge: false });
    const flaky = await h.agent('ctl-flaky', [{ type, version: '1.0' }], { failInstalls: 1 });
    const fine = await h.agent('ctl-fine', [{ type, version: '1.0' }]);
    const { rolloutId } = await h.publish(type, '2.0');
    await h.waitForEntry(flaky.id, (e) => e.type === 'UpdateFailed', 'the update to fail (no retries left)');
    await h.waitForEntry(fine.id, (e) => e.type === 'UpdateCompleted', 'the healthy agent to update');
    await waitFor(async () => (await view(rolloutId)).counts.failed === 1, { what: 'the rollout to count the failure' });

    const retried = await steer(rolloutId, 'retry-failed');
    expect(retried.status).toBe(200);
    expect(retried.body).toMatchObject({ changed: true, agents: 1 });
    const flakyTimeline = await h.waitForEntry(flaky.id, (e) => e.type === 'UpdateCompleted', 'the retried update to complete', 30_000);
    expect(flakyTimeline.filter((e) => e.type === 'UpdateTargeted').map((e) => e.trigger)).toEqual(['download', 'admin']);
    expect(flaky.installs).toEqual([`${type}@2.0`]);
    await waitFor(async () => (await view(rolloutId)).counts.updated === 2, { what: 'the rollout to count the retried agent updated' });
    // Nothing failed is left: a second retry opens nothing.
    expect((await steer(rolloutId, 'retry-failed')).body).toMatchObject({ changed: false, agents: 0 });

    const aborted = await steer(rolloutId, 'abort', { reason: 'bad build' });
    expect(aborted.status).toBe(200);
    expect(aborted.body).toMatchObject({ changed: true, agents: 1, rollout: { control: { state: 'aborted' } } });
    const muteTimeline = await h.entries(mute.id);
    expect(muteTimeline.at(-1)).toMatchObject({ type: 'NotificationResolved', reason: 'aborted', rolloutId, by: 'tester' });
    const sent = (await attemptsSent(mute.id)).length;
    await pauseFor(3_000);
    expect((await attemptsSent(mute.id)).length).toBe(sent);
    const done = await waitFor(async () => ((await view(rolloutId)).complete ? view(rolloutId) : undefined), { what: 'the aborted rollout to be complete', timeoutMs: 20_000 });
    expect(done.counts).toMatchObject({ targeted: 3, updated: 2, failed: 0, aborted: 1, inProgress: 0 });
    expect(types(await h.entries(fine.id))).not.toContain('NotificationResolved');

    // An aborted rollout is over.
    for (const action of ['pause', 'resume', 'retry-failed'] as const) expect((await steer(rolloutId, action)).status).toBe(409);
    expect((await steer(rolloutId, 'abort')).body).toMatchObject({ changed: false });
    expect((await decisions(rolloutId)).map((d) => [d.action, d.reason, d.details.agents])).toEqual([
      ['retried-failed', null, 1],
      ['aborted', 'bad build', undefined],
    ]);
    // Unknown and malformed rollouts.
    expect((await steer('00000000-0000-4000-8000-000000000000', 'pause')).status).toBe(404);
    expect((await steer('nope', 'pause')).status).toBe(400);
    expect((await steer(rolloutId, 'abort', { reason: 'x'.repeat(501) })).status).toBe(400);
  });

  it('pauses a rollout by itself when more of its finished agents failed than the error threshold allows', async () => {
    const type = 'ctl-threshold';
    await h.settings({ notifyOnDownload: true, ackTimeoutSeconds: 5, updateRetries: 0, rolloutErrorThresholdPercent: 40, rolloutErrorThresholdMinFinished: 4 });
    try {
      const broken = await Promise.all([1, 2, 3].map((i) => h.agent(`ctl-broken-${i}`, [{ type, version: '1.0' }], { failInstalls: 99 })));
      const fine = await h.agent('ctl-fine-2', [{ type, version: '1.0' }]);
      const late = await h.agent('ctl-late', [{ type, version: '1.0' }], { acknowledge: false });
      const { rolloutId } = await h.publish(type, '2.0');
      for (const b of broken) await h.waitForEntry(b.id, (e) => e.type === 'UpdateFailed', 'the update to fail');
      await h.waitForEntry(fine.id, (e) => e.type === 'UpdateCompleted', 'the healthy agent to update');

      const paused = await waitFor(async () => ((await view(rolloutId)).control.state === 'paused' ? view(rolloutId) : undefined), { what: 'the error threshold to pause the rollout', timeoutMs: 20_000 });
      expect(paused.counts).toMatchObject({ failed: 3, updated: 1, inProgress: 1 });
      expect(await decisions(rolloutId)).toMatchObject([
        { action: 'paused', by: 'herald', reason: 'error threshold crossed', details: { trigger: 'error-threshold', failed: 3, finished: 4, thresholdPercent: 40 } },
      ]);
      const metrics = (await h.system.http<string>('notification-dispatch', 'GET', '/metrics', undefined, null)).body;
      expect(metrics).toMatch(/herald_rollouts_paused_total\{reason="error-threshold",service="notification-dispatch"\} 1\n/);
      expect(metrics).toMatch(/herald_rollouts_paused\{service="notification-dispatch"\} 1\n/);
      // The agent still waiting has its resends held.
      await waitFor(async () => (await view(rolloutId)).control.heldAttempts === 1, { what: "the waiting agent's resend to be held", timeoutMs: 20_000 });
      expect(late.installs).toEqual([]);

      // Resumed, the threshold counts from there: the old failures do not pause it again.
      expect((await steer(rolloutId, 'resume')).body).toMatchObject({ changed: true, agents: 1 });
      await pauseFor(2_000);
      expect((await view(rolloutId)).control.state).toBe('running');
      await steer(rolloutId, 'abort');
    } finally {
      await h.settings({ rolloutErrorThresholdPercent: 0 });
    }
  });
});
