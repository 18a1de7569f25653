import { TEST_READ_TOKEN, waitFor } from '@herald/testing';
import { spreadNotifyChunks } from '../../apps/notification-dispatch/src/agent-updates/work-messages';
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
describe('fleet operations', () => {
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

  it('spreads a rollout’s first attempts over the window set by rolloutSpreadSeconds, never earlier than their step', async () => {
    const type = 'spread-pattern';
    await h.settings({ notifyOnDownload: true, ackTimeoutSeconds: 10, updateRetries: 0, rolloutSpreadSeconds: 4 });
    try {
      const agents = await Promise.all(Array.from({ length: 20 }, (_, i) => h.agent(`spread-${i + 1}`, [{ type, version: '1.0' }])));
      const rollout = await h.publish(type, '2.0');
      const started = Date.parse((await h.system.http<{ startedAt: string }>('notification-dispatch', 'GET', `/rollouts/${rollout.rolloutId}`)).body.startedAt);
      const steps = new Map(spreadNotifyChunks(rollout.rolloutId, agents.map((a) => a.id), 4_000).flatMap((c) => c.agentIds.map((id) => [id, c.delayMs] as const)));
      const firstAttempts = new Map<string, number>();
      for (const agent of agents) {
        const timeline = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'its spread update', 60_000);
        firstAttempts.set(agent.id, Date.parse(timeline.find((e) => e.type === 'AttemptSent')!.at));
      }
      // No agent hears before its step (a loaded machine may make any of them later, never earlier),
      // and the steps drawn span most of the window.
      for (const agent of agents) expect({ agent: agent.id, early: firstAttempts.get(agent.id)! < started + steps.get(agent.id)! - 50 }).toEqual({ agent: agent.id, early: false });
      const drawn = [...steps.values()];
      expect(Math.max(...drawn) - Math.min(...drawn)).toBeGreaterThanOrEqual(2_000);
    } finally {
      await h.settings({ rolloutSpreadSeconds: 0 });
    }
  });

  describe('update now and bulk actions', () => {
    const updateNow = (path: string, body?: object) => h.system.http<Record<string, number>>('notification-dispatch', 'POST', path, body);

    it('updates one agent now, also an Independent one the rules leave alone, and counts it in the rollout of the version', async () => {
      const type = 'now-one';
      await h.settings({ notifyOnDownload: false, updateOnReconnect: true, ackTimeoutSeconds: 5, maxAttempts: 3, updateRetries: 0 });
      try {
        const plain = await h.agent('now-plain', [{ type, version: '1.0' }]);
        const independent = await h.agent('now-independent', [{ type, version: '1.0' }], { independent: true });
        const { rolloutId } = await h.publish(type, '2.0');
        // R1 is off: nobody is notified until an admin says so.
        await pauseFor(1_000);
        expect(types(await h.entries(plain.id))).not.toContain('UpdateTargeted');

        const res = await updateNow(`/agents/${plain.id}/update-now`);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ opened: 1, raised: 0, alreadyOnTheirWay: 0, upToDate: 0 });
        const timeline = await h.waitForEntry(plain.id, (e) => e.type === 'UpdateCompleted', 'the update to complete');
        expect(timeline.find((e) => e.type === 'UpdateTargeted')).toMatchObject({ trigger: 'admin', by: 'tester', rolloutId: null, rolloutIds: [rolloutId] });
        expect(plain.installs).toEqual([`${type}@2.0`]);

        expect((await updateNow(`/agents/${independent.id}/update-now`)).body).toMatchObject({ opened: 1 });
        await h.waitForEntry(independent.id, (e) => e.type === 'UpdateCompleted', 'the Independent agent to update on the admin’s word');
        expect(independent.installs).toEqual([`${type}@2.0`]);

        const agents = await waitFor(
          async () => {
            const list = (await h.system.http<{ agents: Array<{ agentId: string; via: string; outcome: string | null }> }>('notification-dispatch', 'GET', `/rollouts/${rolloutId}/agents`)).body.agents;
            return list.filter((a) => a.outcome === 'updated').length === 2 ? list : undefined;
          },
          { what: 'the rollout to count both agents updated' },
        );
        expect(agents.map((a) => [a.agentId, a.via])).toEqual([
          ['now-independent', 'admin'],
          ['now-plain', 'admin'],
        ]);
        // Up to date now (once dispatch heard the new version); unknown and malformed ids.
        await waitFor(async () => (await updateNow(`/agents/${plain.id}/update-now`)).body.upToDate === 1, { what: 'the agent to be up to date for dispatch' });
        expect((await updateNow('/agents/nobody-here/update-now')).status).toBe(404);
        expect((await updateNow('/agents/bad%20id/update-now')).status).toBe(400);
      } finally {
        await h.settings({ notifyOnDownload: true });
      }
    });

    it('updates now every agent a filter matches, and grants a privilege in bulk, one event per agent, counted', async () => {
      const type = 'now-bulk';
      await h.settings({ notifyOnDownload: false, ackTimeoutSeconds: 5, maxAttempts: 3, updateRetries: 0 });
      try {
        const fleet = await Promise.all(['now-bulk-1', 'now-bulk-2', 'now-bulk-3'].map((id) => h.agent(id, [{ type, version: '1.0' }])));
        const other = await h.agent('now-other', [{ type: 'now-other-type', version: '1.0' }]);
        await h.publish(type, '2.0');

        const res = await updateNow('/agents/update-now', { component: type, version: '1.0' });
        expect(res.status).toBe(200);
        expect(res.body).toEqual({ matched: 3, opened: 3, raised: 0, alreadyOnTheirWay: 0, upToDate: 0 });
        for (const agent of fleet) await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the bulk update to complete');
        expect(fleet.map((a) => a.installs)).toEqual(fleet.map(() => [`${type}@2.0`]));
        expect(types(await h.entries(other.id))).not.toContain('UpdateTargeted');
        expect((await updateNow('/agents/update-now', { version: '1.0' })).status).toBe(400);

        const grant = (body: object) => h.system.http<{ matched: number; changed: number }>('agent-presence', 'POST', '/agents/privileges', body);
        expect((await grant({ filter: { q: 'NOW-BULK-' }, independentMode: true })).body).toEqual({ matched: 3, changed: 3 });
        // Again: nothing changes, nothing is recorded.
        expect((await grant({ filter: { q: 'now-bulk-' }, independentMode: true })).body).toEqual({ matched: 3, changed: 0 });
        for (const agent of fleet) {
          await waitFor(async () => (await h.timeline(agent.id))?.agent?.independentPrivilege === true, { what: `dispatch to see ${agent.id}'s privilege` });
        }
        expect((await h.timeline(other.id))?.agent?.independentPrivilege).toBe(false);
        const one = await h.system.http<{ privileges: { independentMode: boolean } }>('agent-presence', 'GET', '/agents/now-bulk-2');
        expect(one.body.privileges.independentMode).toBe(true);
        expect((await grant({ filter: { version: '1.0' }, independentMode: true })).status).toBe(400);
        expect((await h.system.http('agent-presence', 'POST', '/agents/privileges', { filter: {}, independentMode: false }, TEST_READ_TOKEN)).status).toBe(403);
      } finally {
        await h.settings({ notifyOnDownload: true });
      }
    });
  });

  describe('labels', () => {
    interface Listed {
      total: number;
      agents: Array<{ agentId: string; labels: Record<string, string>; adminLabels: Record<string, string> }>;
    }
    const list = async (query: string) => (await h.system.http<Listed>('agent-presence', 'GET', `/agents?${query}`)).body;
    const ids = async (query: string) => (await list(query)).agents.map((a) => a.agentId);
    const label = (path: string, body: object, token?: string) => h.system.http<Record<string, unknown>>('agent-presence', 'POST', path, body, token);

    it('lists agents by the labels they report and by those admins set, which win; bulk label changes and update now select by label', async () => {
      const type = 'lab-type';
      await h.settings({ notifyOnDownload: false, ackTimeoutSeconds: 5, maxAttempts: 3, updateRetries: 0 });
      try {
        const paris1 = await h.agent('lab-paris-1', [{ type, version: '1.0' }], { labels: { site: 'paris', os: 'linux' } });
        const paris2 = await h.agent('lab-paris-2', [{ type, version: '1.0' }], { labels: { site: 'paris', os: 'windows' } });
        const lyon = await h.agent('lab-lyon-1', [{ type, version: '1.0' }], { labels: { site: 'lyon' } });
        await h.agent('lab-bare', [{ type, version: '1.0' }]);

        expect(await ids('q=lab-&label=site:paris')).toEqual(['lab-paris-1', 'lab-paris-2']);
        expect(await ids('q=lab-&label=site:paris&label=os:linux')).toEqual(['lab-paris-1']);
        expect((await list('q=lab-bare')).agents[0]).toMatchObject({ labels: {}, adminLabels: {} });
        for (const bad of ['label=site', 'label=Site:paris', 'label=site:']) {
          expect((await h.system.http('agent-presence', 'GET', `/agents?${bad}`)).status).toBe(400);
        }

        // An admin's label wins over the agent's own, and stays when the agent says hello again.
        const set = await label(`/agents/${lyon.id}/labels`, { set: { site: 'paris', ring: 'canary' } });
        expect(set.status).toBe(200);
        expect(set.body).toEqual({ labels: { site: 'paris', ring: 'canary' }, adminLabels: { site: 'paris', ring: 'canary' } });
        const connectedAt = async () => (await h.system.http<{ lastConnectedAt: string }>('agent-presence', 'GET', `/agents/${lyon.id}`)).body.lastConnectedAt;
        const before = await connectedAt();
        await lyon.restart();
        await waitFor(async () => (await connectedAt()) !== before, { what: 'presence to record the new hello' });
        expect(await ids('q=lab-&label=site:paris')).toEqual(['lab-lyon-1', 'lab-paris-1', 'lab-paris-2']);

        // In bulk: one event per agent that changes; again, nothing changes.
        const bulk = { filter: { labels: { site: 'paris' } }, set: { ring: 'early' } };
        expect((await label('/agents/labels', bulk)).body).toEqual({ matched: 3, changed: 3 });
        expect((await label('/agents/labels', bulk)).body).toEqual({ matched: 3, changed: 0 });
        expect(await ids('q=lab-&label=ring:early')).toEqual(['lab-lyon-1', 'lab-paris-1', 'lab-paris-2']);

        // Dispatch selects by the same labels: update now for ring=early.
        await waitFor(async () => (await h.timeline(paris2.id))?.agent !== undefined, { what: 'dispatch to know the agents' });
        const now = await waitFor(
          async () => {
            const res = await h.system.http<Record<string, number>>('notification-dispatch', 'POST', '/agents/update-now', { labels: { ring: 'early' }, component: type });
            return res.body.matched === 3 ? res : undefined;
          },
          { what: "dispatch to hear the agents' labels" },
        );
        expect(now.body).toMatchObject({ matched: 3, upToDate: 3 }); // nothing newer than 1.0 yet
        await h.publish(type, '2.0');
        const update = await h.system.http<Record<string, number>>('notification-dispatch', 'POST', '/agents/update-now', { labels: { ring: 'early', os: 'windows' } });
        expect(update.body).toEqual({ matched: 1, opened: 1, raised: 0, alreadyOnTheirWay: 0, upToDate: 0 });
        await h.waitForEntry(paris2.id, (e) => e.type === 'UpdateCompleted', 'the labelled agent to update');
        expect(paris2.installs).toEqual([`${type}@2.0`]);
        expect(paris1.installs).toEqual([]);

        // Removing the admin's site shows the agent's own again; a read token may not change labels.
        expect((await label(`/agents/${lyon.id}/labels`, { remove: ['site'] })).body).toEqual({ labels: { site: 'lyon', ring: 'early' }, adminLabels: { ring: 'early' } });
        expect((await label(`/agents/${lyon.id}/labels`, { set: { site: 'x' } }, TEST_READ_TOKEN)).status).toBe(403);
        expect((await label(`/agents/${lyon.id}/labels`, {})).status).toBe(400);
        expect((await label(`/agents/${lyon.id}/labels`, { set: { 'Bad Key': 'x' } })).status).toBe(400);
        const tooMany = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'v']));
        expect((await label(`/agents/${lyon.id}/labels`, { set: tooMany })).status).toBe(400);
        expect((await label('/agents/nobody-here/labels', { set: { a: 'b' } })).status).toBe(404);
      } finally {
        await h.settings({ notifyOnDownload: true });
      }
    });
  });

  describe('canary phase', () => {
    const canaryOff = { canaryLabels: {}, canaryPercent: 0, canarySuccessPercent: 95, canaryApproval: 'automatic' };
    const promote = (rolloutId: string) => h.system.http<ControlResponse & { rollout: { control: { phase: string } } }>('notification-dispatch', 'POST', `/rollouts/${rolloutId}/promote`);
    interface Phased {
      control: { state: string; phase: string; heldAttempts: number; canary: { agents: number; succeeded: number; finished: number } | null };
    }
    const phased = async (rolloutId: string) => (await h.system.http<Phased>('notification-dispatch', 'GET', `/rollouts/${rolloutId}`)).body.control;
    const at = (entries: Array<{ type: string; at: string }>, type: string) => entries.find((e) => e.type === type)?.at;
    /** Dispatch picks the canary group from its copy of the agents' labels: wait until it has them all. */
    const dispatchKnowsRing = (ring: string, agents: number) =>
      waitFor(
        async () =>
          (await h.system.sql<{ n: string }>(`SELECT count(*) AS n FROM notification_dispatch.directory_agents WHERE labels @> $1::jsonb`, [JSON.stringify({ ring })]))[0]!.n === String(agents),
        { what: `dispatch to hear the labels of the ${ring} agents` },
      );

    it('notifies the canary group first and, once it passed, the rest by itself; the rest is targeted only after the last canary update', async () => {
      const type = 'canary-auto';
      await h.settings({ notifyOnDownload: true, updateOnReconnect: true, ackTimeoutSeconds: 5, maxAttempts: 3, updateRetries: 0, canaryLabels: { ring: 'auto-canary' }, canarySuccessPercent: 100, canaryApproval: 'automatic' });
      try {
        const canary = await Promise.all(['ca-1', 'ca-2'].map((id) => h.agent(id, [{ type, version: '1.0' }], { labels: { ring: 'auto-canary' }, installDelayMs: 500 })));
        const rest = await Promise.all(['ca-rest-1', 'ca-rest-2', 'ca-rest-3'].map((id) => h.agent(id, [{ type, version: '1.0' }])));
        await dispatchKnowsRing('auto-canary', 2);
        const { rolloutId } = await h.publish(type, '2.0');
        for (const a of [...canary, ...rest]) await h.waitForEntry(a.id, (e) => e.type === 'UpdateCompleted', `${a.id} to update`, 30_000);
        const lastCanaryDone = Math.max(...(await Promise.all(canary.map(async (a) => Date.parse(at(await h.entries(a.id), 'UpdateCompleted')!)))));
        for (const a of rest) expect(Date.parse(at(await h.entries(a.id), 'UpdateTargeted')!)).toBeGreaterThanOrEqual(lastCanaryDone);
        expect(await phased(rolloutId)).toMatchObject({ phase: 'all', canary: { agents: 2, succeeded: 2, finished: 2 } });
        expect(await decisions(rolloutId)).toMatchObject([{ action: 'promoted', by: 'herald', details: { succeeded: 2, canary: 2 } }]);
      } finally {
        await h.settings(canaryOff);
      }
    });

    it('waits for an admin after the canary passed (manual approval), holding an update on reconnect outside the group, and the promotion sends both', async () => {
      const type = 'canary-manual';
      await h.settings({ notifyOnDownload: true, updateOnReconnect: true, ackTimeoutSeconds: 5, maxAttempts: 3, updateRetries: 0, canaryLabels: { ring: 'manual-canary' }, canarySuccessPercent: 50, canaryApproval: 'manual' });
      try {
        const canary = await h.agent('cm-1', [{ type, version: '1.0' }], { labels: { ring: 'manual-canary' } });
        const rest = await h.agent('cm-rest', [{ type, version: '1.0' }]);
        const away = await h.offlineAgent('cm-away', [{ type, version: '1.0' }]);
        await dispatchKnowsRing('manual-canary', 1);
        const { rolloutId } = await h.publish(type, '2.0');
        await h.waitForEntry(canary.id, (e) => e.type === 'UpdateCompleted', 'the canary to update');
        await waitFor(async () => (await phased(rolloutId)).phase === 'awaiting-approval', { what: 'the canary to pass and the rollout to wait for approval' });
        // Outside the group: the planned agent is not notified; the one coming back outdated has its update opened (R2) and held.
        await away.restart();
        await h.waitForEntry(away.id, (e) => e.type === 'UpdateTargeted' && e.trigger === 'reconnect', 'R2 to open its update');
        await waitFor(async () => (await phased(rolloutId)).heldAttempts === 1, { what: 'the update on reconnect to be held' });
        await pauseFor(2_000);
        expect(types(await h.entries(rest.id))).not.toContain('UpdateTargeted');
        expect(await attemptsSent(away.id)).toEqual([]);
        expect(rest.installs).toEqual([]);

        const promoted = await promote(rolloutId);
        expect(promoted.status).toBe(200);
        expect(promoted.body).toMatchObject({ changed: true, agents: 1, rollout: { control: { phase: 'all', heldAttempts: 0 } } });
        await h.waitForEntry(rest.id, (e) => e.type === 'UpdateCompleted', 'the rest to update after the promotion');
        await h.waitForEntry(away.id, (e) => e.type === 'UpdateCompleted', 'the held update on reconnect to go out');
        expect([rest.installs, away.installs]).toEqual([[`${type}@2.0`], [`${type}@2.0`]]);
        expect((await promote(rolloutId)).body).toMatchObject({ changed: false });
        expect(await decisions(rolloutId)).toMatchObject([
          { action: 'canary-passed', by: 'herald', details: { succeeded: 1, canary: 1 } },
          { action: 'promoted', by: 'tester' },
        ]);
      } finally {
        await h.settings(canaryOff);
      }
    });

    it('pauses a rollout whose canary failed, and the admin may still promote it', async () => {
      const type = 'canary-fail';
      await h.settings({ notifyOnDownload: true, ackTimeoutSeconds: 5, maxAttempts: 3, updateRetries: 0, canaryLabels: { ring: 'failing-canary' }, canarySuccessPercent: 100, canaryApproval: 'automatic' });
      try {
        const canary = await h.agent('cf-1', [{ type, version: '1.0' }], { labels: { ring: 'failing-canary' }, failInstalls: 1 });
        const rest = await h.agent('cf-rest', [{ type, version: '1.0' }]);
        await dispatchKnowsRing('failing-canary', 1);
        const { rolloutId } = await h.publish(type, '2.0');
        await h.waitForEntry(canary.id, (e) => e.type === 'UpdateFailed', 'the canary update to fail');
        await waitFor(async () => (await phased(rolloutId)).state === 'paused', { what: 'the failed canary to pause the rollout' });
        expect(await phased(rolloutId)).toMatchObject({ phase: 'canary', canary: { agents: 1, succeeded: 0, finished: 1 } });
        expect(await decisions(rolloutId)).toMatchObject([{ action: 'paused', by: 'herald', reason: 'the canary did not pass', details: { trigger: 'canary-failed', succeeded: 0, canary: 1, successPercent: 100 } }]);
        expect(types(await h.entries(rest.id))).not.toContain('UpdateTargeted');

        // The admin goes ahead anyway: promote, then resume (the promotion's attempts are held while paused).
        expect((await promote(rolloutId)).body).toMatchObject({ changed: true, agents: 1 });
        await steer(rolloutId, 'resume');
        await h.waitForEntry(rest.id, (e) => e.type === 'UpdateCompleted', 'the rest to update after the admin promoted and resumed');
        expect(rest.installs).toEqual([`${type}@2.0`]);
      } finally {
        await h.settings(canaryOff);
      }
    });
  });
});
