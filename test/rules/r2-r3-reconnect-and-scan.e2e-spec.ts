import { sleep, waitFor } from '@herald/testing';
import { RulesHarness, types } from '../support/rules-harness';

jest.setTimeout(120_000);

/** R2 (update on reconnect) and R3 (Scan Now after the update). */
describe('R2 and R3', () => {
  const h = new RulesHarness();

  beforeAll(() => h.start());
  afterAll(() => h.stop());
  beforeEach(() =>
    h.settings({ notifyOnDownload: true, includeIndependentAndOffline: false, updateOnReconnect: true, scanAfterUpdate: false, resendIntervalSeconds: 2, maxAttempts: 5, ackTimeoutSeconds: 2 }),
  );

  it('scenario 4: with R1a off and R2 on, an offline agent is not notified, and is updated at once when it reconnects; an up-to-date one gets nothing', async () => {
    const type = 's4-pattern';
    const outdated = await h.offlineAgent('s4-late', [{ type, version: '1.0' }]);
    const rollout = await h.publish(type, '1.1');
    await h.waitForEntry(outdated.id, (e) => e.type === 'TargetSkipped', 'the skip');
    await sleep(1_000);
    expect(outdated.updates).toHaveLength(0);

    const reconnectedAt = Date.now();
    await outdated.restart();
    const entries = await h.waitForEntry(outdated.id, (e) => e.type === 'UpdateCompleted', 'the update on reconnect');
    expect(types(entries)).toEqual(['TargetSkipped', 'UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
    expect(entries[1]).toMatchObject({ trigger: 'reconnect', rolloutId: null });
    expect(Date.parse(entries[2]!.at) - reconnectedAt).toBeLessThan(5_000);
    expect(await outdated.version(type)).toBe('1.1');
    // The rollout counts the skipped agent that R2 brought up to date.
    await waitFor(async () => (await h.rollout(rollout.rolloutId)).counts.updatedAfterSkip === 1, { what: 'the rollout to see it' });

    // Already up to date: reconnecting changes nothing.
    const current = await h.agent('s4-current', [{ type, version: '1.1' }]);
    await current.restart();
    await sleep(1_500);
    expect(current.updates).toHaveLength(0);
    expect(await h.entries(current.id)).toEqual([]);
  });

  it('with R2 off, a reconnecting outdated agent is left alone', async () => {
    const type = 's4b-pattern';
    await h.settings({ updateOnReconnect: false });
    const agent = await h.offlineAgent('s4b-late', [{ type, version: '1.0' }]);
    await h.publish(type, '1.1');
    await h.waitForEntry(agent.id, (e) => e.type === 'TargetSkipped', 'the skip');
    await agent.restart();
    await sleep(1_500);
    expect(agent.updates).toHaveLength(0);
    expect(types(await h.entries(agent.id))).toEqual(['TargetSkipped']);
  });

  it('scenario 7: with R3 on, a scan follows each completed event-triggered update, exactly once per update', async () => {
    const type = 's7-pattern';
    await h.settings({ scanAfterUpdate: true });
    const agent = await h.agent('s7-a', [{ type, version: '1.0' }]);

    await h.publish(type, '1.1');
    await h.waitForEntry(agent.id, (e) => e.type === 'ScanCompleted', 'the first scan');
    await h.publish(type, '1.2');
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'ScanCompleted' && e.position > 8, 'the second scan');

    // An update started by R2 on reconnect is followed by a scan too.
    await agent.stop();
    await h.waitOnline(agent.id, false);
    await h.publish(type, '1.3');
    await agent.restart();
    const all = await h.waitForEntry(agent.id, (e) => e.type === 'ScanCompleted' && e.position > entries.length, 'the scan after the R2 update');

    await sleep(1_000);
    expect(agent.scans).toHaveLength(3);
    expect(new Set(agent.scans.map((s) => s.scanId)).size).toBe(3);
    const completed = all.filter((e) => e.type === 'UpdateCompleted');
    const scans = all.filter((e) => e.type === 'ScanCompleted');
    expect(completed).toHaveLength(3);
    expect(scans).toHaveLength(3);
    expect(scans.every((s) => s.outcome === 'clean')).toBe(true);
    expect(types(all).filter((t) => t === 'ScanRequested')).toHaveLength(3);
  });
});
