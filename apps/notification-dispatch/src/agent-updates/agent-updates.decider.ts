import { createHash } from 'node:crypto';
import type { AppliedComponent, FleetTarget, InstalledComponent } from '@herald/contracts';
import { compareVersions, deterministicUuid, outdatedComponents } from '@herald/contracts';
import { type Decider, unreachable } from '@herald/domain';
import type { AgentUpdateEvent, NotificationPolicy, SkipReason, Trigger, UpdateRetryPolicy } from './agent-updates.events';

/*
 * Rules R1–R4 and R7 for one agent. Phases of the one open notification:
 *   sending          attempt (attempt + 1) is to go out now
 *   awaiting-ack     attempt `attempt` went out; waiting for the agent's acknowledgement
 *   awaiting-resend  attempt `attempt` failed; attempt + 1 is due at `resendDueAt`
 *   updating         the agent acknowledged and is updating; waiting for its report
 */

export type Phase = 'sending' | 'awaiting-ack' | 'awaiting-resend' | 'updating';

export interface OpenNotification {
  notificationId: string;
  rolloutIds: Array<string | null>;
  trigger: Trigger;
  /** What the agent must reach: the newest version of each component it is behind on. */
  target: FleetTarget[];
  policy: NotificationPolicy;
  phase: Phase;
  /** Attempts made so far (sent or failed). */
  attempt: number;
  /** First attempt of the current round; acknowledgements of earlier rounds are stale. */
  roundStart: number;
  /** The attempt the agent acknowledged, while it is updating. */
  acknowledgedAttempt: number | null;
  /** What the last attempt sent carried (a raised target goes out with the next one). */
  sent: FleetTarget[] | null;
  /** While awaiting an acknowledgement: when the attempt counts as failed without one. */
  ackDeadlineAt: string | null;
  /** While updating: when the update counts as failed without a report. */
  reportDeadlineAt: string | null;
  resendDueAt: string | null;
  /** Updates the agent reported as failed so far (each one retried while the policy allows). */
  failures: number;
  /** Follows the flow that opened it (the component download, or the reconnect). */
  correlationId: string | undefined;
}

export interface AgentUpdateState {
  open: OpenNotification | null;
  /**
   * The last notification opened (or found not needed): a Target naming it again is a
   * redelivery, never a second update.
   */
  lastNotificationId: string | null;
  /** Scans asked for and not yet reported, by scan id. */
  pendingScans: Record<string, { status: 'requested' | 'sent'; notificationId: string }>;
  /**
   * Why and with which versions an outdated Independent agent was last left alone on reconnect
   * (R2, R8): it reconnecting again the same way is the same skip, not recorded twice.
   */
  skippedOnReconnect: string | null;
}

export type AgentUpdateCommand =
  | {
      type: 'Target';
      agentId: string;
      rolloutId: string | null;
      trigger: Trigger;
      /** The components the agent is behind on, at their newest versions; may be empty on reconnect. */
      components: FleetTarget[];
      /** Reconnect only: the rollouts of those versions, where they came with one. */
      rolloutIds?: string[];
      policy: NotificationPolicy;
      /** Id for the notification, should this open one. */
      notificationId: string;
      /**
       * Reconnect only. hello: the agent (re)connected, so what it had in hand was interrupted.
       * heartbeat: presence had timed it out and heard it again, its connection may never have
       * dropped. Absent counts as a hello.
       */
      via?: 'hello' | 'heartbeat';
      /** Reconnect only: what the agent reported it has. */
      installed?: InstalledComponent[];
      /** trigger admin: who asked. */
      by?: string;
      now: Date;
    }
  | {
      type: 'Skip';
      agentId: string;
      rolloutId: string | null;
      trigger: Trigger;
      reason: SkipReason;
      /** Reconnect only: the versions the agent is behind on, and their rollouts. */
      components?: FleetTarget[];
      rolloutIds?: string[];
      now: Date;
    }
  /** Attempt n is about to be published (recorded first, so an acknowledgement can never precede it). */
  | { type: 'RecordAttemptSent'; agentId: string; notificationId: string; attempt: number; commandId: string; components: FleetTarget[]; now: Date }
  /** The broker returned attempt n: the agent has no live queue. */
  | { type: 'RecordAttemptReturned'; agentId: string; notificationId: string; attempt: number; now: Date }
  | { type: 'AckDeadlinePassed'; agentId: string; notificationId: string; attempt: number; now: Date }
  | { type: 'ReportDeadlinePassed'; agentId: string; notificationId: string; attempt: number; now: Date }
  | { type: 'RecordAck'; agentId: string; notificationId: string; attempt: number; now: Date }
  | {
      type: 'RecordUpdateResult';
      agentId: string;
      notificationId: string;
      outcome: 'completed' | 'failed';
      applied: AppliedComponent[];
      installed: InstalledComponent[];
      error?: string;
      /** The update command the report answers (its attempt): a failure of an earlier round is stale. */
      commandId?: string;
      /** Whether the agent runs in Independent mode now (R3 never scans independent agents). */
      independent: boolean;
      scanId: string;
      now: Date;
    }
  /** An admin aborted the rollout: the agent's open notification, if it works for that rollout, is closed. */
  | { type: 'CloseForAbortedRollout'; agentId: string; rolloutId: string; by: string; now: Date }
  | { type: 'RecordScanSent'; agentId: string; scanId: string; commandId: string; now: Date }
  | { type: 'RecordScanReturned'; agentId: string; scanId: string; now: Date }
  | { type: 'RecordScanResult'; agentId: string; scanId: string; outcome: 'clean' | 'threats-found' | 'failed'; threatsFound: number; now: Date };

export const agentUpdatesStreamId = (agentId: string): string => `agent-${agentId}`;
/** The agent an agent-update stream is about. */
export const agentOfStream = (streamId: string): string => streamId.slice('agent-'.length);

/** The attempt that is to go out next, or null when none is. */
export function nextAttempt(state: AgentUpdateState): number | null {
  const open = state.open;
  return open && (open.phase === 'sending' || open.phase === 'awaiting-resend') ? open.attempt + 1 : null;
}

/**
 * The union of two targets: per component type, the one read after the later pin change, and
 * between two of the same, the newer version (R7). A pin (or unpin) thus replaces what was
 * there, even with an older version, and a target read before it never undoes it.
 */
export function mergeTargets(current: readonly FleetTarget[], incoming: readonly FleetTarget[]): FleetTarget[] {
  const byType = new Map(current.map((c) => [c.type, c]));
  const generation = (t: FleetTarget) => t.pinSequence ?? 0;
  for (const c of incoming) {
    const have = byType.get(c.type);
    if (!have || generation(c) > generation(have) || (generation(c) === generation(have) && compareVersions(c.version, have.version) > 0)) byType.set(c.type, c);
  }
  return [...byType.values()].sort((a, b) => a.type.localeCompare(b.type));
}

const plus = (now: Date, ms: number): string => new Date(now.getTime() + ms).toISOString();

export const agentUpdatesDecider: Decider<AgentUpdateState, AgentUpdateCommand, AgentUpdateEvent> = {
  initialState: () => ({ open: null, lastNotificationId: null, pendingScans: {}, skippedOnReconnect: null }),

  evolve(state, event): AgentUpdateState {
    const open = state.open;
    switch (event.type) {
      case 'UpdateTargeted':
        return {
          ...state,
          lastNotificationId: event.data.notificationId,
          skippedOnReconnect: null,
          open: {
            notificationId: event.data.notificationId,
            rolloutIds: [event.data.rolloutId, ...(event.data.rolloutIds ?? [])],
            trigger: event.data.trigger,
            target: event.data.components,
            policy: event.data.policy,
            phase: 'sending',
            attempt: 0,
            roundStart: 1,
            acknowledgedAttempt: null,
            sent: null,
            ackDeadlineAt: null,
            reportDeadlineAt: null,
            resendDueAt: null,
            failures: 0,
            correlationId: event.metadata?.correlationId,
          },
        };
      case 'NotificationTargetRaised':
        return open
          ? { ...state, open: { ...open, target: event.data.components, rolloutIds: [...open.rolloutIds, event.data.rolloutId, ...(event.data.rolloutIds ?? [])] } }
          : state;
      case 'RolloutJoined':
        return open ? { ...state, open: { ...open, rolloutIds: [...open.rolloutIds, event.data.rolloutId] } } : state;
      case 'UpdateNotNeeded':
        return { ...state, lastNotificationId: event.data.notificationId };
      case 'AttemptSent':
        return open
          ? { ...state, open: { ...open, phase: 'awaiting-ack', attempt: event.data.attempt, sent: event.data.components, ackDeadlineAt: event.data.ackDeadlineAt, resendDueAt: null } }
          : state;
      case 'AttemptFailed':
        return open ? { ...state, open: { ...open, attempt: event.data.attempt } } : state;
      case 'ResendScheduled':
        return open ? { ...state, open: { ...open, phase: 'awaiting-resend', resendDueAt: event.data.dueAt } } : state;
      case 'NotificationAcknowledged':
        if (!open) return state;
        return {
          ...state,
          open: { ...open, phase: 'updating', acknowledgedAttempt: event.data.attempt, reportDeadlineAt: plus(new Date(event.data.at), open.policy.reportTimeoutMs), resendDueAt: null },
        };
      case 'UpdateCompleted':
        if (!open) return state;
        if (event.data.targetReached) return { ...state, open: null };
        // The target was raised meanwhile: a new round of attempts carries the newer versions.
        return { ...state, open: { ...open, phase: 'sending', roundStart: open.attempt + 1, acknowledgedAttempt: null, reportDeadlineAt: null } };
      case 'UpdateRetryScheduled':
        // A new round: the retry is attempt nextAttempt, with R4's attempts of its own.
        return open
          ? {
              ...state,
              open: { ...open, phase: 'awaiting-resend', resendDueAt: event.data.dueAt, roundStart: event.data.nextAttempt, acknowledgedAttempt: null, reportDeadlineAt: null, failures: event.data.retry },
            }
          : state;
      case 'UpdateFailed':
      case 'NotificationGaveUp':
      case 'NotificationResolved':
        return { ...state, open: null };
      case 'ScanRequested':
        return { ...state, pendingScans: { ...state.pendingScans, [event.data.scanId]: { status: 'requested', notificationId: event.data.notificationId } } };
      case 'ScanCommandSent': {
        const scan = state.pendingScans[event.data.scanId];
        return scan ? { ...state, pendingScans: { ...state.pendingScans, [event.data.scanId]: { ...scan, status: 'sent' } } } : state;
      }
      case 'ScanCommandFailed':
      case 'ScanCompleted': {
        const { [event.data.scanId]: _done, ...rest } = state.pendingScans;
        return { ...state, pendingScans: rest };
      }
      case 'TargetSkipped':
        return event.data.trigger === 'reconnect' ? { ...state, skippedOnReconnect: skipKey(event.data.reason, event.data.components ?? []) } : state;
      default:
        return unreachable(event, 'event');
    }
  },

  decide,
};

type Command<T extends AgentUpdateCommand['type']> = Extract<AgentUpdateCommand, { type: T }>;

/** Reads the commands: each goes to the one function that decides it. */
function decide(command: AgentUpdateCommand, state: AgentUpdateState): AgentUpdateEvent[] {
  switch (command.type) {
    case 'Target':
      return target(command, state);
    case 'Skip':
      return skip(command, state);
    case 'RecordAttemptSent':
      return recordAttemptSent(command, state);
    case 'RecordAttemptReturned':
      return attemptFailed(command, state, 'no-queue');
    case 'AckDeadlinePassed':
      return attemptFailed(command, state, 'ack-timeout');
    case 'ReportDeadlinePassed':
      return reportDeadlinePassed(command, state);
    case 'RecordAck':
      return recordAck(command, state);
    case 'RecordUpdateResult':
      return recordUpdateResult(command, state);
    case 'CloseForAbortedRollout':
      return closeForAbortedRollout(command, state);
    case 'RecordScanSent':
      return recordScanSent(command, state);
    case 'RecordScanReturned':
      return recordScanReturned(command, state);
    case 'RecordScanResult':
      return recordScanResult(command, state);
    default:
      return unreachable(command, 'command');
  }
}

/** The open notification, when it is the one `notificationId` names. */
function openOne(state: AgentUpdateState, notificationId: string): OpenNotification | null {
  return state.open?.notificationId === notificationId ? state.open : null;
}

/**
 * R1/R2 open a notification; R7 raises the target of one already open. On reconnect (R2) an
 * update starts at once: a pending resend, an unacknowledged attempt or an update the restart
 * interrupted is resolved in its favour; an agent back and already up to date closes it. An agent
 * heard again after a missed heartbeat (no hello) made no new connection: its open notification
 * goes on as it was.
 */
function target(command: Command<'Target'>, state: AgentUpdateState): AgentUpdateEvent[] {
  const { agentId, components, rolloutId, notificationId } = command;
  const at = command.now.toISOString();
  const opened: AgentUpdateEvent = {
    type: 'UpdateTargeted',
    data: {
      agentId,
      notificationId,
      rolloutId,
      ...(command.rolloutIds?.length ? { rolloutIds: command.rolloutIds } : {}),
      trigger: command.trigger,
      components,
      policy: command.policy,
      ...(command.by ? { by: command.by } : {}),
      at,
    },
  };
  const open = state.open;
  if (!open) {
    // A redelivered target of a notification that already ran its course opens nothing again.
    if (state.lastNotificationId === notificationId) return [];
    if (components.length > 0) return [opened];
    // A rollout's agent that caught up before its turn: recorded, so the rollout counts it as ended.
    return rolloutId ? [{ type: 'UpdateNotNeeded', data: { agentId, notificationId, rolloutId, at } }] : [];
  }
  // Heard again after a missed heartbeat, with no hello: the agent never made a new connection,
  // so what was sent to it is still in its queue or in hand. Only a newer version changes anything.
  const reconnected = command.trigger === 'reconnect' && command.via !== 'heartbeat';
  if (reconnected && components.length === 0) {
    const installed = command.installed ? { installed: command.installed } : {};
    return [{ type: 'NotificationResolved', data: { agentId, notificationId: open.notificationId, reason: 'already-up-to-date', ...installed, at } }];
  }
  if (reconnected && open.phase !== 'sending') {
    return [{ type: 'NotificationResolved', data: { agentId, notificationId: open.notificationId, reason: 'superseded-by-reconnect', at } }, opened];
  }
  const merged = mergeTargets(open.target, components);
  const raised = merged.some((c) => !open.target.some((t) => t.type === c.type && t.version === c.version));
  if (raised) {
    const rolloutIds = command.rolloutIds?.length ? { rolloutIds: command.rolloutIds } : {};
    const byAdmin = command.trigger === 'admin' && !rolloutId ? { trigger: 'admin' as const, ...(command.by ? { by: command.by } : {}) } : {};
    return [{ type: 'NotificationTargetRaised', data: { agentId, notificationId: open.notificationId, rolloutId, ...rolloutIds, ...byAdmin, components: merged, at } }];
  }
  // The open notification already carries what this rollout brings: the rollout follows it.
  if (rolloutId && !open.rolloutIds.includes(rolloutId)) return [{ type: 'RolloutJoined', data: { agentId, notificationId: open.notificationId, rolloutId, at } }];
  return [];
}

/**
 * R8: every skip is recorded with its reason. On reconnect, an outdated Independent agent is
 * recorded once per reason and set of versions it is behind on: coming back again with the same,
 * or with none missing, is not another skip.
 */
function skip(command: Command<'Skip'>, state: AgentUpdateState): AgentUpdateEvent[] {
  const { agentId, rolloutId, trigger, reason } = command;
  const at = command.now.toISOString();
  if (trigger !== 'reconnect') return [{ type: 'TargetSkipped', data: { agentId, rolloutId, trigger, reason, at } }];
  const components = command.components ?? [];
  if (components.length === 0 || state.skippedOnReconnect === skipKey(reason, components)) return [];
  return [{ type: 'TargetSkipped', data: { agentId, rolloutId: null, rolloutIds: command.rolloutIds ?? [], trigger, reason, components, at } }];
}

/** The same reason and versions, in any order, give the same key. */
const skipKey = (reason: SkipReason, components: readonly FleetTarget[]): string =>
  [
    reason,
    ...components
      .map((c) => `${c.type}@${c.version}`)
      .sort(),
  ].join(' ');

/** Attempt n is recorded before it is published. Only the attempt that is due counts; a redelivered or superseded send is stale. */
function recordAttemptSent(command: Command<'RecordAttemptSent'>, state: AgentUpdateState): AgentUpdateEvent[] {
  const open = openOne(state, command.notificationId);
  if (!open || nextAttempt(state) !== command.attempt) return [];
  const { agentId, attempt, commandId, components } = command;
  const ackDeadlineAt = plus(command.now, open.policy.ackTimeoutMs);
  return [{ type: 'AttemptSent', data: { agentId, notificationId: open.notificationId, attempt, commandId, components, ackDeadlineAt, at: command.now.toISOString() } }];
}

/**
 * R4: an attempt the broker returned (no live agent queue) or that was not acknowledged in time
 * failed; the next is due after the resend interval, or the server gives up after the last of
 * the round (each round, the first and each retry of a failed update, has maxAttempts).
 */
function attemptFailed(command: Command<'RecordAttemptReturned' | 'AckDeadlinePassed'>, state: AgentUpdateState, reason: 'no-queue' | 'ack-timeout'): AgentUpdateEvent[] {
  const open = openOne(state, command.notificationId);
  if (!open || open.phase !== 'awaiting-ack' || open.attempt !== command.attempt) return [];
  const { agentId, attempt, now } = command;
  const { notificationId, policy } = open;
  const at = now.toISOString();
  const next: AgentUpdateEvent =
    attempt - open.roundStart + 1 < policy.maxAttempts
      ? { type: 'ResendScheduled', data: { agentId, notificationId, nextAttempt: attempt + 1, dueAt: plus(now, policy.resendIntervalMs), at } }
      : { type: 'NotificationGaveUp', data: { agentId, notificationId, attempts: attempt, at } };
  return [{ type: 'AttemptFailed', data: { agentId, notificationId, attempt, reason, at } }, next];
}

/** The agent acknowledged but never reported (it crashed, or lost its report): the update failed. */
function reportDeadlinePassed(command: Command<'ReportDeadlinePassed'>, state: AgentUpdateState): AgentUpdateEvent[] {
  const open = openOne(state, command.notificationId);
  if (!open || open.phase !== 'updating' || open.acknowledgedAttempt !== command.attempt) return [];
  const error = `no report within ${Math.round(open.policy.reportTimeoutMs / 1000)} s of the acknowledgement`;
  return [updateFailed(open, command.agentId, error, [], command.now)];
}

/**
 * A failed update: retried after the policy's back-off while retries are left (a new round of
 * attempts, through the delay queues), else the notification ends, failed, with the reason.
 */
function updateFailed(open: OpenNotification, agentId: string, error: string, installed: InstalledComponent[], now: Date): AgentUpdateEvent {
  const { notificationId, failures } = open;
  const retry = open.policy.updateRetry;
  const at = now.toISOString();
  if (!retry || failures >= retry.retries) {
    return { type: 'UpdateFailed', data: { agentId, notificationId, error, installed, retries: failures, at } };
  }
  const n = failures + 1;
  return {
    type: 'UpdateRetryScheduled',
    data: { agentId, notificationId, error, installed, retry: n, retries: retry.retries, nextAttempt: open.attempt + 1, dueAt: plus(now, retryDelayMs(retry, n, notificationId)), at },
  };
}

const sameTargets = (a: readonly FleetTarget[], b: readonly FleetTarget[]) => a.length === b.length && a.every((t) => b.some((u) => u.type === t.type && u.version === t.version));

/** Whether `commandId` is one of the attempts of the notification's current round. */
function ofThisRound(open: OpenNotification, commandId: string): boolean {
  for (let attempt = open.roundStart; attempt <= open.attempt; attempt++) {
    if (deterministicUuid('update', open.notificationId, String(attempt)) === commandId) return true;
  }
  return false;
}

/** Steps of the jitter: a fleet's retries spread over at most this many delay queues per retry. */
const JITTER_STEPS = 8;

/**
 * The wait before retry n: delayMs × backoff^(n−1), lengthened by a fraction of it up to the
 * policy's jitter. The fraction comes from the notification id and n, so the decision is the same
 * every time it is made, and agents that failed together spread out.
 */
export function retryDelayMs(retry: UpdateRetryPolicy, n: number, notificationId: string): number {
  const base = retry.delayMs * retry.backoff ** (n - 1);
  const step = createHash('sha256').update(`${notificationId}/${n}`).digest().readUInt8(0) % JITTER_STEPS;
  return Math.round(base * (1 + (retry.jitter * step) / JITTER_STEPS));
}

/** R4: an acknowledgement of this round at any point stops the resends, even one arriving after its timeout. */
function recordAck(command: Command<'RecordAck'>, state: AgentUpdateState): AgentUpdateEvent[] {
  const open = openOne(state, command.notificationId);
  if (!open || (open.phase !== 'awaiting-ack' && open.phase !== 'awaiting-resend')) return [];
  if (command.attempt < open.roundStart || command.attempt > open.attempt) return [];
  return [{ type: 'NotificationAcknowledged', data: { agentId: command.agentId, notificationId: open.notificationId, attempt: command.attempt, at: command.now.toISOString() } }];
}

/**
 * The agent's report. It implies the acknowledgement when it overtook it (or that was lost). A
 * completed update short of a raised target (R7) opens a new round; one that reached it closes
 * the notification and, with R3 on, asks a non-Independent agent for Scan Now.
 */
function recordUpdateResult(command: Command<'RecordUpdateResult'>, state: AgentUpdateState): AgentUpdateEvent[] {
  const open = openOne(state, command.notificationId);
  if (!open || open.phase === 'sending') return [];
  const { agentId, installed } = command;
  const { notificationId } = open;
  const at = command.now.toISOString();
  const implied: AgentUpdateEvent[] = open.phase === 'updating' ? [] : [{ type: 'NotificationAcknowledged', data: { agentId, notificationId, attempt: open.attempt, at } }];
  if (command.outcome === 'failed') {
    // A failure reported again for a round already failed (a copy sent after a reconnect, or a late
    // report of a round whose deadline passed) is not a second failure.
    if (command.commandId && !ofThisRound(open, command.commandId)) return [];
    return [...implied, updateFailed(open, agentId, command.error ?? 'the agent reported a failure', installed, command.now)];
  }
  const missed = outdatedComponents(installed, open.target);
  const targetReached = missed.length === 0;
  // Completed, yet short of the very target it was sent (not one raised since): the agent did not
  // install what it was told (an agent that does not downgrade to a pinned version, say). Another
  // round would meet the same answer: a failure, retried and given up like any other.
  if (!targetReached && open.sent && sameTargets(open.sent, open.target) && (!command.commandId || ofThisRound(open, command.commandId))) {
    const what = missed.map((c) => `${c.type} ${c.version}${c.pinned ? ' (pinned)' : ''}`).join(', ');
    return [...implied, updateFailed(open, agentId, `the agent reported the update completed without installing ${what}`, installed, command.now)];
  }
  const completed: AgentUpdateEvent = { type: 'UpdateCompleted', data: { agentId, notificationId, components: command.applied, installed, targetReached, at } };
  const scan: AgentUpdateEvent[] =
    targetReached && open.policy.scanAfterUpdate && !command.independent ? [{ type: 'ScanRequested', data: { agentId, notificationId, scanId: command.scanId, at } }] : [];
  return [...implied, completed, ...scan];
}

/** An aborted rollout's open notification ends with the reason; one that no longer works for it goes on. */
function closeForAbortedRollout(command: Command<'CloseForAbortedRollout'>, state: AgentUpdateState): AgentUpdateEvent[] {
  const open = state.open;
  if (!open?.rolloutIds.includes(command.rolloutId)) return [];
  const { agentId, rolloutId, by } = command;
  return [{ type: 'NotificationResolved', data: { agentId, notificationId: open.notificationId, reason: 'aborted', rolloutId, by, at: command.now.toISOString() } }];
}

function recordScanSent(command: Command<'RecordScanSent'>, state: AgentUpdateState): AgentUpdateEvent[] {
  if (state.pendingScans[command.scanId]?.status !== 'requested') return [];
  return [{ type: 'ScanCommandSent', data: { agentId: command.agentId, scanId: command.scanId, commandId: command.commandId, at: command.now.toISOString() } }];
}

/** The broker returned the scan command: the agent has no live queue. */
function recordScanReturned(command: Command<'RecordScanReturned'>, state: AgentUpdateState): AgentUpdateEvent[] {
  if (state.pendingScans[command.scanId]?.status !== 'sent') return [];
  return [{ type: 'ScanCommandFailed', data: { agentId: command.agentId, scanId: command.scanId, reason: 'no-queue', at: command.now.toISOString() } }];
}

function recordScanResult(command: Command<'RecordScanResult'>, state: AgentUpdateState): AgentUpdateEvent[] {
  if (!state.pendingScans[command.scanId]) return [];
  const { agentId, scanId, outcome, threatsFound } = command;
  return [{ type: 'ScanCompleted', data: { agentId, scanId, outcome, threatsFound, at: command.now.toISOString() } }];
}
