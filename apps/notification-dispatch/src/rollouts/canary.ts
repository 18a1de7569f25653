import { createHash } from 'node:crypto';

/** How a rollout's canary group is chosen and when it passes (from the settings when it started). */
export interface CanaryPolicy {
  /** The agents carrying every one of these labels; when empty, `percent` of the targets. */
  labels: Record<string, string>;
  percent: number;
  successPercent: number;
  approval: 'automatic' | 'manual';
}

/** Phases are on when a label selector or a percentage is set. */
export const canaryWanted = (p: Pick<CanaryPolicy, 'labels' | 'percent'>): boolean => Object.keys(p.labels).length > 0 || p.percent > 0;

/** A stable draw in [0, 1) per rollout and agent: the same agents every time the plan is made. */
function draw(rolloutId: string, agentId: string): number {
  return createHash('sha256').update(`${rolloutId}:${agentId}`).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * The canary group among a rollout's targets: those carrying every label of the selector, or a
 * share of them drawn per rollout (at least one). Null when phases would change nothing (no
 * selector, or every target is in the group). An empty group (a selector no target matches) is a
 * group: the rollout then waits for an admin, who knows why nobody matched.
 */
export function pickCanary(rolloutId: string, targets: readonly string[], agents: ReadonlyMap<string, { labels?: Record<string, string> }>, policy: CanaryPolicy): string[] | null {
  if (!canaryWanted(policy) || targets.length === 0) return null;
  let group: string[];
  if (Object.keys(policy.labels).length > 0) {
    group = targets.filter((id) => {
      const labels = agents.get(id)?.labels ?? {};
      return Object.entries(policy.labels).every(([k, v]) => labels[k] === v);
    });
  } else {
    const ranked = targets.map((id) => ({ id, at: draw(rolloutId, id) }));
    group = ranked.filter((r) => r.at * 100 < policy.percent).map((r) => r.id);
    if (group.length === 0) group = [ranked.reduce((a, b) => (b.at < a.at ? b : a)).id];
  }
  return group.length === targets.length ? null : group;
}

/** The canary passed: enough of its agents are updated (or were found up to date). */
export const canaryPassed = (succeeded: number, agents: number, successPercent: number): boolean => agents > 0 && succeeded * 100 >= successPercent * agents;
