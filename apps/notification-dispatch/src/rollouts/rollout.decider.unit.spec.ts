import type { ComponentTarget } from '@herald/contracts';
import { DeciderSpec } from '@herald/testing';
import { type DirectoryAgent, planRollout, rolloutDecider } from './rollout.decider';

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

  it('starts a rollout once; a redelivered trigger changes nothing', () => {
    const command = {
      type: 'StartRollout' as const,
      rolloutId: 'r1',
      component: catalog[0]!,
      notifyOnDownload: true,
      includeIndependentAndOffline: false,
      policy: { resendIntervalMs: 1, maxAttempts: 1, ackTimeoutMs: 1, reportTimeoutMs: 1, scanAfterUpdate: false },
      plan: { targets: [{ agentId: 'a', components: [catalog[0]!] }], skipped: [], upToDate: 0 },
      now: new Date('2026-01-01T00:00:00Z'),
    };
    const spec = DeciderSpec(rolloutDecider);
    const [started] = spec.given([]).when(command).events();
    expect(started).toMatchObject({ type: 'RolloutStarted', data: { targets: ['a'] } });
    spec.given([started!]).when(command).thenNothing();
  });
});
