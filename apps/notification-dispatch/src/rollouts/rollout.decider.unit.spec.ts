import type { ComponentTarget } from '@herald/contracts';
import { DeciderSpec } from '@herald/testing';
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
  const announced = { type: 'virus-pattern', version: '2.0' };

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
});
