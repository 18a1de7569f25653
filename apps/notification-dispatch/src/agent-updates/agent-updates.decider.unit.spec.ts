import type { ComponentTarget } from '@herald/contracts';
import { DeciderSpec } from '@herald/testing';
import { AgentUpdateCommand, agentUpdatesDecider, mergeTargets, nextAttempt } from './agent-updates.decider';
import type { AgentUpdateEvent, NotificationPolicy } from './agent-updates.events';

const spec = DeciderSpec(agentUpdatesDecider);
const now = new Date('2026-11-27T10:00:00.000Z');
const at = now.toISOString();
const later = (ms: number) => new Date(now.getTime() + ms).toISOString();
const agentId = 'a1';
const notificationId = '00000000-0000-4000-8000-000000000001';
const policy: NotificationPolicy = { resendIntervalMs: 900_000, maxAttempts: 5, ackTimeoutMs: 30_000, scanAfterUpdate: true };

const target = (version: string, type = 'virus-pattern'): ComponentTarget => ({
  type,
  version,
  sha256: 'a'.repeat(64),
  size: 10,
  url: `http://cd/components/${type}/versions/${version}/download`,
});

const targeted = (components = [target('2.0')], rolloutId: string | null = 'r1'): AgentUpdateEvent => ({
  type: 'UpdateTargeted',
  data: { agentId, notificationId, rolloutId, trigger: 'download', components, policy, at },
});
const sent = (attempt: number, components = [target('2.0')]): AgentUpdateEvent => ({
  type: 'AttemptSent',
  data: { agentId, notificationId, attempt, commandId: `c${attempt}`, components, ackDeadlineAt: later(30_000), at },
});
const failed = (attempt: number, reason: 'no-queue' | 'ack-timeout' = 'no-queue'): AgentUpdateEvent => ({
  type: 'AttemptFailed',
  data: { agentId, notificationId, attempt, reason, at },
});
const resend = (nextAttempt: number): AgentUpdateEvent => ({
  type: 'ResendScheduled',
  data: { agentId, notificationId, nextAttempt, dueAt: later(900_000), at },
});
const acked = (attempt: number): AgentUpdateEvent => ({ type: 'NotificationAcknowledged', data: { agentId, notificationId, attempt, at } });

const sendOutcome = (attempt: number, routed: boolean, components = [target('2.0')]) =>
  ({ type: 'RecordSendOutcome', agentId, notificationId, attempt, commandId: `c${attempt}`, components, routed, now }) as const;

const result = (installedVersion: string, independent = false): Extract<AgentUpdateCommand, { type: 'RecordUpdateResult' }> => ({
    type: 'RecordUpdateResult',
    agentId,
    notificationId,
    outcome: 'completed',
    applied: [{ type: 'virus-pattern', fromVersion: '1.0', toVersion: installedVersion, mode: 'full', bytes: 10 }],
    installed: [{ type: 'virus-pattern', version: installedVersion }],
    independent,
  scanId: '00000000-0000-4000-8000-0000000000aa',
  now,
});

describe('agent updates decider', () => {
  it('opens a notification when targeted and has attempt 1 due', () => {
    spec
      .given([])
      .when({ type: 'Target', agentId, rolloutId: 'r1', trigger: 'download', components: [target('2.0')], policy, notificationId, now })
      .then([targeted()]);
    const state = [targeted()].reduce(agentUpdatesDecider.evolve, agentUpdatesDecider.initialState());
    expect(nextAttempt(state)).toBe(1);
  });

  it('records a skip with its reason', () => {
    spec
      .given([])
      .when({ type: 'Skip', agentId, rolloutId: 'r1', trigger: 'download', reason: 'offline', now })
      .then([{ type: 'TargetSkipped', data: { agentId, rolloutId: 'r1', trigger: 'download', reason: 'offline', at } }]);
  });

  it('records a routed attempt as sent, with its acknowledgement deadline', () => {
    spec.given([targeted()]).when(sendOutcome(1, true)).then([sent(1)]);
  });

  it('schedules a resend after the interval when the agent has no queue', () => {
    spec.given([targeted()]).when(sendOutcome(1, false)).then([failed(1), resend(2)]);
  });

  it('gives up after the last allowed attempt fails', () => {
    const history = [targeted(), failed(1), resend(2), failed(2), resend(3), failed(3), resend(4), failed(4), resend(5)];
    spec
      .given(history)
      .when(sendOutcome(5, false))
      .then([failed(5), { type: 'NotificationGaveUp', data: { agentId, notificationId, attempts: 5, at } }]);
  });

  it('ignores a send outcome for an attempt that is not due (redelivery, stale resend)', () => {
    spec.given([targeted(), sent(1)]).when(sendOutcome(1, true)).thenNothing();
    spec.given([targeted(), failed(1), resend(2)]).when(sendOutcome(3, true)).thenNothing();
  });

  it('fails an unacknowledged attempt at its deadline and schedules the resend', () => {
    spec
      .given([targeted(), sent(1)])
      .when({ type: 'AckDeadlinePassed', agentId, notificationId, attempt: 1, now })
      .then([failed(1, 'ack-timeout'), resend(2)]);
  });

  it('ignores a deadline once the attempt was acknowledged', () => {
    spec.given([targeted(), sent(1), acked(1)]).when({ type: 'AckDeadlinePassed', agentId, notificationId, attempt: 1, now }).thenNothing();
  });

  it('accepts a late acknowledgement while a resend is pending, which stops the resends', () => {
    spec.given([targeted(), sent(1), failed(1, 'ack-timeout'), resend(2)]).when({ type: 'RecordAck', agentId, notificationId, attempt: 1, now }).then([acked(1)]);
    const state = [targeted(), sent(1), failed(1, 'ack-timeout'), resend(2), acked(1)].reduce(agentUpdatesDecider.evolve, agentUpdatesDecider.initialState());
    expect(nextAttempt(state)).toBeNull();
  });

  it('ignores a duplicate acknowledgement', () => {
    spec.given([targeted(), sent(1), acked(1)]).when({ type: 'RecordAck', agentId, notificationId, attempt: 1, now }).thenNothing();
  });

  it('closes the notification on a completed update and asks for a scan (R3)', () => {
    spec
      .given([targeted(), sent(1), acked(1)])
      .when(result('2.0'))
      .then([
        {
          type: 'UpdateCompleted',
          data: {
            agentId,
            notificationId,
            components: result('2.0').applied,
            installed: [{ type: 'virus-pattern', version: '2.0' }],
            targetReached: true,
            at,
          },
        },
        { type: 'ScanRequested', data: { agentId, notificationId, scanId: result('2.0').scanId, at } },
      ]);
  });

  it('never asks an Independent agent to scan', () => {
    const events = spec.given([targeted(), sent(1), acked(1)]).when(result('2.0', true)).events();
    expect(events.map((e) => e.type)).toEqual(['UpdateCompleted']);
  });

  it('reports each update once: a second result for a closed notification changes nothing', () => {
    const completed = spec.given([targeted(), sent(1), acked(1)]).when(result('2.0')).events();
    spec.given([targeted(), sent(1), acked(1), ...completed]).when(result('2.0')).thenNothing();
  });

  it('raises the target of an open notification when a newer version arrives (R7)', () => {
    spec
      .given([targeted(), failed(1), resend(2)])
      .when({ type: 'Target', agentId, rolloutId: 'r2', trigger: 'download', components: [target('3.0')], policy, notificationId: 'other', now })
      .then([{ type: 'NotificationTargetRaised', data: { agentId, notificationId, rolloutId: 'r2', components: [target('3.0')], at } }]);
  });

  it('does not lower a target or raise it to what it already is', () => {
    spec
      .given([targeted([target('3.0')])])
      .when({ type: 'Target', agentId, rolloutId: 'r0', trigger: 'download', components: [target('2.5')], policy, notificationId: 'other', now })
      .thenNothing();
  });

  it('starts another round when the agent finished below a raised target', () => {
    const raised: AgentUpdateEvent = {
      type: 'NotificationTargetRaised',
      data: { agentId, notificationId, rolloutId: 'r2', components: [target('3.0')], at },
    };
    const events = spec.given([targeted(), sent(1), acked(1), raised]).when(result('2.0')).events();
    expect(events).toEqual([expect.objectContaining({ type: 'UpdateCompleted', data: expect.objectContaining({ targetReached: false }) })]);
    const state = [targeted(), sent(1), acked(1), raised, ...events].reduce(agentUpdatesDecider.evolve, agentUpdatesDecider.initialState());
    expect(nextAttempt(state)).toBe(2);
    // The earlier round's acknowledgement no longer counts.
    spec.given([targeted(), sent(1), acked(1), raised, ...events, sent(2, [target('3.0')])]).when({ type: 'RecordAck', agentId, notificationId, attempt: 1, now }).thenNothing();
  });

  it('on reconnect resolves a pending resend and opens an update at once (R2)', () => {
    spec
      .given([targeted(), failed(1), resend(2)])
      .when({ type: 'Target', agentId, rolloutId: null, trigger: 'reconnect', components: [target('2.0')], policy, notificationId: 'n2', now })
      .then([
        { type: 'NotificationResolved', data: { agentId, notificationId, reason: 'superseded-by-reconnect', at } },
        { type: 'UpdateTargeted', data: { agentId, notificationId: 'n2', rolloutId: null, trigger: 'reconnect', components: [target('2.0')], policy, at } },
      ]);
  });

  it('on reconnect of an agent already up to date closes its open notification', () => {
    spec
      .given([targeted(), failed(1), resend(2)])
      .when({ type: 'Target', agentId, rolloutId: null, trigger: 'reconnect', components: [], policy, notificationId: 'n2', now })
      .then([{ type: 'NotificationResolved', data: { agentId, notificationId, reason: 'already-up-to-date', at } }]);
    spec.given([]).when({ type: 'Target', agentId, rolloutId: null, trigger: 'reconnect', components: [], policy, notificationId: 'n2', now }).thenNothing();
  });

  it('merges targets keeping the newest version of each type', () => {
    expect(mergeTargets([target('2.0'), target('5.0', 'scan-engine')], [target('3.0'), target('4.0', 'scan-engine')])).toEqual([
      target('5.0', 'scan-engine'),
      target('3.0'),
    ]);
  });
});
