import { chunks } from '@herald/common';
import type { ComponentTarget, FleetTarget, InstalledComponent } from '@herald/contracts';
import { outdatedComponents } from '@herald/contracts';
import { type Decider, type Event, unreachable } from '@herald/domain';
import type { NotificationPolicy, SkipReason } from '../agent-updates/agent-updates.events';
import type { CanaryPolicy } from './canary';

/*
 * One stream per rollout ("rollout-<id>"): a new component version arrived and rule R1 decided
 * whom to notify. The plan is recorded compactly: its counts, then the agents it targets and
 * those it skips (by reason) in facts of at most FACT_SIZE ids each, every id once. What then
 * happens to each targeted agent is in that agent's stream; a skipped agent costs nothing more,
 * and its timeline shows the skip from here.
 */

/** Agent ids per AgentsTargeted or AgentsSkipped fact: no event carries an unbounded list. */
export const FACT_SIZE = 1000;

/** What R1 needs to know of an agent: dispatch's copy of agent-presence's facts (the directory). */
export interface DirectoryAgent {
  agentId: string;
  online: boolean;
  independentMode: boolean;
  independentPrivilege: boolean;
  components: InstalledComponent[];
  /** Its labels as admins see them (for a canary group by label). */
  labels?: Record<string, string>;
}

export interface RolloutPlan {
  targets: Array<{ agentId: string; components: ComponentTarget[] }>;
  skipped: Array<{ agentId: string; reason: SkipReason }>;
  /** Agents that already have every component at its newest version. */
  upToDate: number;
}

/** Written by versions before the compact plan: the whole plan in one event. Still read. */
export type RolloutStarted = Event<
  'RolloutStarted',
  {
    rolloutId: string;
    component: ComponentTarget;
    /** False when R1 was switched off: the version is recorded, nobody is notified. */
    notifyOnDownload: boolean;
    includeIndependentAndOffline: boolean;
    policy: NotificationPolicy;
    targets: string[];
    skipped: RolloutPlan['skipped'];
    upToDate: number;
    at: string;
  }
>;

/** A new version arrived and R1 planned whom to notify: the counts (the agents follow in facts). */
export type RolloutPlanned = Event<
  'RolloutPlanned',
  {
    rolloutId: string;
    /** The version agents are to reach; `pinned`: an admin pinned the type to it, so agents above it go down to it. */
    component: FleetTarget;
    /** What started it: absent, a new version (R1); else an admin's pin (a rollback) or unpin. */
    cause?: RolloutCause;
    /** False when R1 was switched off: the version is recorded, nobody is notified. */
    notifyOnDownload: boolean;
    includeIndependentAndOffline: boolean;
    policy: NotificationPolicy;
    targeted: number;
    skipped: Record<SkipReason, number>;
    upToDate: number;
    /** First attempts spread over this long (the rolloutSpreadSeconds setting); absent: all at once. */
    spreadMs?: number;
    /**
     * The rollout starts with a canary group of `agents` of its targets (chosen by the labels, or
     * the percentage drawn); the rest is notified once it is promoted. Absent: all at once.
     */
    canary?: CanaryPlanned;
    at: string;
  }
>;

/** An admin's pin or unpin that started a rollout; `by` is null when dispatch learned of the pin from a later version's announcement. */
export interface RolloutCause {
  kind: 'pin' | 'unpin';
  by: string | null;
  reason: string | null;
}

export interface CanaryPlanned {
  agents: number;
  labels: Record<string, string>;
  percent: number;
  successPercent: number;
  approval: 'automatic' | 'manual';
}

/**
 * Agents the rollout notifies (part of the plan). With a canary: `canary` ones first, the others
 * (`after-canary`) once the rollout is promoted; absent: at once.
 */
export type AgentsTargeted = Event<'AgentsTargeted', { rolloutId: string; agentIds: string[]; phase?: 'canary' | 'after-canary'; at: string }>;

/** Agents the rollout does not notify, and why (part of the plan; R8). */
export type AgentsSkipped = Event<'AgentsSkipped', { rolloutId: string; reason: SkipReason; agentIds: string[]; at: string }>;

/**
 * No new attempts go out for the rollout's notifications (first attempts, resends and retries are
 * held) until it is resumed. By an admin, or by Herald when more of its finished agents failed than
 * the error threshold allows (then `failed`, `finished` and `thresholdPercent` say how it stood).
 */
export type RolloutPaused = Event<'RolloutPaused', { rolloutId: string; at: string } & Pausing>;

export type PauseReason = 'admin' | 'error-threshold' | 'canary-failed';

/** Who paused a rollout and why; when Herald did, what it measured. */
export interface Pausing {
  by: string;
  /** canary-failed: every canary agent finished and too few succeeded (`succeeded` of `canary`, `successPercent` needed). */
  reason: PauseReason;
  note: string | null;
  failed?: number;
  finished?: number;
  thresholdPercent?: number;
  succeeded?: number;
  canary?: number;
  successPercent?: number;
}

/** The canary reached its success threshold; with manual approval the rollout waits for an admin to promote it. */
export type CanaryPassed = Event<'CanaryPassed', { rolloutId: string; succeeded: number; canary: number; successPercent: number; at: string }>;

/** The rest of the plan is notified now: by Herald when the canary passed (automatic approval), or by an admin. */
export type RolloutPromoted = Event<'RolloutPromoted', { rolloutId: string; by: string; succeeded: number; canary: number; at: string }>;

/** Held attempts go out again; the error threshold counts from here (`failed` of `finished` so far are behind it). */
export type RolloutResumed = Event<'RolloutResumed', { rolloutId: string; by: string; failed: number; finished: number; at: string }>;

/** The rollout is over: its open notifications are closed (reason "aborted") and the rest of its plan is not notified. */
export type RolloutAborted = Event<'RolloutAborted', { rolloutId: string; by: string; note: string | null; at: string }>;

/**
 * Every targeted agent of the rollout has an outcome (Herald saw it in the rollout's progress):
 * how they ended. Once per rollout; an agent R2 brings in later changes the counts, not this.
 */
export type RolloutCompleted = Event<'RolloutCompleted', { rolloutId: string; outcomes: RolloutOutcomeCounts; at: string }>;

export interface RolloutOutcomeCounts {
  targeted: number;
  updated: number;
  failed: number;
  gaveUp: number;
  alreadyUpToDate: number;
  superseded: number;
  aborted: number;
}

/** An admin had the rollout try its failed and given-up agents again: `agents` new notifications (retry `retryId`). */
export type RolloutRetryRequested = Event<'RolloutRetryRequested', { rolloutId: string; retryId: string; by: string; agents: number; at: string }>;

export type RolloutControlEvent = RolloutPaused | RolloutResumed | RolloutAborted | RolloutRetryRequested | CanaryPassed | RolloutPromoted;

export type RolloutEvent = RolloutStarted | RolloutPlanned | AgentsTargeted | AgentsSkipped | RolloutControlEvent | RolloutCompleted;

/** Where a rollout stands as admins steer it. */
export type RolloutControlState = 'running' | 'paused' | 'aborted';

/** canary: only the canary group is notified; awaiting-approval: it passed (or nobody matched), an admin promotes; all: everyone. */
export type RolloutPhase = 'canary' | 'awaiting-approval' | 'all';

export interface RolloutState {
  started: boolean;
  control: RolloutControlState;
  phase: RolloutPhase;
  completed?: boolean;
}

export type RolloutCommand =
  | {
      type: 'StartRollout';
      rolloutId: string;
      component: FleetTarget;
      cause?: RolloutCause;
      notifyOnDownload: boolean;
      includeIndependentAndOffline: boolean;
      policy: NotificationPolicy;
      plan: RolloutPlan;
      /** First attempts spread over this long; 0 or absent: all at once. */
      spreadMs?: number;
      /** The canary group (a subset of the plan's targets) and its policy; absent: everyone at once. */
      canary?: { agentIds: readonly string[]; policy: CanaryPolicy };
      now: Date;
    }
  | ({ type: 'Pause'; rolloutId: string; now: Date } & Pausing)
  | { type: 'PassCanary'; rolloutId: string; by: string; succeeded: number; canary: number; successPercent: number; now: Date }
  | { type: 'Promote'; rolloutId: string; by: string; succeeded: number; canary: number; now: Date }
  | { type: 'Resume'; rolloutId: string; by: string; failed: number; finished: number; now: Date }
  | { type: 'Abort'; rolloutId: string; by: string; note: string | null; now: Date }
  | { type: 'RetryFailed'; rolloutId: string; retryId: string; by: string; agents: number; now: Date }
  | { type: 'Complete'; rolloutId: string; outcomes: RolloutOutcomeCounts; now: Date };

/** A control command the rollout's state does not allow (anything but a retry after an abort is a no-op instead). */
export class RolloutControlConflict extends Error {}

export const rolloutStreamId = (rolloutId: string): string => `rollout-${rolloutId}`;

/**
 * R1/R1a/R8 for a newly announced version: the agents that have that component in an older
 * version are the rollout's; each is targeted with every component it is behind on (so one
 * notification brings it fully up to date) or skipped with its reason. Independent agents are
 * those that report Independent mode; one that does so without holding the privilege is skipped
 * as "no-privilege" so an admin sees it. R1a includes offline and Independent agents.
 */
export function planRollout(
  agents: readonly DirectoryAgent[],
  catalog: readonly FleetTarget[],
  announced: FleetTarget,
  includeIndependentAndOffline: boolean,
  /**
   * A pin's (or unpin's) rollout: agents with a notification open. One already at the version is
   * targeted too, so the pin takes its notification over instead of leaving it on another version.
   */
  takeOver: ReadonlySet<string> = new Set(),
): RolloutPlan {
  const plan: RolloutPlan = { targets: [], skipped: [], upToDate: 0 };
  // R1a's offline and Independent agents come after the reachable ones, so they never hold them up.
  const later: RolloutPlan['targets'] = [];
  for (const agent of agents) {
    const have = agent.components.find((c) => c.type === announced.type);
    if (!have) continue; // not a component this agent uses
    const components = outdatedComponents(agent.components, catalog);
    // At the version (or newer, unless the type is pinned to it: then agents above it go down).
    if (outdatedComponents([have], [announced]).length === 0) {
      if (!takeOver.has(agent.agentId)) {
        plan.upToDate++;
        continue;
      }
      components.push(announced);
    }
    let reason: SkipReason | null = null;
    if (!agent.online) reason = 'offline';
    else if (agent.independentMode) reason = agent.independentPrivilege ? 'independent' : 'no-privilege';
    if (reason && !includeIndependentAndOffline) plan.skipped.push({ agentId: agent.agentId, reason });
    else (reason ? later : plan.targets).push({ agentId: agent.agentId, components });
  }
  plan.targets.push(...later);
  return plan;
}


export const rolloutDecider: Decider<RolloutState, RolloutCommand, RolloutEvent> = {
  initialState: () => ({ started: false, control: 'running', phase: 'all' }),
  evolve(state, event) {
    switch (event.type) {
      case 'RolloutPlanned':
        return { ...state, started: true, phase: !event.data.canary ? 'all' : event.data.canary.agents > 0 ? 'canary' : 'awaiting-approval' };
      case 'CanaryPassed':
        return { ...state, phase: 'awaiting-approval' };
      case 'RolloutPromoted':
        return { ...state, phase: 'all' };
      case 'RolloutPaused':
        return { ...state, control: 'paused' };
      case 'RolloutResumed':
        return { ...state, control: 'running' };
      case 'RolloutAborted':
        return { ...state, control: 'aborted' };
      case 'RolloutRetryRequested':
        return state;
      case 'RolloutCompleted':
        return { ...state, completed: true };
      default:
        return { ...state, started: true };
    }
  },
  decide(command, state) {
    if (command.type === 'Complete') {
      return state.started && !state.completed ? [{ type: 'RolloutCompleted', data: { rolloutId: command.rolloutId, outcomes: command.outcomes, at: command.now.toISOString() } }] : [];
    }
    if (command.type !== 'StartRollout') return control(command, state);
    if (state.started) return [];
    const { plan, rolloutId } = command;
    const at = command.now.toISOString();
    const notify = command.notifyOnDownload;
    const skippedBy = (reason: SkipReason) => (notify ? plan.skipped.filter((s) => s.reason === reason).map((s) => s.agentId) : []);
    const skipped = { offline: skippedBy('offline'), independent: skippedBy('independent'), 'no-privilege': skippedBy('no-privilege') };
    const targets = notify ? plan.targets.map((t) => t.agentId) : [];
    const canary = notify && command.canary ? new Set(command.canary.agentIds) : null;
    const targetFacts = (agentIds: string[], phase?: 'canary' | 'after-canary') =>
      chunks(agentIds, FACT_SIZE).map((ids): RolloutEvent => ({ type: 'AgentsTargeted', data: { rolloutId, agentIds: ids, ...(phase ? { phase } : {}), at } }));
    return [
      {
        type: 'RolloutPlanned',
        data: {
          rolloutId,
          component: command.component,
          ...(command.cause ? { cause: command.cause } : {}),
          notifyOnDownload: notify,
          includeIndependentAndOffline: command.includeIndependentAndOffline,
          policy: command.policy,
          targeted: targets.length,
          skipped: { offline: skipped.offline.length, independent: skipped.independent.length, 'no-privilege': skipped['no-privilege'].length },
          upToDate: plan.upToDate,
          ...(command.spreadMs && notify ? { spreadMs: command.spreadMs } : {}),
          ...(canary && command.canary
            ? {
                canary: {
                  agents: canary.size,
                  labels: command.canary.policy.labels,
                  percent: command.canary.policy.percent,
                  successPercent: command.canary.policy.successPercent,
                  approval: command.canary.policy.approval,
                },
              }
            : {}),
          at,
        },
      },
      ...(canary
        ? [
            ...targetFacts(
              targets.filter((id) => canary.has(id)),
              'canary',
            ),
            ...targetFacts(
              targets.filter((id) => !canary.has(id)),
              'after-canary',
            ),
          ]
        : targetFacts(targets)),
      ...(['offline', 'independent', 'no-privilege'] as const).flatMap((reason) =>
        chunks(skipped[reason], FACT_SIZE).map((agentIds): RolloutEvent => ({ type: 'AgentsSkipped', data: { rolloutId, reason, agentIds, at } })),
      ),
    ];
  },
};

/**
 * Pause, resume, abort, retry failed; a canary passed, a rollout promoted. Asking for the state a rollout is in already changes
 * nothing (a second click, a retried request); an aborted rollout takes no more commands.
 */
function control(command: Exclude<RolloutCommand, { type: 'StartRollout' | 'Complete' }>, state: RolloutState): RolloutEvent[] {
  const { rolloutId, by } = command;
  const at = command.now.toISOString();
  if (!state.started) throw new RolloutControlConflict(`rollout ${rolloutId} has not started`);
  if (state.control === 'aborted') {
    if (command.type === 'Abort') return [];
    throw new RolloutControlConflict(`rollout ${rolloutId} was aborted`);
  }
  switch (command.type) {
    case 'Pause': {
      if (state.control === 'paused') return [];
      const { reason, note, failed, finished, thresholdPercent, succeeded, canary, successPercent } = command;
      const measured = reason === 'error-threshold' ? { failed, finished, thresholdPercent } : reason === 'canary-failed' ? { succeeded, canary, successPercent } : {};
      return [{ type: 'RolloutPaused', data: { rolloutId, by, reason, note, ...measured, at } }];
    }
    case 'PassCanary':
      return state.phase === 'canary' ? [{ type: 'CanaryPassed', data: { rolloutId, succeeded: command.succeeded, canary: command.canary, successPercent: command.successPercent, at } }] : [];
    case 'Promote':
      return state.phase === 'all' ? [] : [{ type: 'RolloutPromoted', data: { rolloutId, by, succeeded: command.succeeded, canary: command.canary, at } }];
    case 'Resume':
      return state.control === 'paused' ? [{ type: 'RolloutResumed', data: { rolloutId, by, failed: command.failed, finished: command.finished, at } }] : [];
    case 'Abort':
      return [{ type: 'RolloutAborted', data: { rolloutId, by, note: command.note, at } }];
    case 'RetryFailed':
      return command.agents === 0 ? [] : [{ type: 'RolloutRetryRequested', data: { rolloutId, retryId: command.retryId, by, agents: command.agents, at } }];
    default:
      return unreachable(command, 'command');
  }
}
