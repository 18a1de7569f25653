import { sleep, waitFor } from '@herald/testing';
import { RulesHarness, types } from '../support/rules-harness';

jest.setTimeout(120_000);

/**
 * R1, R1a, R6, R8 and settings, scenario by scenario. Each scenario uses a component type of its
 * own, so a rollout only concerns that scenario's agents.
 */
describe('R1: notify on download', () => {
  const h = new RulesHarness();

  beforeAll(() => h.start());
  afterAll(() => h.stop());
  beforeEach(() =>
    h.settings({ notifyOnDownload: true, includeIndependentAndOffline: false, updateOnReconnect: true, scanAfterUpdate: false, resendIntervalSeconds: 2, maxAttempts: 5, ackTimeoutSeconds: 2, maxInFlight: 1000 }),
  );

  it('scenario 1: notifies and updates the online agents; the offline one is skipped as offline and sent nothing', async () => {
    const type = 's1-pattern';
    const online = await Promise.all(['s1-a', 's1-b', 's1-c'].map((id) => h.agent(id, [{ type, version: '1.0' }])));
    const offline = await h.offlineAgent('s1-off', [{ type, version: '1.0' }]);

    const rollout = await h.publish(type, '1.1');
    for (const agent of online) {
      const entries = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the update');
      expect(types(entries)).toEqual(['UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
      expect(await agent.version(type)).toBe('1.1');
      expect(agent.updates).toHaveLength(1);
    }
    const offlineEntries = await h.waitForEntry(offline.id, (e) => e.type === 'TargetSkipped', 'the skip');
    expect(offlineEntries).toEqual([expect.objectContaining({ type: 'TargetSkipped', reason: 'offline', rolloutId: rollout.rolloutId, trigger: 'download' })]);
    expect(offline.updates).toHaveLength(0);

    const view = await waitFor(async () => {
      const r = await h.rollout(rollout.rolloutId);
      return r.complete && r.counts.updated === 3 ? r : undefined;
    }, { what: 'the rollout to complete' });
    expect(view.counts).toMatchObject({ targeted: 3, notified: 3, acknowledged: 3, updated: 3, failed: 0, gaveUp: 0, inProgress: 0, skipped: { offline: 1, independent: 0, 'no-privilege': 0 } });
  });

  it('scenario 6: an Independent agent is skipped by R1, notified with R1a, never updated by R2 and never scanned by R3', async () => {
    const type = 's6-pattern';
    const independent = await h.agent('s6-ind', [{ type, version: '1.0' }], { independent: true });
    const unprivileged = await h.agent('s6-nopriv', [{ type, version: '1.0' }], { independent: true });
    await h.grantIndependentPrivilege(independent.id, true);

    // R1 without R1a: both skipped, each with its own reason.
    const rollout = await h.publish(type, '1.1');
    expect(await h.waitForEntry(independent.id, (e) => e.type === 'TargetSkipped', 'skip')).toEqual([expect.objectContaining({ type: 'TargetSkipped', reason: 'independent' })]);
    expect(await h.waitForEntry(unprivileged.id, (e) => e.type === 'TargetSkipped', 'skip')).toEqual([expect.objectContaining({ type: 'TargetSkipped', reason: 'no-privilege' })]);
    expect(independent.updates).toHaveLength(0);

    // R2 on reconnect leaves Independent agents alone, and records that skip too (R8), in the rollout of the version it lacks.
    await independent.restart();
    const back = await h.waitForEntry(independent.id, (e) => e.type === 'TargetSkipped' && e.trigger === 'reconnect', 'the skip on reconnect');
    expect(back).toEqual([
      expect.objectContaining({ type: 'TargetSkipped', trigger: 'download', reason: 'independent' }),
      expect.objectContaining({ type: 'TargetSkipped', trigger: 'reconnect', reason: 'independent', rolloutIds: [rollout.rolloutId] }),
    ]);
    await sleep(1_500);
    expect(types(await h.entries(independent.id))).toEqual(['TargetSkipped', 'TargetSkipped']);
    expect(independent.updates).toHaveLength(0);

    // With R1a (and R3 on), it is notified and updates, but is never asked to scan.
    await h.settings({ includeIndependentAndOffline: true, scanAfterUpdate: true });
    await h.publish(type, '1.2');
    const entries = await h.waitForEntry(independent.id, (e) => e.type === 'UpdateCompleted', 'the R1a update');
    expect(await independent.version(type)).toBe('1.2');
    await sleep(1_000);
    expect(types(await h.entries(independent.id))).not.toContain('ScanRequested');
    expect(independent.scans).toHaveLength(0);
    expect(types(entries).slice(-4)).toEqual(['UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
  });

  it('scenario 10: a settings change between two triggers changes behaviour for the second only', async () => {
    const type = 's10-pattern';
    await h.settings({ notifyOnDownload: false });
    const agent = await h.agent('s10-a', [{ type, version: '1.0' }]);
    const first = await h.publish(type, '1.1');
    expect(first).toMatchObject({ counts: expect.objectContaining({ targeted: 0 }) });
    await sleep(1_000);
    expect(agent.updates).toHaveLength(0);

    await h.settings({ notifyOnDownload: true });
    const second = await h.publish(type, '1.2');
    await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the second trigger to update it');
    expect(agent.updates.map((u) => u.components.map((c) => c.version))).toEqual([['1.2']]);
    expect((await h.rollout(first.rolloutId)).counts.targeted).toBe(0);
    expect((await h.rollout(second.rolloutId)).counts.targeted).toBe(1);

    const history = await h.system.http<{ changes: Array<{ changes: Array<{ field: string; from: unknown; to: unknown }> }> }>(
      'notification-dispatch',
      'GET',
      '/settings/event-triggered-updates/history',
    );
    expect(history.body.changes.flatMap((c) => c.changes).filter((c) => c.field === 'notifyOnDownload').slice(-2)).toEqual([
      { field: 'notifyOnDownload', from: true, to: false },
      { field: 'notifyOnDownload', from: false, to: true },
    ]);
  });

  it('R6: never more than maxInFlight agents between notified and reported, and every agent finishes', async () => {
    const type = 's-r6-pattern';
    await h.settings({ maxInFlight: 2 });
    const agents = await Promise.all(Array.from({ length: 6 }, (_, i) => h.agent(`r6-${i}`, [{ type, version: '1.0' }], { installDelayMs: 400 })));
    h.maxConcurrentUpdates = 0;
    const rollout = await h.publish(type, '1.1');
    await waitFor(async () => (await h.rollout(rollout.rolloutId)).counts.updated === 6, { what: 'all six to update', timeoutMs: 30_000 });
    for (const a of agents) expect(await a.version(type)).toBe('1.1');
    expect(h.maxConcurrentUpdates).toBeGreaterThan(0);
    expect(h.maxConcurrentUpdates).toBeLessThanOrEqual(2);
  });

  it('refuses a bad settings value with a 400 that names the field', async () => {
    const res = await h.system.http<{ errors: Array<{ path: string[] }> }>('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', {
      resendIntervalSeconds: 0,
      maxAttempts: 'five',
    });
    expect(res.status).toBe(400);
    expect(res.body.errors.map((e) => e.path.join('.')).sort()).toEqual(['maxAttempts', 'resendIntervalSeconds']);
    const unknown = await h.system.http('notification-dispatch', 'PATCH', '/settings/event-triggered-updates', { resendIntervalMinutes: 5 });
    expect(unknown.status).toBe(400);
  });
});
