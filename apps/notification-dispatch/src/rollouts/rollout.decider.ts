import type { ComponentTarget, InstalledComponent} from '@herald/contracts';
import { compareVersions, outdatedComponents } from '@herald/contracts';
import type { Decider, Event } from '@herald/domain';
import type { NotificationPolicy, SkipReason } from '../agent-updates/agent-updates.events';

/*
 * One stream per rollout ("rollout-<id>"): a new component version arrived and rule R1 decided
 * whom to notify. What then happens to each agent is in that agent's stream.
 */

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
    else plan.targets.push({ agentId: agent.agentId, components });
  }
  return plan;
}

export const rolloutDecider: Decider<{ started: boolean }, RolloutCommand, RolloutStarted> = {
  initialState: () => ({ started: false }),
  evolve: () => ({ started: true }),
  decide(command, state) {
    if (state.started) return [];
    const { plan } = command;
    return [
      {
        type: 'RolloutStarted',
        data: {
          rolloutId: command.rolloutId,
          component: command.component,
          notifyOnDownload: command.notifyOnDownload,
          includeIndependentAndOffline: command.includeIndependentAndOffline,
          policy: command.policy,
          targets: command.notifyOnDownload ? plan.targets.map((t) => t.agentId) : [],
          skipped: command.notifyOnDownload ? plan.skipped : [],
          upToDate: plan.upToDate,
          at: command.now.toISOString(),
        },
      },
    ];
  },
};
