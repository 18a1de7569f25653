import { chunks } from '@herald/common';
import type { ComponentTarget, InstalledComponent} from '@herald/contracts';
import { compareVersions, outdatedComponents } from '@herald/contracts';
import type { Decider, Event } from '@herald/domain';
import type { NotificationPolicy, SkipReason } from '../agent-updates/agent-updates.events';

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
    component: ComponentTarget;
    /** False when R1 was switched off: the version is recorded, nobody is notified. */
    notifyOnDownload: boolean;
    includeIndependentAndOffline: boolean;
    policy: NotificationPolicy;
    targeted: number;
    skipped: Record<SkipReason, number>;
    upToDate: number;
    at: string;
  }
>;

/** Agents the rollout notifies (part of the plan). */
export type AgentsTargeted = Event<'AgentsTargeted', { rolloutId: string; agentIds: string[]; at: string }>;

/** Agents the rollout does not notify, and why (part of the plan; R8). */
export type AgentsSkipped = Event<'AgentsSkipped', { rolloutId: string; reason: SkipReason; agentIds: string[]; at: string }>;

export type RolloutEvent = RolloutStarted | RolloutPlanned | AgentsTargeted | AgentsSkipped;

export type RolloutCommand = {
  type: 'StartRollout';
  rolloutId: string;
  component: ComponentTarget;
  notifyOnDownload: boolean;
  includeIndependentAndOffline: boolean;
  policy: NotificationPolicy;
  plan: RolloutPlan;
  now: Date;
};

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
  catalog: readonly ComponentTarget[],
  announced: Pick<ComponentTarget, 'type' | 'version'>,
  includeIndependentAndOffline: boolean,
): RolloutPlan {
  const plan: RolloutPlan = { targets: [], skipped: [], upToDate: 0 };
  // R1a's offline and Independent agents come after the reachable ones, so they never hold them up.
  const later: RolloutPlan['targets'] = [];
  for (const agent of agents) {
    const have = agent.components.find((c) => c.type === announced.type);
    if (!have) continue; // not a component this agent uses
    if (compareVersions(have.version, announced.version) >= 0) {
      plan.upToDate++;
      continue;
    }
    const components = outdatedComponents(agent.components, catalog);
    let reason: SkipReason | null = null;
    if (!agent.online) reason = 'offline';
    else if (agent.independentMode) reason = agent.independentPrivilege ? 'independent' : 'no-privilege';
    if (reason && !includeIndependentAndOffline) plan.skipped.push({ agentId: agent.agentId, reason });
    else (reason ? later : plan.targets).push({ agentId: agent.agentId, components });
  }
  plan.targets.push(...later);
  return plan;
}


export const rolloutDecider: Decider<{ started: boolean }, RolloutCommand, RolloutEvent> = {
  initialState: () => ({ started: false }),
  evolve: () => ({ started: true }),
  decide(command, state) {
    if (state.started) return [];
    const { plan, rolloutId } = command;
    const at = command.now.toISOString();
    const notify = command.notifyOnDownload;
    const skippedBy = (reason: SkipReason) => (notify ? plan.skipped.filter((s) => s.reason === reason).map((s) => s.agentId) : []);
    const skipped = { offline: skippedBy('offline'), independent: skippedBy('independent'), 'no-privilege': skippedBy('no-privilege') };
    const targets = notify ? plan.targets.map((t) => t.agentId) : [];
    return [
      {
        type: 'RolloutPlanned',
        data: {
          rolloutId,
          component: command.component,
          notifyOnDownload: notify,
          includeIndependentAndOffline: command.includeIndependentAndOffline,
          policy: command.policy,
          targeted: targets.length,
          skipped: { offline: skipped.offline.length, independent: skipped.independent.length, 'no-privilege': skipped['no-privilege'].length },
          upToDate: plan.upToDate,
          at,
        },
      },
      ...chunks(targets, FACT_SIZE).map((agentIds): RolloutEvent => ({ type: 'AgentsTargeted', data: { rolloutId, agentIds, at } })),
      ...(['offline', 'independent', 'no-privilege'] as const).flatMap((reason) =>
        chunks(skipped[reason], FACT_SIZE).map((agentIds): RolloutEvent => ({ type: 'AgentsSkipped', data: { rolloutId, reason, agentIds, at } })),
      ),
    ];
  },
};
