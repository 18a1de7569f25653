import { type ComponentTarget, deterministicUuid } from '@herald/contracts';
import { DeciderSpec } from '@herald/testing';
import type { AgentUpdateCommand} from './agent-updates.decider';
import { agentUpdatesDecider, mergeTargets, nextAttempt, retryDelayMs } from './agent-updates.decider';
import type { AgentUpdateEvent, NotificationPolicy } from './agent-updates.events';

const spec = DeciderSpec(agentUpdatesDecider);
const now = new Date('2026-11-27T10:00:00.000Z');
const at = now.toISOString();
const later = (ms: number) => new Date(now.getTime() + ms).toISOString();
const agentId = 'a1';
const notificationId = '00000000-0000-4000-8000-000000000001';
const policy: NotificationPolicy = { resendIntervalMs: 900_000, maxAttempts: 5, ackTimeoutMs: 30_000, reportTimeoutMs: 1_800_000, scanAfterUpdate: true };

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

const sending = (attempt: number, components = [target('2.0')]) =>
  ({ type: 'RecordAttemptSent', agentId, notificationId, attempt, commandId: `c${attempt}`, components, now }) as const;
const returned = (attempt: number) => ({ type: 'RecordAttemptReturned', agentId, notificationId, attempt, now }) as const;

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

  it('records the attempt before it is published, with its acknowledgement deadline', () => {
    spec.given([targeted()]).when(sending(1)).then([sent(1)]);
  });

  it('schedules a resend after the interval when the broker returns the attempt (no live queue)', () => {
    spec.given([targeted(), sent(1)]).when(returned(1)).then([failed(1), resend(2)]);
  });

  it('ignores a return for an attempt that is not the one out', () => {
    spec.given([targeted(), sent(1), acked(1)]).when(returned(1)).thenNothing();
    spec.given([targeted(), sent(1), failed(1), resend(2)]).when(returned(1)).thenNothing();
  });

  it('gives up after the last allowed attempt fails', () => {
    const history = [targeted(), ...[1, 2, 3, 4].flatMap((n) => [sent(n), failed(n), resend(n + 1)]), sent(5)];
    spec
      .given(history)
      .when(returned(5))
      .then([failed(5), { type: 'NotificationGaveUp', data: { agentId, notificationId, attempts: 5, at } }]);
  });

  it('ignores sending an attempt that is not due (redelivery, stale resend)', () => {
    spec.given([targeted(), sent(1)]).when(sending(1)).thenNothing();
    spec.given([targeted(), sent(1), failed(1), resend(2)]).when(sending(3)).thenNothing();
    spec.given([targeted(), sent(1), failed(1), resend(2)]).when(sending(2)).then([sent(2)]);
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

  it('fails an update the agent acknowledged but never reported, once the report deadline passes', () => {
    spec
      .given([targeted(), sent(1), acked(1)])
      .when({ type: 'ReportDeadlinePassed', agentId, notificationId, attempt: 1, now })
      .then([{ type: 'UpdateFailed', data: { agentId, notificationId, error: 'no report within 1800 s of the acknowledgement', installed: [], retries: 0, at } }]);
    spec.given([targeted(), sent(1)]).when({ type: 'ReportDeadlinePassed', agentId, notificationId, attempt: 1, now }).thenNothing();
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

  it('takes a report that overtook its acknowledgement as the acknowledgement', () => {
    const events = spec.given([targeted(), sent(1)]).when(result('2.0')).events();
    expect(events.map((e) => e.type)).toEqual(['NotificationAcknowledged', 'UpdateCompleted', 'ScanRequested']);
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

  it('does not lower a target or raise it to what it already is: the rollout joins the open notification', () => {
    const join: AgentUpdateCommand = { type: 'Target', agentId, rolloutId: 'r0', trigger: 'download', components: [target('2.5')], policy, notificationId: 'other', now };
    spec.given([targeted([target('3.0')])]).when(join).then([{ type: 'RolloutJoined', data: { agentId, notificationId, rolloutId: 'r0', at } }]);
    // Once joined (or for the rollout that opened it), the same target again is nothing new.
    spec.given([targeted([target('3.0')]), { type: 'RolloutJoined', data: { agentId, notificationId, rolloutId: 'r0', at } }]).when(join).thenNothing();
    spec.given([targeted([target('3.0')], 'r0')]).when(join).thenNothing();
  });

  it('records a rollout that finds its agent already up to date, once', () => {
    const upToDate: AgentUpdateCommand = { type: 'Target', agentId, rolloutId: 'r1', trigger: 'download', components: [], policy, notificationId: 'n9', now };
    const notNeeded: AgentUpdateEvent = { type: 'UpdateNotNeeded', data: { agentId, notificationId: 'n9', rolloutId: 'r1', at } };
    spec.given([]).when(upToDate).then([notNeeded]);
    spec.given([notNeeded]).when(upToDate).thenNothing();
  });

  it('never opens a notification twice: a redelivered target of one that ended changes nothing', () => {
    const completed = spec.given([targeted(), sent(1), acked(1)]).when(result('2.0')).events();
    spec
      .given([targeted(), sent(1), acked(1), ...completed])
      .when({ type: 'Target', agentId, rolloutId: 'r1', trigger: 'download', components: [target('2.0')], policy, notificationId, now })
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

  it('on reconnect names the rollouts of the versions it brings, and a rollout of one of them then joins nothing new', () => {
    const reconnect: Extract<AgentUpdateCommand, { type: 'Target' }> = {
      type: 'Target',
      agentId,
      rolloutId: null,
      trigger: 'reconnect',
      components: [target('2.0'), target('5.1', 'engine')],
      policy,
      notificationId: 'n2',
      now,
    };
    const opened: AgentUpdateEvent = {
      type: 'UpdateTargeted',
      data: { agentId, notificationId: 'n2', rolloutId: null, rolloutIds: ['r2', 'r7'], trigger: 'reconnect', components: [target('2.0'), target('5.1', 'engine')], policy, at },
    };
    spec.given([]).when({ ...reconnect, rolloutIds: ['r2', 'r7'] }).then([opened]);
    // No rollout brought those versions (R1 was off and nothing recorded one): none named.
    expect(spec.given([]).when({ ...reconnect, rolloutIds: [] }).events()[0]!.data).not.toHaveProperty('rolloutIds');
    // R1's work for rollout r2 reaching the agent afterwards: the open update already works for it.
    spec
      .given([opened])
      .when({ type: 'Target', agentId, rolloutId: 'r2', trigger: 'download', components: [target('2.0')], policy, notificationId: 'n3', now })
      .thenNothing();
  });

  it('records an outdated Independent agent left alone on reconnect once per reason and set of versions it is behind on (R8)', () => {
    const skip: Extract<AgentUpdateCommand, { type: 'Skip' }> = { type: 'Skip', agentId, rolloutId: null, trigger: 'reconnect', reason: 'independent', components: [target('2.0')], rolloutIds: ['r2'], now };
    const skipped: AgentUpdateEvent = {
      type: 'TargetSkipped',
      data: { agentId, rolloutId: null, rolloutIds: ['r2'], trigger: 'reconnect', reason: 'independent', components: [target('2.0')], at },
    };
    spec.given([]).when(skip).then([skipped]);
    // Back again, still behind on the same version: the same skip.
    spec.given([skipped]).when(skip).thenNothing();
    // Behind on a newer version now: a new skip.
    spec
      .given([skipped])
      .when({ ...skip, components: [target('3.0')], rolloutIds: ['r3'] })
      .then([{ type: 'TargetSkipped', data: { ...skipped.data, rolloutIds: ['r3'], components: [target('3.0')] } }]);
    // The same versions, but it holds the privilege now: a new skip, with the new reason.
    spec
      .given([skipped])
      .when({ ...skip, reason: 'no-privilege' })
      .then([{ type: 'TargetSkipped', data: { ...skipped.data, reason: 'no-privilege' } }]);
    // Up to date: nothing to skip.
    spec.given([]).when({ ...skip, components: [], rolloutIds: [] }).thenNothing();
    // Updated since (it left Independent mode for a while): falling behind on that version again is a new skip.
    const updatedOnReconnect: AgentUpdateEvent = {
      type: 'UpdateTargeted',
      data: { agentId, notificationId: 'n2', rolloutId: null, trigger: 'reconnect', components: [target('2.0')], policy, at },
    };
    spec.given([skipped, updatedOnReconnect]).when(skip).then([skipped]);
  });

  it('on reconnect of an agent already up to date closes its open notification', () => {
    spec
      .given([targeted(), failed(1), resend(2)])
      .when({ type: 'Target', agentId, rolloutId: null, trigger: 'reconnect', components: [], policy, notificationId: 'n2', now })
      .then([{ type: 'NotificationResolved', data: { agentId, notificationId, reason: 'already-up-to-date', at } }]);
    // With what the agent said it has, so each rollout of the notification can tell whether it got there.
    spec
      .given([targeted(), failed(1), resend(2)])
      .when({ type: 'Target', agentId, rolloutId: null, trigger: 'reconnect', components: [], installed: [{ type: 'virus-pattern', version: '1.0' }], policy, notificationId: 'n2', now })
      .then([{ type: 'NotificationResolved', data: { agentId, notificationId, reason: 'already-up-to-date', installed: [{ type: 'virus-pattern', version: '1.0' }], at } }]);
    spec.given([]).when({ type: 'Target', agentId, rolloutId: null, trigger: 'reconnect', components: [], policy, notificationId: 'n2', now }).thenNothing();
  });

  it('keeps an open notification as it is when presence hears the agent again after a missed heartbeat', () => {
    const working = [targeted(), sent(1), acked(1)];
    const back = { type: 'Target', agentId, rolloutId: null, trigger: 'reconnect', policy, notificationId: 'n2', now } as const;
    spec.given(working).when({ ...back, components: [target('2.0')], via: 'heartbeat' }).thenNothing();
    // It finished meanwhile: its report closes the notification, not the heartbeat.
    spec.given(working).when({ ...back, components: [], via: 'heartbeat' }).thenNothing();
    // A newer version meanwhile still raises the target (R7).
    spec
      .given(working)
      .when({ ...back, components: [target('3.0')], via: 'heartbeat' })
      .then([{ type: 'NotificationTargetRaised', data: { agentId, notificationId, rolloutId: null, components: [target('3.0')], at } }]);
    // A hello means it reconnected, and the update was interrupted: a new one starts at once.
    expect(
      spec
        .given(working)
        .when({ ...back, components: [target('2.0')], via: 'hello' })
        .events()
        .map((e) => e.type),
    ).toEqual(['NotificationResolved', 'UpdateTargeted']);
    // Not yet acknowledged, or waiting for a resend: no new connection, so the attempt is still
    // in its queue and the resend comes on time. Nothing changes.
    spec.given([targeted(), sent(1)]).when({ ...back, components: [target('2.0')], via: 'heartbeat' }).thenNothing();
    spec.given([targeted(), failed(1), resend(2)]).when({ ...back, components: [target('2.0')], via: 'heartbeat' }).thenNothing();
  });

  it('closes an open notification that works for an aborted rollout, with who aborted it', () => {
    const abort = { type: 'CloseForAbortedRollout', agentId, rolloutId: 'r1', by: 'alice', now } as const;
    spec.given([targeted(), sent(1)]).when(abort).then([{ type: 'NotificationResolved', data: { agentId, notificationId, reason: 'aborted', rolloutId: 'r1', by: 'alice', at } }]);
    // Joined by the aborted rollout: it works for it too.
    spec
      .given([targeted([target('3.0')], 'r0'), { type: 'RolloutJoined', data: { agentId, notificationId, rolloutId: 'r1', at } }])
      .when(abort)
      .then([{ type: 'NotificationResolved', data: { agentId, notificationId, reason: 'aborted', rolloutId: 'r1', by: 'alice', at } }]);
    // Another rollout's notification, or none open: nothing to close.
    spec.given([targeted([target('2.0')], 'r2')]).when(abort).thenNothing();
    spec.given([]).when(abort).thenNothing();
  });

  it('merges targets keeping the newest version of each type', () => {
    expect(mergeTargets([target('2.0'), target('5.0', 'scan-engine')], [target('3.0'), target('4.0', 'scan-engine')])).toEqual([
      target('5.0', 'scan-engine'),
      target('3.0'),
    ]);
  });

  describe('pinned targets (rollback)', () => {
    const pinned = (version: string, pinSequence: number) => ({ ...target(version), pinned: true, pinSequence });
    const targetCommand = (components: ComponentTarget[], rolloutId = 'pin'): AgentUpdateCommand => ({ type: 'Target', agentId, rolloutId, trigger: 'download', components, policy, notificationId: 'other', now });

    it('a pin replaces an open target with its older version, and an unpin read after it replaces the pin', () => {
      spec
        .given([targeted([target('3.0')]), sent(1, [target('3.0')])])
        .when(targetCommand([pinned('1.0', 4)]))
        .then([{ type: 'NotificationTargetRaised', data: { agentId, notificationId, rolloutId: 'pin', components: [pinned('1.0', 4)], at } }]);
      const unpinned = { ...target('3.0'), pinSequence: 5 };
      spec
        .given([targeted([pinned('1.0', 4)], 'pin')])
        .when(targetCommand([unpinned], 'unpin'))
        .then([{ type: 'NotificationTargetRaised', data: { agentId, notificationId, rolloutId: 'unpin', components: [unpinned], at } }]);
    });

    it('a target read before the pin changed never undoes the pin, however new its version', () => {
      spec
        .given([targeted([pinned('1.0', 4)], 'pin')])
        .when(targetCommand([target('3.0')], 'r3'))
        .then([{ type: 'RolloutJoined', data: { agentId, notificationId, rolloutId: 'r3', at } }]);
      expect(mergeTargets([pinned('1.0', 4)], [{ ...target('3.0'), pinSequence: 3 }])).toEqual([pinned('1.0', 4)]);
      expect(mergeTargets([pinned('1.0', 4)], [pinned('1.5', 6)])).toEqual([pinned('1.5', 6)]);
    });

    it('an agent above the pinned version reaches it only at exactly that version', () => {
      const opened = [targeted([pinned('1.0', 4)], 'pin'), sent(1, [pinned('1.0', 4)]), acked(1)];
      const done = spec.given(opened).when(result('1.0')).events();
      expect(done).toEqual([expect.objectContaining({ type: 'UpdateCompleted', data: expect.objectContaining({ targetReached: true }) }), expect.objectContaining({ type: 'ScanRequested' })]);
    });

    it('a completed report short of the very target sent is a failure, not another round (an agent that does not downgrade)', () => {
      const opened = [targeted([pinned('1.0', 4)], 'pin'), sent(1, [pinned('1.0', 4)]), acked(1)];
      spec
        .given(opened)
        .when(result('3.0'))
        .then([{ type: 'UpdateFailed', data: { agentId, notificationId, error: 'the agent reported the update completed without installing virus-pattern 1.0 (pinned)', installed: [{ type: 'virus-pattern', version: '3.0' }], retries: 0, at } }]);
    });
  });

  describe('retries of failed updates', () => {
    const retrying: NotificationPolicy = { ...policy, maxAttempts: 2, updateRetry: { retries: 2, delayMs: 60_000, backoff: 2, jitter: 0 } };
    const opened = targeted([target('2.0')]);
    const withRetries = { ...opened, data: { ...opened.data, policy: retrying } } as AgentUpdateEvent;
    const failure: AgentUpdateCommand = { ...result('1.0'), outcome: 'failed', error: 'sha256 mismatch', installed: [{ type: 'virus-pattern', version: '1.0' }] };
    const retryScheduled = (retry: number, nextAttempt: number, delayMs: number): AgentUpdateEvent => ({
      type: 'UpdateRetryScheduled',
      data: { agentId, notificationId, error: 'sha256 mismatch', installed: [{ type: 'virus-pattern', version: '1.0' }], retry, retries: 2, nextAttempt, dueAt: later(delayMs), at },
    });
    const fold = (events: AgentUpdateEvent[]) => events.reduce(agentUpdatesDecider.evolve, agentUpdatesDecider.initialState());

    it('retries a failed update after the back-off, doubling, then gives up with the reason', () => {
      spec.given([withRetries, sent(1), acked(1)]).when(failure).then([retryScheduled(1, 2, 60_000)]);
      const afterFirst = [withRetries, sent(1), acked(1), retryScheduled(1, 2, 60_000)];
      expect(fold(afterFirst).open).toMatchObject({ phase: 'awaiting-resend', resendDueAt: later(60_000), failures: 1 });
      expect(nextAttempt(fold(afterFirst))).toBe(2);
      spec.given([...afterFirst, sent(2), acked(2)]).when(failure).then([retryScheduled(2, 3, 120_000)]);
      const afterSecond = [...afterFirst, sent(2), acked(2), retryScheduled(2, 3, 120_000)];
      spec
        .given([...afterSecond, sent(3), acked(3)])
        .when(failure)
        .then([{ type: 'UpdateFailed', data: { agentId, notificationId, error: 'sha256 mismatch', installed: [{ type: 'virus-pattern', version: '1.0' }], retries: 2, at } }]);
    });

    it('counts a failure once: the same failure reported again, or late for a round that already failed, is stale; a late success still counts', () => {
      const of = (attempt: number): AgentUpdateCommand => ({ ...failure, commandId: deterministicUuid('update', notificationId, String(attempt)) } as AgentUpdateCommand);
      const waiting = [withRetries, sent(1), acked(1), retryScheduled(1, 2, 60_000)];
      spec.given(waiting).when(of(1)).thenNothing();
      spec.given([...waiting, sent(2), acked(2)]).when(of(1)).thenNothing();
      spec.given([...waiting, sent(2), acked(2)]).when(of(2)).then([retryScheduled(2, 3, 120_000)]);
      const lateSuccess = spec.given(waiting).when({ ...result('2.0'), commandId: deterministicUuid('update', notificationId, '1') } as AgentUpdateCommand).events();
      expect(lateSuccess.map((e) => e.type)).toEqual(['NotificationAcknowledged', 'UpdateCompleted', 'ScanRequested']);
    });

    it('retries an update that was never reported, too', () => {
      const events = spec.given([withRetries, sent(1), acked(1)]).when({ type: 'ReportDeadlinePassed', agentId, notificationId, attempt: 1, now }).events();
      expect(events).toEqual([expect.objectContaining({ type: 'UpdateRetryScheduled', data: expect.objectContaining({ retry: 1, nextAttempt: 2, error: 'no report within 1800 s of the acknowledgement' }) })]);
    });

    it("gives each retry R4's attempts of its own, and ignores acknowledgements of the failed round", () => {
      const retried = [withRetries, failed(1), resend(2), sent(2), acked(2), retryScheduled(1, 3, 60_000)];
      // Attempt 2 was the second of the first round (maxAttempts 2); the retry starts a round of two more.
      spec.given([...retried, sent(3)]).when({ type: 'RecordAck', agentId, notificationId, attempt: 2, now }).thenNothing();
      spec.given([...retried, sent(3)]).when({ type: 'RecordAttemptReturned', agentId, notificationId, attempt: 3, now }).then([
        { type: 'AttemptFailed', data: { agentId, notificationId, attempt: 3, reason: 'no-queue', at } },
        { type: 'ResendScheduled', data: { agentId, notificationId, nextAttempt: 4, dueAt: later(900_000), at } },
      ]);
      spec
        .given([...retried, sent(3), failed(3), resend(4), sent(4)])
        .when({ type: 'RecordAttemptReturned', agentId, notificationId, attempt: 4, now })
        .then([
          { type: 'AttemptFailed', data: { agentId, notificationId, attempt: 4, reason: 'no-queue', at } },
          { type: 'NotificationGaveUp', data: { agentId, notificationId, attempts: 4, at } },
        ]);
    });

    it('raises the target of a notification waiting for its retry (R7), and R2 on reconnect replaces it', () => {
      const waiting = [withRetries, sent(1), acked(1), retryScheduled(1, 2, 60_000)];
      spec
        .given(waiting)
        .when({ type: 'Target', agentId, rolloutId: 'r2', trigger: 'download', components: [target('3.0')], policy, notificationId: 'other', now })
        .then([{ type: 'NotificationTargetRaised', data: { agentId, notificationId, rolloutId: 'r2', components: [target('3.0')], at } }]);
      const events = spec.given(waiting).when({ type: 'Target', agentId, rolloutId: null, trigger: 'reconnect', components: [target('2.0')], policy, notificationId: 'n2', now }).events();
      expect(events.map((e) => e.type)).toEqual(['NotificationResolved', 'UpdateTargeted']);
    });

    it('spreads retries by up to the jitter, the same way every time', () => {
      const policy = { retries: 3, delayMs: 60_000, backoff: 2, jitter: 0.5 };
      const delays = Array.from({ length: 64 }, (_, i) => retryDelayMs(policy, 2, `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`));
      for (const d of delays) {
        expect(d).toBeGreaterThanOrEqual(120_000);
        expect(d).toBeLessThan(180_000);
      }
      expect(new Set(delays).size).toBeGreaterThan(4);
      expect(retryDelayMs(policy, 2, notificationId)).toBe(retryDelayMs(policy, 2, notificationId));
      expect(retryDelayMs({ ...policy, jitter: 0 }, 3, notificationId)).toBe(240_000);
    });

    it('gives up at the first failure with no retries, and for notifications opened before retries existed', () => {
      const none = { ...opened, data: { ...opened.data, policy: { ...policy, updateRetry: { retries: 0, delayMs: 1000, backoff: 2, jitter: 0 } } } } as AgentUpdateEvent;
      for (const first of [none, opened]) {
        expect(spec.given([first, sent(1), acked(1)]).when(failure).events().map((e) => e.type)).toEqual(['UpdateFailed']);
      }
    });
  });
});
