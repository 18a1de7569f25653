import type { AppliedComponent, ComponentTarget, InstalledComponent} from '@herald/contracts';
import { compareVersions, outdatedComponents } from '@herald/contracts';
import type { Decider } from '@herald/domain';
import type { AgentUpdateEvent, NotificationPolicy, SkipReason, Trigger } from './agent-updates.events';

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
  target: ComponentTarget[];
  policy: NotificationPolicy;
  phase: Phase;
  /** Attempts made so far (sent or failed). */
  attempt: number;
  /** First attempt of the current round; acknowledgements of earlier rounds are stale. */
  roundStart: number;
  /** The attempt the agent acknowledged, while it is updating. */
  acknowledgedAttempt: number | null;
  resendDueAt: string | null;
  /** Follows the flow that opened it (the component download, or the reconnect). */
  correlationId: string | undefined;
}

export interface AgentUpdateState {
  open: OpenNotification | null;
  /** Scans asked for and not yet reported, by scan id. */
  pendingScans: Record<string, { status: 'requested' | 'sent'; notificationId: string }>;
}

export type AgentUpdateCommand =
  | {
      type: 'Target';
      agentId: string;
      rolloutId: string | null;
      trigger: Trigger;
      /** The components the agent is behind on, at their newest versions; may be empty on reconnect. */
      components: ComponentTarget[];
      policy: NotificationPolicy;
      /** Id for the notification, should this open one. */
      notificationId: string;
      now: Date;
    }
  | { type: 'Skip'; agentId: string; rolloutId: string | null; trigger: Trigger; reason: SkipReason; now: Date }
  /** Attempt n is about to be published (recorded first, so an acknowledgement can never precede it). */
  | { type: 'RecordAttemptSent'; agentId: string; notificationId: string; attempt: number; commandId: string; components: ComponentTarget[]; now: Date }
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
      /** Whether the agent runs in Independent mode now (R3 never scans independent agents). */
      independent: boolean;
      scanId: string;
      now: Date;
    }
  | { type: 'RecordScanSent'; agentId: string; scanId: string; commandId: string; now: Date }
  | { type: 'RecordScanReturned'; agentId: string; scanId: string; now: Date }
  | { type: 'RecordScanResult'; agentId: string; scanId: string; outcome: 'clean' | 'threats-found' | 'failed'; threatsFound: number; now: Date };

export const agentUpdatesStreamId = (agentId: string): string => `agent-${agentId}`;

/** The attempt that is to go out next, or null when none is. */
export function nextAttempt(state: AgentUpdateState): number | null {
  const open = state.open;
  return open && (open.phase === 'sending' || open.phase === 'awaiting-resend') ? open.attempt + 1 : null;
}

/** The union of two targets, keeping the newer version of each component type. */
export function mergeTargets(current: readonly ComponentTarget[], incoming: readonly ComponentTarget[]): ComponentTarget[] {
  const byType = new Map(current.map((c) => [c.type, c]));
  for (const c of incoming) {
    const have = byType.get(c.type);
    if (!have || compareVersions(c.version, have.version) > 0) byType.set(c.type, c);
  }
  return [...byType.values()].sort((a, b) => a.type.localeCompare(b.type));
}

const plus = (now: Date, ms: number): string => new Date(now.getTime() + ms).toISOString();

export const agentUpdatesDecider: Decider<AgentUpdateState, AgentUpdateCommand, AgentUpdateEvent> = {
  initialState: () => ({ open: null, pendingScans: {} }),

  evolve(state, event): AgentUpdateState {
    const open = state.open;
    switch (event.type) {
      case 'UpdateTargeted':
        return {
          ...state,
          open: {
            notificationId: event.data.notificationId,
            rolloutIds: [event.data.rolloutId],
            trigger: event.data.trigger,
            target: event.data.components,
            policy: event.data.policy,
            phase: 'sending',
            attempt: 0,
            roundStart: 1,
            acknowledgedAttempt: null,
            resendDueAt: null,
            correlationId: event.metadata?.correlationId,
          },
        };
      case 'NotificationTargetRaised':
        return open
          ? { ...state, open: { ...open, target: event.data.components, rolloutIds: [...open.rolloutIds, event.data.rolloutId] } }
          : state;
      case 'AttemptSent':
        return open ? { ...state, open: { ...open, phase: 'awaiting-ack', attempt: event.data.attempt, resendDueAt: null } } : state;
      case 'AttemptFailed':
        return open ? { ...state, open: { ...open, attempt: event.data.attempt } } : state;
      case 'ResendScheduled':
        return open ? { ...state, open: { ...open, phase: 'awaiting-resend', resendDueAt: event.data.dueAt } } : state;
      case 'NotificationAcknowledged':
        return open ? { ...state, open: { ...open, phase: 'updating', acknowledgedAttempt: event.data.attempt, resendDueAt: null } } : state;
      case 'UpdateCompleted':
        if (!open) return state;
        if (event.data.targetReached) return { ...state, open: null };
        // The target was raised meanwhile: a new round of attempts carries the newer versions.
        return { ...state, open: { ...open, phase: 'sending', roundStart: open.attempt + 1, acknowledgedAttempt: null } };
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
        return state;
      default: {
        const unknown: never = event;
        throw new Error(`unknown event ${JSON.stringify(unknown)}`);
      }
    }
  },

  decide(command, state): AgentUpdateEvent[] {
    const at = command.now.toISOString();
    const { agentId } = command;
    const open = state.open;
    const matches = (notificationId: string) => open !== null && open.notificationId === notificationId;

    /** A failed attempt: resend after the interval, or give up after the last one. */
    const failed = (o: OpenNotification, attempt: number, reason: 'no-queue' | 'ack-timeout'): AgentUpdateEvent[] => [
      { type: 'AttemptFailed', data: { agentId, notificationId: o.notificationId, attempt, reason, at } },
      attempt < o.policy.maxAttempts
        ? {
            type: 'ResendScheduled',
            data: { agentId, notificationId: o.notificationId, nextAttempt: attempt + 1, dueAt: plus(command.now, o.policy.resendIntervalMs), at },
          }
        : { type: 'NotificationGaveUp', data: { agentId, notificationId: o.notificationId, attempts: attempt, at } },
    ];

    switch (command.type) {
      case 'Target': {
        const open_ = (): AgentUpdateEvent => ({
          type: 'UpdateTargeted',
          data: {
            agentId,
            notificationId: command.notificationId,
            rolloutId: command.rolloutId,
            trigger: command.trigger,
            components: command.components,
            policy: command.policy,
            at,
          },
        });
        if (!open) return command.components.length > 0 ? [open_()] : [];
        if (command.trigger === 'reconnect') {
          if (command.components.length === 0) {
            // Back and already up to date (it updated some other way): nothing left to deliver.
            return [{ type: 'NotificationResolved', data: { agentId, notificationId: open.notificationId, reason: 'already-up-to-date', at } }];
          }
          // R2: an update starts at once; a pending resend, an unacknowledged attempt or an update
          // the restart interrupted is resolved in its favour.
          if (open.phase !== 'sending') {
            return [
              { type: 'NotificationResolved', data: { agentId, notificationId: open.notificationId, reason: 'superseded-by-reconnect', at } },
              open_(),
            ];
          }
        }
        // R7: one open notification per agent; a newer version raises its target.
        const merged = mergeTargets(open.target, command.components);
        const raised = merged.some((c) => !open.target.some((t) => t.type === c.type && t.version === c.version));
        return raised
          ? [{ type: 'NotificationTargetRaised', data: { agentId, notificationId: open.notificationId, rolloutId: command.rolloutId, components: merged, at } }]
          : [];
      }

      case 'Skip':
        return [{ type: 'TargetSkipped', data: { agentId, rolloutId: command.rolloutId, trigger: command.trigger, reason: command.reason, at } }];

      case 'RecordAttemptSent':
        // Only the attempt that is due counts; a redelivered or superseded send is stale.
        if (!open || !matches(command.notificationId) || nextAttempt(state) !== command.attempt) return [];
        return [
          {
            type: 'AttemptSent',
            data: {
              agentId,
              notificationId: open.notificationId,
              attempt: command.attempt,
              commandId: command.commandId,
              components: command.components,
              ackDeadlineAt: plus(command.now, open.policy.ackTimeoutMs),
              at,
            },
          },
        ];

      case 'RecordAttemptReturned':
        if (!open || !matches(command.notificationId) || open.phase !== 'awaiting-ack' || open.attempt !== command.attempt) return [];
        return failed(open, command.attempt, 'no-queue');

      case 'AckDeadlinePassed':
        if (!open || !matches(command.notificationId) || open.phase !== 'awaiting-ack' || open.attempt !== command.attempt) return [];
        return failed(open, command.attempt, 'ack-timeout');

      case 'ReportDeadlinePassed':
        // The agent acknowledged but never reported (it crashed, or lost its report): the update failed.
        if (!open || !matches(command.notificationId) || open.phase !== 'updating' || open.acknowledgedAttempt !== command.attempt) return [];
        return [
          {
            type: 'UpdateFailed',
            data: {
              agentId,
              notificationId: open.notificationId,
              error: `no report within ${Math.round(open.policy.reportTimeoutMs / 1000)} s of the acknowledgement`,
              installed: [],
              at,
            },
          },
        ];

      case 'RecordAck':
        // An acknowledgement at any point stops the resends, even one arriving after its timeout.
        if (!open || !matches(command.notificationId)) return [];
        if (open.phase !== 'awaiting-ack' && open.phase !== 'awaiting-resend') return [];
        if (command.attempt < open.roundStart || command.attempt > open.attempt) return [];
        return [{ type: 'NotificationAcknowledged', data: { agentId, notificationId: open.notificationId, attempt: command.attempt, at } }];

      case 'RecordUpdateResult': {
        // A report can overtake its acknowledgement (or the acknowledgement was lost): it implies it.
        if (!open || !matches(command.notificationId) || open.phase === 'sending') return [];
        const implied: AgentUpdateEvent[] =
          open.phase === 'updating' ? [] : [{ type: 'NotificationAcknowledged', data: { agentId, notificationId: open.notificationId, attempt: open.attempt, at } }];
        if (command.outcome === 'failed') {
          return [
            ...implied,
            {
              type: 'UpdateFailed',
              data: { agentId, notificationId: open.notificationId, error: command.error ?? 'the agent reported a failure', installed: command.installed, at },
            },
          ];
        }
        const targetReached = outdatedComponents(command.installed, open.target).length === 0;
        const events: AgentUpdateEvent[] = [
          ...implied,
          {
            type: 'UpdateCompleted',
            data: { agentId, notificationId: open.notificationId, components: command.applied, installed: command.installed, targetReached, at },
          },
        ];
        // R3: Scan Now once the event-triggered update is done, never on Independent agents.
        if (targetReached && open.policy.scanAfterUpdate && !command.independent) {
          events.push({ type: 'ScanRequested', data: { agentId, notificationId: open.notificationId, scanId: command.scanId, at } });
        }
        return events;
      }

      case 'RecordScanSent':
        if (state.pendingScans[command.scanId]?.status !== 'requested') return [];
        return [{ type: 'ScanCommandSent', data: { agentId, scanId: command.scanId, commandId: command.commandId, at } }];

      case 'RecordScanReturned':
        if (state.pendingScans[command.scanId]?.status !== 'sent') return [];
        return [{ type: 'ScanCommandFailed', data: { agentId, scanId: command.scanId, reason: 'no-queue', at } }];

      case 'RecordScanResult':
        if (!state.pendingScans[command.scanId]) return [];
        return [
          {
            type: 'ScanCompleted',
            data: { agentId, scanId: command.scanId, outcome: command.outcome, threatsFound: command.threatsFound, at },
          },
        ];

      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },
};
