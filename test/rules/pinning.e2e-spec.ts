import { TEST_READ_TOKEN, waitFor } from '@herald/testing';
import { type RolloutView, RulesHarness } from '../support/rules-harness';

jest.setTimeout(240_000);

interface PinView {
  componentType: string;
  pinned: { version: string; by: string; reason: string | null; at: string } | null;
  latest: string | null;
}
interface PinRollout extends RolloutView {
  component: { type: string; version: string; pinned: boolean };
  cause: { kind: 'pin' | 'unpin'; by: string | null; reason: string | null } | null;
}

/**
 * Rollback and pinning: an admin pins a component type to a kept version; agents above it are told
 * to go down to it (the update command names the type in `downgrade`), agents reconnecting get it,
 * new versions are kept but not rolled out, and retention keeps the pinned file. Unpinning brings
 * everyone to the newest version again.
 */
describe('pinning (rollback)', () => {
  const h = new RulesHarness();

  // Two fulls kept: without the pin, 1.0 would be retired once 3.0 arrives.
  beforeAll(() => h.start({ KEEP_FULL_VERSIONS: '2', PATCH_WINDOW: '1' }));
  afterAll(() => h.stop());

  const pin = (type: string, body: object, token?: string) => h.system.http<PinView & { message?: string }>('component-download', 'POST', `/components/${type}/pin`, body, token);
  const unpin = (type: string) => h.system.http<PinView>('component-download', 'POST', `/components/${type}/unpin`);
  const rollouts = async (type: string) =>
    (await h.system.http<{ rollouts: PinRollout[] }>('notification-dispatch', 'GET', '/rollouts?limit=100')).body.rollouts.filter((r) => r.component.type === type);
  const rolloutOf = (type: string, kind: 'pin' | 'unpin') =>
    waitFor(async () => (await rollouts(type)).find((r) => r.cause?.kind === kind), { what: `the ${kind} rollout of ${type}`, timeoutMs: 30_000 });
  const complete = (rolloutId: string) =>
    waitFor(async () => {
      const r = (await h.rollout(rolloutId)) as PinRollout;
      return r.complete ? r : undefined;
    }, { what: `rollout ${rolloutId} to complete`, timeoutMs: 60_000 });
  const kept = async (type: string) =>
    (await h.system.http<{ versions: Array<{ version: string }> }>('component-download', 'GET', `/components/${type}/versions`)).body.versions.map((v) => v.version);

  it('rolls agents back to a pinned version, holds new versions back, keeps the pinned file, and unpin returns to the newest', async () => {
    const type = 'pin-pattern';
    await h.settings({ notifyOnDownload: true, updateOnReconnect: true, scanAfterUpdate: false, ackTimeoutSeconds: 5, resendIntervalSeconds: 2, maxAttempts: 10, updateRetries: 0 });
    const a = await h.agent('pin-a', [{ type, version: '1.0' }]);
    const b = await h.agent('pin-b', [{ type, version: '1.0' }]);
    // Runs with refuseDowngrades: its rollback fails, with the reason.
    const firm = await h.agent('pin-firm', [{ type, version: '1.0' }], { refuseDowngrades: true });
    // Away during the rollback, on the version it is rolled back from.
    const away = await h.offlineAgent('pin-away', [{ type, version: '2.0' }]);
    await h.publish(type, '1.0');
    const v2 = await h.publish(type, '2.0');
    await complete(v2.rolloutId);
    expect([a.installs, b.installs, firm.installs]).toEqual([[`${type}@2.0`], [`${type}@2.0`], [`${type}@2.0`]]);

    // Refusals: a version not kept, a type with nothing kept, a bad body, a read-only token.
    const notKept = await pin(type, { version: '0.5' });
    expect(notKept.status).toBe(409);
    expect(notKept.body.message).toBe(`version 0.5 of ${type} is not kept (kept: 1.0, 2.0); only a kept version can be pinned`);
    expect((await pin('pin-nothing', { version: '1.0' })).status).toBe(404);
    expect((await pin(type, { version: 'one' })).status).toBe(400);
    expect((await pin(type, { version: '1.0', extra: true })).status).toBe(400);
    expect((await pin(type, { version: '1.0' }, TEST_READ_TOKEN)).status).toBe(403);

    const pinned = await pin(type, { version: '1.0', reason: 'bad pattern in 2.0' });
    expect(pinned.status).toBe(200);
    expect(pinned.body).toMatchObject({ componentType: type, pinned: { version: '1.0', by: 'tester', reason: 'bad pattern in 2.0' }, latest: '2.0' });
    // Pinning the pinned version again changes nothing: no second rollout.
    expect((await pin(type, { version: '1.0' })).body.pinned).toMatchObject({ version: '1.0', reason: 'bad pattern in 2.0' });

    const rollback = await rolloutOf(type, 'pin');
    expect(rollback).toMatchObject({ component: { type, version: '1.0', pinned: true }, cause: { kind: 'pin', by: 'tester', reason: 'bad pattern in 2.0' } });
    const rolledBack = await complete(rollback.rolloutId);
    expect(rolledBack.counts).toMatchObject({ targeted: 3, updated: 2, failed: 1, inProgress: 0 });
    expect((await h.entries(firm.id)).at(-1)).toMatchObject({ type: 'UpdateFailed', error: `${type} 1.0: refused, this agent does not downgrade from 2.0` });
    expect(firm.installs).toEqual([`${type}@2.0`]);
    expect(rolledBack.counts.skipped).toMatchObject({ offline: 1 });
    expect([a.installs, b.installs]).toEqual([
      [`${type}@2.0`, `${type}@1.0`],
      [`${type}@2.0`, `${type}@1.0`],
    ]);
    // The command told the agent to go down, and the agent fetched the full file (patches only go forward).
    const down = a.updates.at(-1)!;
    expect(down.components).toEqual([expect.objectContaining({ type, version: '1.0' })]);
    expect(down.components[0]).not.toHaveProperty('pinned');
    expect(down.downgrade).toEqual([type]);
    expect((await h.entries(a.id)).filter((e) => e.type === 'UpdateCompleted').at(-1)).toMatchObject({ components: [{ type, fromVersion: '2.0', toVersion: '1.0', mode: 'full' }] });
    // Ordinary updates carry no downgrade.
    expect(a.updates[0]!.downgrade).toBeUndefined();
    expect(await rollouts(type)).toHaveLength(3);

    // New versions while pinned: kept, not rolled out; retention keeps the pinned full besides the newest two.
    for (const version of ['3.0', '4.0']) {
      h.upstream.publish({ type, version, content: Buffer.from(`pattern ${version}`) });
      const check = await h.system.http<{ downloaded: Array<{ version: string }> }>('component-download', 'POST', '/components/check');
      expect(check.body.downloaded.map((d) => d.version)).toEqual([version]);
    }
    await waitFor(async () => ((await kept(type)).join() === '4.0,3.0,1.0' ? true : undefined), { what: 'retention to retire 2.0 and keep the pinned 1.0', timeoutMs: 30_000 });
    // The pinned file is still served.
    const file = await fetch(`${h.system.url('component-download')}/components/${type}/versions/1.0/download`);
    expect(file.status).toBe(200);
    await file.arrayBuffer();
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await rollouts(type)).map((r) => r.component.version).sort()).toEqual(['1.0', '1.0', '2.0']);
    expect([await a.version(type), await b.version(type), await firm.version(type)]).toEqual(['1.0', '1.0', '2.0']);

    // An agent that comes back on a newer version is taken down to the pin at once (R2), in the pin's rollout.
    await away.restart();
    const awayTimeline = await h.waitForEntry(away.id, (e) => e.type === 'UpdateCompleted', 'R2 to take it down to the pin', 30_000);
    expect(awayTimeline.find((e) => e.type === 'UpdateTargeted')).toMatchObject({ trigger: 'reconnect' });
    expect(away.installs).toEqual([`${type}@1.0`]);
    // It was in the rollback's plan, skipped as offline: the rollback counts it updated after the skip.
    await waitFor(async () => ((await h.rollout(rollback.rolloutId)).counts.updatedAfterSkip === 1 ? true : undefined), { what: 'the rollback to count the agent R2 took down' });

    // Unpin: everyone goes to the newest version.
    const released = await unpin(type);
    expect(released.status).toBe(200);
    expect(released.body).toMatchObject({ pinned: null, latest: '4.0' });
    const forward = await rolloutOf(type, 'unpin');
    expect(forward).toMatchObject({ component: { version: '4.0', pinned: false }, cause: { kind: 'unpin', by: 'tester', reason: null } });
    const done = await complete(forward.rolloutId);
    expect(done.counts).toMatchObject({ targeted: 4, updated: 4, failed: 0 });
    expect([await a.version(type), await b.version(type), await away.version(type), await firm.version(type)]).toEqual(['4.0', '4.0', '4.0', '4.0']);
    expect(a.updates.at(-1)!.downgrade).toBeUndefined();
    // Unpinning an unpinned type changes nothing.
    expect((await unpin(type)).body).toMatchObject({ pinned: null });
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await rollouts(type)).filter((r) => r.cause?.kind === 'unpin')).toHaveLength(1);
  });

  it('a pin takes over a notification still open for a newer version, even of an agent already at the pinned version', async () => {
    const type = 'pin-open';
    await h.settings({ notifyOnDownload: true, updateOnReconnect: true, scanAfterUpdate: false, ackTimeoutSeconds: 2, resendIntervalSeconds: 1, maxAttempts: 30, updateRetries: 0 });
    // It never acknowledges: its 2.0 notification stays open, resent every second.
    const mute = await h.agent('pin-mute', [{ type, version: '1.0' }], { acknowledge: false });
    await h.publish(type, '1.0');
    await h.publish(type, '2.0');
    await h.waitForEntry(mute.id, (e) => e.type === 'AttemptSent', 'the 2.0 attempt to go out');
    expect((await pin(type, { version: '1.0' })).status).toBe(200);
    const rollback = await rolloutOf(type, 'pin');
    expect(rollback.counts).toMatchObject({ targeted: 1, upToDate: 0 });
    const timeline = await h.waitForEntry(mute.id, (e) => e.type === 'NotificationTargetRaised', 'the pin to take the open notification over', 30_000);
    expect(timeline.find((e) => e.type === 'NotificationTargetRaised')).toMatchObject({ rolloutId: rollback.rolloutId, components: [expect.objectContaining({ type, version: '1.0', pinned: true })] });
    expect(timeline.filter((e) => e.type === 'UpdateTargeted')).toHaveLength(1);
    // From then on the resends carry the pinned version, marked as a downgrade the agent may take.
    await waitFor(async () => (mute.updates.at(-1)?.components[0]?.version === '1.0' ? true : undefined), { what: 'an attempt with the pinned version', timeoutMs: 20_000 });
    expect(mute.updates.at(-1)).toMatchObject({ downgrade: [type] });
    expect(mute.updates[0]).toMatchObject({ components: [expect.objectContaining({ version: '2.0' })] });
    expect(mute.updates[0]!.downgrade).toBeUndefined();

    // It comes back acknowledging and takes the pinned version: its part in the 2.0 rollout ends
    // as superseded (not failed, not in progress for ever), and the pin's rollout counts it.
    await mute.stop();
    await h.waitOnline(mute.id, false);
    const back = await h.agent(mute.id, [{ type, version: '1.0' }]);
    const release = (await rollouts(type)).find((r) => r.component.version === '2.0')!;
    expect((await complete(release.rolloutId)).counts).toMatchObject({ targeted: 1, updated: 0, superseded: 1, failed: 0, inProgress: 0 });
    expect((await complete(rollback.rolloutId)).counts).toMatchObject({ targeted: 1, inProgress: 0, failed: 0, gaveUp: 0 });
    expect((await back.store.installed()).find((c) => c.type === type)?.version).toBe('1.0');
  });
});
