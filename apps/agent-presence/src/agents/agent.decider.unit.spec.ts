import { DeciderSpec } from '@herald/testing';
import { MAX_LABELS } from '@herald/contracts';
import { type AgentCommand, type AgentEvent, agentDecider, labelsOf, statusOf } from './agent.decider';
import { stateOf } from '@herald/domain';

const spec = DeciderSpec(agentDecider);
const now = new Date('2026-11-30T08:00:00.000Z');
const at = now.toISOString();
const agentId = 'a1';
const components = [{ type: 'virus-pattern', version: '1.0' }];

const hello = (bootId = 'boot-1', independentMode = false): Extract<AgentCommand, { type: 'RecordHello' }> => ({
  type: 'RecordHello',
  agentId,
  bootId,
  hostname: 'host-1',
  agentVersion: '2.1.0',
  independentMode,
  components,
  labels: {},
  patchFormats: ['herald-delta-1', 'bsdiff40'],
  now,
});
const connected = (bootId = 'boot-1', over: Partial<Extract<AgentEvent, { type: 'AgentConnected' }>['data']> = {}): AgentEvent => ({
  type: 'AgentConnected',
  data: { agentId, bootId, hostname: 'host-1', agentVersion: '2.1.0', independentMode: false, components, labels: {}, patchFormats: ['herald-delta-1', 'bsdiff40'], via: 'hello', restarted: false, returning: false, at, ...over },
});
/** A heartbeat brings back what the agent last said in a hello (its labels too). */
const heartbeatConnected = (bootId: string, over: Partial<Extract<AgentEvent, { type: 'AgentConnected' }>['data']> = {}): AgentEvent =>
  connected(bootId, { agentVersion: '', via: 'heartbeat', returning: true, ...over });
const disconnected = (reason: 'goodbye' | 'heartbeat-timeout'): AgentEvent => ({ type: 'AgentDisconnected', data: { agentId, reason, at } });

describe('agent decider (agent-presence)', () => {
  describe('hello', () => {
    it('connects an agent seen for the first time', () => {
      spec.given([]).when(hello()).then([connected()]);
    });

    it('records the patch formats declared (none: null), and a heartbeat after a timeout brings back the last ones', () => {
      spec.given([connected()]).when({ ...hello('boot-2'), patchFormats: null }).then([connected('boot-2', { patchFormats: null, returning: true, restarted: true })]);
      spec.given([connected(), disconnected('heartbeat-timeout')]).when({ type: 'RecordHeartbeat', agentId, bootId: 'boot-1', now }).then([heartbeatConnected('boot-1')]);
    });

    it('marks an agent seen before as returning, and as restarted when its boot id changed', () => {
      spec.given([connected()]).when(hello('boot-2')).then([connected('boot-2', { returning: true, restarted: true })]);
      spec.given([connected(), disconnected('goodbye')]).when(hello('boot-1')).then([connected('boot-1', { returning: true, restarted: false })]);
    });

    it('records the Independent mode the agent reports', () => {
      spec.given([]).when(hello('boot-1', true)).then([connected('boot-1', { independentMode: true })]);
    });
  });

  describe('heartbeat', () => {
    const heartbeat = (bootId = 'boot-1') => ({ type: 'RecordHeartbeat', agentId, bootId, now }) as const;

    it('is no event while the agent is online (it only moves last_seen_at)', () => {
      spec.given([connected()]).when(heartbeat()).thenNothing();
    });

    it('is no event from an agent that never said hello', () => {
      spec.given([]).when(heartbeat()).thenNothing();
    });

    it('brings back an agent that was timed out, with what it last reported', () => {
      spec
        .given([connected(), disconnected('heartbeat-timeout')])
        .when(heartbeat('boot-2'))
        .then([heartbeatConnected('boot-2', { restarted: true })]);
    });

    it('does not bring back a boot that said goodbye: its last heartbeat was only handled after the goodbye', () => {
      spec.given([connected(), disconnected('goodbye')]).when(heartbeat('boot-1')).thenNothing();
      // A timed-out agent's same boot, or a goodbye's next boot (a heartbeat before its hello), still does.
      expect(spec.given([connected(), disconnected('heartbeat-timeout')]).when(heartbeat('boot-1')).events()).toHaveLength(1);
      expect(spec.given([connected(), disconnected('goodbye')]).when(heartbeat('boot-2')).events()).toHaveLength(1);
    });
  });

  describe('goodbye and time-out', () => {
    it('takes the agent offline on a goodbye from its current boot', () => {
      spec.given([connected()]).when({ type: 'RecordGoodbye', agentId, bootId: 'boot-1', now }).then([disconnected('goodbye')]);
    });

    it('ignores a goodbye from an earlier boot that arrives after the new hello', () => {
      spec.given([connected('boot-1'), connected('boot-2', { returning: true, restarted: true })]).when({ type: 'RecordGoodbye', agentId, bootId: 'boot-1', now }).thenNothing();
    });

    it('times out an online agent once, and an offline one not at all', () => {
      spec.given([connected()]).when({ type: 'MarkTimedOut', agentId, now }).then([disconnected('heartbeat-timeout')]);
      spec.given([connected(), disconnected('goodbye')]).when({ type: 'MarkTimedOut', agentId, now }).thenNothing();
    });
  });

  describe('components and privileges', () => {
    it('records components only when they changed, in any order', () => {
      const two = [{ type: 'scan-engine', version: '3.0' }, ...components];
      spec.given([connected()]).when({ type: 'RecordInstalledComponents', agentId, components: [...components], now }).thenNothing();
      spec.given([connected()]).when({ type: 'RecordInstalledComponents', agentId, components: two, now }).then([{ type: 'AgentComponentsReported', data: { agentId, components: two, at } }]);
      spec
        .given([connected(), { type: 'AgentComponentsReported', data: { agentId, components: two, at } }])
        .when({ type: 'RecordInstalledComponents', agentId, components: [...two].reverse(), now })
        .thenNothing();
    });

    it('ignores components reported by an agent it does not know', () => {
      spec.given([]).when({ type: 'RecordInstalledComponents', agentId, components, now }).thenNothing();
    });

    it('grants and revokes the Independent privilege, recording who; the same value twice is no change', () => {
      const granted: AgentEvent = { type: 'IndependentPrivilegeChanged', data: { agentId, granted: true, by: 'alice', at } };
      spec.given([connected()]).when({ type: 'SetIndependentPrivilege', agentId, granted: true, by: 'alice', now }).then([granted]);
      spec.given([connected(), granted]).when({ type: 'SetIndependentPrivilege', agentId, granted: true, by: 'bob', now }).thenNothing();
      spec
        .given([connected(), granted])
        .when({ type: 'SetIndependentPrivilege', agentId, granted: false, by: 'bob', now })
        .then([{ type: 'IndependentPrivilegeChanged', data: { agentId, granted: false, by: 'bob', at } }]);
    });
  });

  describe('labels', () => {
    const labelsChanged = (set: Record<string, string>, removed: string[] = [], by = 'alice'): AgentEvent => ({ type: 'AgentLabelsChanged', data: { agentId, set, removed, by, at } });
    const setLabels = (set: Record<string, string>, remove: string[] = []): AgentCommand => ({ type: 'SetLabels', agentId, set, remove, by: 'alice', now });

    it('records the labels of each hello; a hello without them leaves the agent with none of its own', () => {
      spec.given([]).when({ ...hello(), labels: { site: 'paris' } }).then([connected('boot-1', { labels: { site: 'paris' } })]);
      const reported = connected('boot-1', { labels: { site: 'paris', os: 'linux' } });
      expect(labelsOf(stateOf(agentDecider, [reported]))).toEqual({ site: 'paris', os: 'linux' });
      expect(labelsOf(stateOf(agentDecider, [reported, connected('boot-2', { returning: true, restarted: true })]))).toEqual({});
    });

    it('keeps the reported labels when a heartbeat brings a timed-out agent back (its last hello said them)', () => {
      spec
        .given([connected('boot-1', { labels: { site: 'paris' } }), disconnected('heartbeat-timeout')])
        .when({ type: 'RecordHeartbeat', agentId, bootId: 'boot-1', now })
        .then([heartbeatConnected('boot-1', { labels: { site: 'paris' } })]);
    });

    it("lets an admin set and remove labels of their own, which win over the agent's; no change is no event", () => {
      const history = [connected('boot-1', { labels: { site: 'paris', os: 'linux' } })];
      spec.given(history).when(setLabels({ site: 'lyon', ring: 'canary' })).then([labelsChanged({ site: 'lyon', ring: 'canary' })]);
      const withAdmin = [...history, labelsChanged({ site: 'lyon', ring: 'canary' })];
      expect(labelsOf(stateOf(agentDecider, withAdmin))).toEqual({ site: 'lyon', os: 'linux', ring: 'canary' });
      // Only what changes is recorded: ring is already canary, os was never the admin's.
      spec.given(withAdmin).when(setLabels({ ring: 'canary' }, ['os'])).thenNothing();
      spec.given(withAdmin).when(setLabels({ ring: 'canary', dept: 'hr' }, ['site'])).then([labelsChanged({ dept: 'hr' }, ['site'])]);
      // Removing the admin's site shows the agent's own again.
      expect(labelsOf(stateOf(agentDecider, [...withAdmin, labelsChanged({}, ['site'])]))).toEqual({ site: 'paris', os: 'linux', ring: 'canary' });
    });

    it(`never gives an agent more than ${MAX_LABELS} labels of admins`, () => {
      const full = Object.fromEntries(Array.from({ length: MAX_LABELS }, (_, i) => [`k${i}`, 'v']));
      const history = [connected(), labelsChanged(full)];
      spec.given(history).when(setLabels({ one: 'more' })).thenNothing();
      spec.given(history).when(setLabels({ one: 'more' }, ['k0'])).then([labelsChanged({ one: 'more' }, ['k0'])]);
    });
  });

  it('shows an agent as online, independent or offline', () => {
    expect(statusOf(stateOf(agentDecider, [connected()]))).toBe('online');
    expect(statusOf(stateOf(agentDecider, [connected('boot-1', { independentMode: true })]))).toBe('independent');
    expect(statusOf(stateOf(agentDecider, [connected('boot-1', { independentMode: true }), disconnected('goodbye')]))).toBe('offline');
  });
});
