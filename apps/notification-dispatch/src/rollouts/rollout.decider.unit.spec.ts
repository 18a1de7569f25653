import type { ComponentTarget } from '@herald/contracts';
import { DeciderSpec } from '@herald/testing';
import { stateOf } from '@herald/domain';
import { canaryPassed, pickCanary } from './canary';
import { type DirectoryAgent, FACT_SIZE, RolloutControlConflict, planRollout, rolloutDecider } from './rollout.decider';

const target = (type: string, version: string): ComponentTarget => ({ type, version, sha256: 'b'.repeat(64), size: 1, url: `http://x/${type}/${version}` });
const catalog = [target('virus-pattern', '2.0'), target('scan-engine', '9.0')];
const agent = (agentId: string, over: Partial<DirectoryAgent> = {}): DirectoryAgent => ({
  agentId,
  online: true,
  independentMode: false,
  independentPrivilege: false,
  components: [{ type: 'virus-pattern', version: '1.0' }],
  ...over,
});

describe('planRollout (R1, R1a, R8)', () => {
  const announced = target('virus-pattern', '2.0');

  it('targets online agents behind on the announced component with everything they are behind on', () => {
    const plan = planRollout(
      [agent('a', { components: [{ type: 'virus-pattern', version: '1.0' }, { type: 'scan-engine', version: '8.0' }] }), agent('b')],
      catalog,
      announced,
      false,
    );
    expect(plan.targets).toEqual([
      { agentId: 'a', components: [target('virus-pattern', '2.0'), target('scan-engine', '9.0')] },
      { agentId: 'b', components: [target('virus-pattern', '2.0')] },
    ]);
    expect(plan.skipped).toEqual([]);
  });

  it('skips offline, independent and unprivileged-independent agents with their reasons unless R1a', () => {
    const agents = [
      agent('off', { online: false }),
      agent('ind', { independentMode: true, independentPrivilege: true }),
      agent('rogue', { independentMode: true, independentPrivilege: false }),
    ];
    expect(planRollout(agents, catalog, announced, false).skipped).toEqual([
      { agentId: 'off', reason: 'offline' },
      { agentId: 'ind', reason: 'independent' },
      { agentId: 'rogue', reason: 'no-privilege' },
    ]);
    expect(planRollout(agents, catalog, announced, true).targets.map((t) => t.agentId)).toEqual(['off', 'ind', 'rogue']);
  });

  it('for a pin, targets agents on any other version (above it: a rollback) and counts only those at it as up to date', () => {
    const pin = { ...target('virus-pattern', '1.5'), pinned: true, pinSequence: 3 };
    const pinnedCatalog = [pin, target('scan-engine', '9.0')];
    const plan = planRollout(
      [agent('above', { components: [{ type: 'virus-pattern', version: '2.0' }] }), agent('below', { components: [{ type: 'virus-pattern', version: '1.0' }] }), agent('at', { components: [{ type: 'virus-pattern', version: '1.5' }] })],
      pinnedCatalog,
      pin,
      false,
    );
    expect(plan.targets).toEqual([
      { agentId: 'above', components: [pin] },
      { agentId: 'below', components: [pin] },
    ]);
    expect(plan.upToDate).toBe(1);
    // An agent at the pinned version with a notification open elsewhere is targeted, so the pin takes the notification over.
    const takeOver = planRollout([agent('at', { components: [{ type: 'virus-pattern', version: '1.5' }] })], pinnedCatalog, pin, false, new Set(['at']));
    expect(takeOver).toEqual({ targets: [{ agentId: 'at', components: [pin] }], skipped: [], upToDate: 0 });
  });

  it('leaves out agents already at the version and agents that do not use the component', () => {
    const plan = planRollout(
      [agent('current', { components: [{ type: 'virus-pattern', version: '2.0' }] }), agent('other', { components: [{ type: 'scan-engine', version: '1.0' }] })],
      catalog,
      announced,
      false,
    );
    expect(plan).toEqual({ targets: [], skipped: [], upToDate: 1 });
  });

  it('records the plan compactly: counts, then every agent once, in facts of bounded size', () => {
    const many = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
    const command = {
      type: 'StartRollout' as const,
      rolloutId: 'r2',
      component: catalog[0]!,
      notifyOnDownload: true,
      includeIndependentAndOffline: false,
      policy: { resendIntervalMs: 1, maxAttempts: 1, ackTimeoutMs: 1, reportTimeoutMs: 1, scanAfterUpdate: false },
      plan: {
        targets: many('t', FACT_SIZE + 1).map((agentId) => ({ agentId, components: [catalog[0]!] })),
        skipped: [...many('o', 2).map((agentId) => ({ agentId, reason: 'offline' as const })), { agentId: 'i-0', reason: 'independent' as const }],
        upToDate: 4,
      },
      now: new Date('2026-01-01T00:00:00Z'),
    };
    const events = DeciderSpec(rolloutDecider).given([]).when(command).events();
    expect(events.map((e) => e.type)).toEqual(['RolloutPlanned', 'AgentsTargeted', 'AgentsTargeted', 'AgentsSkipped', 'AgentsSkipped']);
    expect(events[0]!.data).toMatchObject({ targeted: FACT_SIZE + 1, skipped: { offline: 2, independent: 1, 'no-privilege': 0 }, upToDate: 4 });
    expect(events.slice(1, 3).map((e) => (e.data as { agentIds: string[] }).agentIds.length)).toEqual([FACT_SIZE, 1]);
    expect(events.slice(3).map((e) => e.data)).toEqual([
      { rolloutId: 'r2', reason: 'offline', agentIds: ['o-0', 'o-1'], at: '2026-01-01T00:00:00.000Z' },
      { rolloutId: 'r2', reason: 'independent', agentIds: ['i-0'], at: '2026-01-01T00:00:00.000Z' },
    ]);
  });

  it('puts the reachable agents first when R1a also targets offline and Independent ones', () => {
    const plan = planRollout([agent('off', { online: false }), agent('on'), agent('ind', { independentMode: true, independentPrivilege: true })], catalog, announced, true);
    expect(plan.targets.map((t) => t.agentId)).toEqual(['on', 'off', 'ind']);
  });

  /** A rollout r1 of one agent, a. */
  const startR1 = (now = new Date('2026-01-01T00:00:00Z')) => ({
    type: 'StartRollout' as const,
    rolloutId: 'r1',
    component: catalog[0]!,
    notifyOnDownload: true,
    includeIndependentAndOffline: false,
    policy: { resendIntervalMs: 1, maxAttempts: 1, ackTimeoutMs: 1, reportTimeoutMs: 1, scanAfterUpdate: false },
    plan: { targets: [{ agentId: 'a', components: [catalog[0]!] }], skipped: [], upToDate: 0 },
    now,
  });

  it('starts a rollout once; a redelivered trigger changes nothing', () => {
    const command = startR1();
    const spec = DeciderSpec(rolloutDecider);
    const events = spec.given([]).when(command).events();
    expect(events).toMatchObject([
      { type: 'RolloutPlanned', data: { targeted: 1 } },
      { type: 'AgentsTargeted', data: { agentIds: ['a'] } },
    ]);
    spec.given(events).when(command).thenNothing();
  });

  describe('control', () => {
    const now = new Date('2026-01-02T00:00:00Z');
    const at = now.toISOString();
    const started = DeciderSpec(rolloutDecider).given([]).when(startR1(now)).events();
    const pause = { type: 'Pause' as const, rolloutId: 'r1', by: 'alice', reason: 'admin' as const, note: 'bad reports', now };
    const paused = { type: 'RolloutPaused' as const, data: { rolloutId: 'r1', by: 'alice', reason: 'admin' as const, note: 'bad reports', at } };
    const resume = { type: 'Resume' as const, rolloutId: 'r1', by: 'bob', failed: 3, finished: 40, now };
    const aborted = { type: 'RolloutAborted' as const, data: { rolloutId: 'r1', by: 'bob', note: null, at } };
    const spec = DeciderSpec(rolloutDecider);

    it('pauses a running rollout with who and why, and resumes it with the counts the threshold counts from', () => {
      spec.given(started).when(pause).then([paused]);
      spec.given([...started, paused]).when(resume).then([{ type: 'RolloutResumed', data: { rolloutId: 'r1', by: 'bob', failed: 3, finished: 40, at } }]);
    });

    it('records the numbers when the error threshold pauses it', () => {
      spec
        .given(started)
        .when({ type: 'Pause', rolloutId: 'r1', by: 'herald', reason: 'error-threshold', note: null, failed: 6, finished: 20, thresholdPercent: 25, now })
        .then([{ type: 'RolloutPaused', data: { rolloutId: 'r1', by: 'herald', reason: 'error-threshold', note: null, failed: 6, finished: 20, thresholdPercent: 25, at } }]);
    });

    it('changes nothing when asked for the state it is in (a second click)', () => {
      spec.given([...started, paused]).when(pause).thenNothing();
      spec.given(started).when(resume).thenNothing();
      spec.given([...started, aborted]).when({ type: 'Abort', rolloutId: 'r1', by: 'carol', note: null, now }).thenNothing();
      spec.given(started).when({ type: 'RetryFailed', rolloutId: 'r1', retryId: 'x', by: 'bob', agents: 0, now }).thenNothing();
    });

    it('refuses to steer an aborted rollout, or one that never started', () => {
      spec.given([...started, aborted]).when(pause).thenThrows(RolloutControlConflict);
      spec.given([...started, aborted]).when(resume).thenThrows(RolloutControlConflict);
      spec.given([...started, aborted]).when({ type: 'RetryFailed', rolloutId: 'r1', retryId: 'x', by: 'bob', agents: 2, now }).thenThrows(RolloutControlConflict);
      spec.given([]).when(pause).thenThrows(RolloutControlConflict);
    });

    it('aborts a paused or running rollout, and records a retry of its failed agents with how many', () => {
      spec.given([...started, paused]).when({ type: 'Abort', rolloutId: 'r1', by: 'bob', note: null, now }).then([aborted]);
      spec
        .given(started)
        .when({ type: 'RetryFailed', rolloutId: 'r1', retryId: 'x', by: 'bob', agents: 2, now })
        .then([{ type: 'RolloutRetryRequested', data: { rolloutId: 'r1', retryId: 'x', by: 'bob', agents: 2, at } }]);
    });
  });

  describe('canary phase', () => {
    const now = new Date('2026-01-03T00:00:00Z');
    const at = now.toISOString();
    const policy = { labels: { ring: 'canary' }, percent: 0, successPercent: 90, approval: 'automatic' as const };
    const start = {
      ...startR1(now),
      plan: { targets: ['a', 'b', 'c', 'd'].map((agentId) => ({ agentId, components: [catalog[0]!] })), skipped: [], upToDate: 0 },
      canary: { agentIds: ['b', 'd'], policy },
    };
    const spec = DeciderSpec(rolloutDecider);
    const started = spec.given([]).when(start).events();

    it('records the canary group first and the rest after it, with the policy in the plan', () => {
      expect(started).toMatchObject([
        { type: 'RolloutPlanned', data: { targeted: 4, canary: { agents: 2, labels: { ring: 'canary' }, percent: 0, successPercent: 90, approval: 'automatic' } } },
        { type: 'AgentsTargeted', data: { agentIds: ['b', 'd'], phase: 'canary' } },
        { type: 'AgentsTargeted', data: { agentIds: ['a', 'c'], phase: 'after-canary' } },
      ]);
      expect(stateOf(rolloutDecider, started).phase).toBe('canary');
      // Without a canary the plan is as before: one phase, no phase on the facts.
      expect(spec.given([]).when(startR1(now)).events()[1]!.data).not.toHaveProperty('phase');
      expect(stateOf(rolloutDecider, spec.given([]).when(startR1(now)).events()).phase).toBe('all');
    });

    it('waits for an admin from the start when the selector matched none of the targets', () => {
      const events = spec.given([]).when({ ...start, canary: { agentIds: [], policy } }).events();
      expect(events[0]!.data).toMatchObject({ canary: { agents: 0 } });
      expect(events.slice(1)).toMatchObject([{ data: { agentIds: ['a', 'b', 'c', 'd'], phase: 'after-canary' } }]);
      expect(stateOf(rolloutDecider, events).phase).toBe('awaiting-approval');
    });

    it('passes the canary (manual approval), then promotes once; a promotion of a one-phase rollout changes nothing', () => {
      const passed = { type: 'CanaryPassed' as const, data: { rolloutId: 'r1', succeeded: 2, canary: 2, successPercent: 90, at } };
      spec.given(started).when({ type: 'PassCanary', rolloutId: 'r1', by: 'herald', succeeded: 2, canary: 2, successPercent: 90, now }).then([passed]);
      spec.given([...started, passed]).when({ type: 'PassCanary', rolloutId: 'r1', by: 'herald', succeeded: 2, canary: 2, successPercent: 90, now }).thenNothing();
      const promoted = { type: 'RolloutPromoted' as const, data: { rolloutId: 'r1', by: 'alice', succeeded: 2, canary: 2, at } };
      spec.given([...started, passed]).when({ type: 'Promote', rolloutId: 'r1', by: 'alice', succeeded: 2, canary: 2, now }).then([promoted]);
      spec.given([...started, passed, promoted]).when({ type: 'Promote', rolloutId: 'r1', by: 'bob', succeeded: 2, canary: 2, now }).thenNothing();
      expect(stateOf(rolloutDecider, [...started, passed, promoted]).phase).toBe('all');
      spec.given(spec.given([]).when(startR1(now)).events()).when({ type: 'Promote', rolloutId: 'r1', by: 'alice', succeeded: 0, canary: 0, now }).thenNothing();
    });

    it('records the canary numbers when a failed canary pauses the rollout, and refuses to promote an aborted one', () => {
      spec
        .given(started)
        .when({ type: 'Pause', rolloutId: 'r1', by: 'herald', reason: 'canary-failed', note: null, succeeded: 1, canary: 2, successPercent: 90, now })
        .then([{ type: 'RolloutPaused', data: { rolloutId: 'r1', by: 'herald', reason: 'canary-failed', note: null, succeeded: 1, canary: 2, successPercent: 90, at } }]);
      const aborted = { type: 'RolloutAborted' as const, data: { rolloutId: 'r1', by: 'bob', note: null, at } };
      spec.given([...started, aborted]).when({ type: 'Promote', rolloutId: 'r1', by: 'alice', succeeded: 0, canary: 2, now }).thenThrows(RolloutControlConflict);
    });
  });

  describe('pickCanary', () => {
    const targets = Array.from({ length: 1000 }, (_, i) => `agent-${i}`);
    const labelled = new Map(targets.map((id, i): [string, { labels: Record<string, string> }] => [id, { labels: i % 4 === 0 ? { ring: 'canary', site: 'paris' } : { site: 'lyon' } }]));
    const policy = { labels: {}, percent: 0, successPercent: 95, approval: 'automatic' as const };

    it('is off without a selector, and pointless when every target would be in it', () => {
      expect(pickCanary('r', targets, labelled, policy)).toBeNull();
      expect(pickCanary('r', targets, labelled, { ...policy, labels: { site: 'paris' } })).toHaveLength(250);
      expect(pickCanary('r', ['agent-0', 'agent-4'], labelled, { ...policy, labels: { ring: 'canary' } })).toBeNull();
    });

    it('takes the targets that carry every label of the selector', () => {
      const group = pickCanary('r', targets, labelled, { ...policy, labels: { ring: 'canary', site: 'paris' } })!;
      expect(group).toHaveLength(250);
      expect(group.every((id) => Number(id.split('-')[1]) % 4 === 0)).toBe(true);
      expect(pickCanary('r', targets, labelled, { ...policy, labels: { ring: 'canary', site: 'lyon' } })).toEqual([]);
    });

    it('draws a share of the targets, the same for a rollout every time, another for another rollout, at least one', () => {
      const a = pickCanary('rollout-a', targets, labelled, { ...policy, percent: 10 })!;
      expect(a.length).toBeGreaterThan(60);
      expect(a.length).toBeLessThan(140);
      expect(pickCanary('rollout-a', targets, labelled, { ...policy, percent: 10 })).toEqual(a);
      expect(pickCanary('rollout-b', targets, labelled, { ...policy, percent: 10 })).not.toEqual(a);
      expect(pickCanary('r', targets.slice(0, 3), labelled, { ...policy, percent: 1 })).toHaveLength(1);
    });

    it('passes at the success share of the group, never with an empty group', () => {
      expect(canaryPassed(19, 20, 95)).toBe(true);
      expect(canaryPassed(18, 20, 95)).toBe(false);
      expect(canaryPassed(0, 0, 1)).toBe(false);
    });
  });
});
