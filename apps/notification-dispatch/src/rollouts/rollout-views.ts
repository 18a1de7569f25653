import { Injectable } from '@nestjs/common';
import { Database } from '@herald/event-store';
import type { RolloutCause } from './rollout.decider';

export interface RolloutCounts {
  targeted: number;
  skipped: { offline: number; independent: number; 'no-privilege': number };
  upToDate: number;
  notified: number;
  acknowledged: number;
  /** Targeted agents by how they ended: these five and inProgress add up to targeted. */
  updated: number;
  /** The update failed, and so did every retry. */
  failed: number;
  /** R4: no attempt was acknowledged. */
  gaveUp: number;
  /** The agent had the version before its update went out (it caught up another way). */
  alreadyUpToDate: number;
  /** Replaced on reconnect (R2) by a notification that no longer works for this rollout. */
  superseded: number;
  /** An abort closed its notification, or left it un-notified. */
  aborted: number;
  /** Targeted agents with no outcome yet. */
  inProgress: number;
  /** Targeted agents whose update failed at least once and was retried. */
  retried: number;
  scanRequested: number;
  scanned: number;
  /** Skipped agents (offline, independent) that R2 later brought up to date. */
  updatedAfterSkip: number;
  /** Agents that came into the rollout on reconnect (R2), not through its plan; included above. */
  onReconnect: { targeted: number; updated: number; skipped: number };
}

export interface RolloutView {
  rolloutId: string;
  /** `pinned`: the rollout of a pin, which brings agents on any other version to exactly this one. */
  component: { type: string; version: string; pinned: boolean };
  /** What started it: null, a new version (R1); else an admin's pin (rollback) or unpin. */
  cause: RolloutCause | null;
  startedAt: Date;
  notifyOnDownload: boolean;
  includeIndependentAndOffline: boolean;
  policy: unknown;
  correlationId: string | null;
  counts: RolloutCounts;
  /** Every targeted agent has an outcome. */
  complete: boolean;
  /** When Herald first saw it complete (RolloutCompleted, which webhooks are told); null until then. */
  completedAt: Date | null;
  control: {
    state: 'running' | 'paused' | 'aborted';
    heldAttempts: number;
    phase: 'canary' | 'awaiting-approval' | 'all';
    canary: { agents: number; succeeded: number; finished: number; successPercent: number; approval: 'automatic' | 'manual' } | null;
  };
}

const PROGRESS_SERIES = ['sent', 'acknowledged', 'updated', 'failed'] as const;
type ProgressSeries = (typeof PROGRESS_SERIES)[number];

export interface RolloutProgressView {
  rolloutId: string;
  /** Its targeted agents, the most any series can reach. */
  targeted: number;
  from: Date;
  /** When it completed, or now while it runs. */
  to: Date;
  /** Cumulative counts of its targeted agents at evenly spaced moments from `from` to `to`. */
  points: Array<{ at: Date } & Record<ProgressSeries, number>>;
}

export interface RolloutDecisionView {
  action: 'paused' | 'resumed' | 'aborted' | 'retried-failed';
  by: string;
  reason: string | null;
  details: Record<string, unknown>;
  at: Date;
}

const COUNTS = `
  count(*) FILTER (WHERE ra.targeted) AS targeted,
  count(*) FILTER (WHERE ra.skipped_reason = 'offline') AS skipped_offline,
  count(*) FILTER (WHERE ra.skipped_reason = 'independent') AS skipped_independent,
  count(*) FILTER (WHERE ra.skipped_reason = 'no-privilege') AS skipped_no_privilege,
  count(*) FILTER (WHERE ra.targeted AND ra.attempts > ra.returned_attempts) AS notified,
  count(*) FILTER (WHERE ra.targeted AND ra.acknowledged) AS acknowledged,
  count(*) FILTER (WHERE ra.targeted AND ra.outcome = 'updated') AS updated,
  count(*) FILTER (WHERE ra.targeted AND ra.outcome = 'failed') AS failed,
  count(*) FILTER (WHERE ra.targeted AND ra.outcome = 'gave-up') AS gave_up,
  count(*) FILTER (WHERE ra.targeted AND ra.outcome = 'already-up-to-date') AS already_up_to_date,
  count(*) FILTER (WHERE ra.targeted AND ra.outcome = 'superseded') AS superseded,
  count(*) FILTER (WHERE ra.targeted AND ra.outcome = 'aborted') AS aborted,
  count(*) FILTER (WHERE ra.targeted AND ra.outcome IS NULL) AS in_progress,
  count(*) FILTER (WHERE ra.targeted AND ra.update_retries > 0) AS retried,
  count(*) FILTER (WHERE ra.scan_requested) AS scan_requested,
  count(*) FILTER (WHERE ra.scanned) AS scanned,
  count(*) FILTER (WHERE ra.skipped_reason IS NOT NULL AND ra.outcome = 'updated') AS updated_after_skip,
  count(*) FILTER (WHERE ra.via = 'reconnect' AND ra.targeted) AS reconnect_targeted,
  count(*) FILTER (WHERE ra.via = 'reconnect' AND ra.targeted AND ra.outcome = 'updated') AS reconnect_updated,
  count(*) FILTER (WHERE ra.via = 'reconnect' AND ra.skipped_reason IS NOT NULL) AS reconnect_skipped,
  count(*) FILTER (WHERE k.agent_id IS NOT NULL) AS canary_agents,
  count(*) FILTER (WHERE k.agent_id IS NOT NULL AND ra.outcome IN ('updated', 'already-up-to-date')) AS canary_succeeded,
  count(*) FILTER (WHERE k.agent_id IS NOT NULL AND ra.outcome IS NOT NULL) AS canary_finished`;

/** Where the rollout stands now (written with each decision, not by the read model), and its held attempts. */
const CONTROL = `
  (SELECT state FROM rollout_control c WHERE c.rollout_id = r.rollout_id) AS control_state,
  (SELECT phase FROM rollout_control c WHERE c.rollout_id = r.rollout_id) AS control_phase,
  (SELECT canary_success_percent FROM rollout_control c WHERE c.rollout_id = r.rollout_id) AS canary_success_percent,
  (SELECT canary_approval FROM rollout_control c WHERE c.rollout_id = r.rollout_id) AS canary_approval,
  (SELECT count(*) FROM held_attempts h WHERE h.rollout_ids @> ARRAY[r.rollout_id]) AS held_attempts`;

interface Row {
  rollout_id: string;
  component_type: string;
  version: string;
  pinned: boolean;
  cause: RolloutCause | null;
  completed_at: Date | null;
  started_at: Date;
  notify_on_download: boolean;
  include_independent_and_offline: boolean;
  policy: unknown;
  correlation_id: string | null;
  up_to_date: number;
  [count: string]: unknown;
}

const n = (v: unknown) => Number(v ?? 0);

function toView(r: Row): RolloutView {
  const counts: RolloutCounts = {
    targeted: n(r.targeted),
    skipped: { offline: n(r.skipped_offline), independent: n(r.skipped_independent), 'no-privilege': n(r.skipped_no_privilege) },
    upToDate: n(r.up_to_date),
    notified: n(r.notified),
    acknowledged: n(r.acknowledged),
    updated: n(r.updated),
    failed: n(r.failed),
    gaveUp: n(r.gave_up),
    alreadyUpToDate: n(r.already_up_to_date),
    superseded: n(r.superseded),
    aborted: n(r.aborted),
    inProgress: n(r.in_progress),
    retried: n(r.retried),
    scanRequested: n(r.scan_requested),
    scanned: n(r.scanned),
    updatedAfterSkip: n(r.updated_after_skip),
    onReconnect: { targeted: n(r.reconnect_targeted), updated: n(r.reconnect_updated), skipped: n(r.reconnect_skipped) },
  };
  return {
    rolloutId: r.rollout_id,
    component: { type: r.component_type, version: r.version, pinned: r.pinned },
    cause: r.cause,
    startedAt: r.started_at,
    notifyOnDownload: r.notify_on_download,
    includeIndependentAndOffline: r.include_independent_and_offline,
    policy: r.policy,
    correlationId: r.correlation_id,
    counts,
    complete: counts.inProgress === 0,
    completedAt: r.completed_at,
    control: {
      state: (r.control_state as RolloutView['control']['state'] | null) ?? 'running',
      heldAttempts: n(r.held_attempts),
      phase: (r.control_phase as RolloutView['control']['phase'] | null) ?? 'all',
      canary:
        r.canary_approval == null
          ? null
          : {
              agents: n(r.canary_agents),
              succeeded: n(r.canary_succeeded),
              finished: n(r.canary_finished),
              successPercent: n(r.canary_success_percent),
              approval: r.canary_approval as 'automatic' | 'manual',
            },
    },
  };
}

/** Queries over the rollout-progress read model. */
@Injectable()
export class RolloutViews {
  constructor(private readonly db: Database) {}

  async list(limit: number, offset: number): Promise<{ total: number; rollouts: RolloutView[] }> {
    // The page and the total from one snapshot, so they agree.
    return this.db.snapshot(async (sql) => {
      const rows = await sql.rows<Row>(
        `SELECT r.*, ${COUNTS}, ${CONTROL} FROM rollouts r LEFT JOIN rollout_agents ra USING (rollout_id) LEFT JOIN rollout_canary k ON k.rollout_id = ra.rollout_id AND k.agent_id = ra.agent_id
          GROUP BY r.rollout_id ORDER BY r.started_at DESC LIMIT $1 OFFSET $2`,
        [limit, offset],
      );
      const total = await sql.one<{ n: string }>('SELECT count(*) AS n FROM rollouts');
      return { total: Number(total?.n ?? 0), rollouts: rows.map(toView) };
    });
  }

  async get(rolloutId: string): Promise<RolloutView | undefined> {
    const row = await this.db.session((sql) =>
      sql.one<Row>(`SELECT r.*, ${COUNTS}, ${CONTROL} FROM rollouts r LEFT JOIN rollout_agents ra USING (rollout_id) LEFT JOIN rollout_canary k ON k.rollout_id = ra.rollout_id AND k.agent_id = ra.agent_id WHERE r.rollout_id = $1 GROUP BY r.rollout_id`, [rolloutId]),
    );
    return row && toView(row);
  }

  async agents(rolloutId: string, limit: number, offset: number) {
    return this.db.snapshot(async (sql) => ({
      total: Number((await sql.one<{ n: string }>('SELECT count(*) AS n FROM rollout_agents WHERE rollout_id = $1', [rolloutId]))?.n ?? 0),
      agents: await sql.rows(
        `SELECT agent_id AS "agentId", via, targeted, skipped_reason AS "skippedReason", attempts,
                returned_attempts AS "returnedAttempts", timed_out_attempts AS "timedOutAttempts",
                attempts > returned_attempts AS notified, acknowledged, outcome, update_retries AS "updateRetries",
                outcome IS NOT DISTINCT FROM 'updated' AS updated, outcome IS NOT DISTINCT FROM 'failed' AS failed, outcome IS NOT DISTINCT FROM 'gave-up' AS "gaveUp",
                scan_requested AS "scanRequested", scanned,
                last_change_at AS "lastChangeAt"
           FROM rollout_agents WHERE rollout_id = $1 ORDER BY agent_id COLLATE herald_natural LIMIT $2 OFFSET $3`,
        [rolloutId, limit, offset],
      ),
    }));
  }

  /**
   * The rollout's progress over time: at `points` evenly spaced moments from its start to its
   * completion (or now, while it runs), how many of its agents had been sent a notification,
   * had acknowledged one, were updated, and had failed or been given up on. One pass over the
   * rollout's rows, counted into buckets by the database.
   */
  async progress(rolloutId: string, points: number): Promise<RolloutProgressView | undefined> {
    return this.db.snapshot(async (sql) => {
      const span = await sql.one<{ from: Date; to: Date; targeted: string }>(
        `SELECT r.started_at AS "from", greatest(r.started_at, coalesce(r.completed_at, now())) AS "to",
                (SELECT count(*) FROM rollout_agents ra WHERE ra.rollout_id = r.rollout_id AND ra.targeted) AS targeted
           FROM rollouts r WHERE r.rollout_id = $1`,
        [rolloutId],
      );
      if (!span) return undefined;
      const from = span.from.getTime();
      const stepMs = (span.to.getTime() - from) / (points - 1);
      // Point i (at from + i * step) counts what happened at or before it: bucket ceil((t - from) / step).
      const buckets = await sql.rows<{ series: ProgressSeries; bucket: number; n: string }>(
        `WITH t AS (
           SELECT 'sent' AS series, sent_at AS at FROM rollout_agents WHERE rollout_id = $1 AND targeted AND sent_at IS NOT NULL
           UNION ALL SELECT 'acknowledged', acknowledged_at FROM rollout_agents WHERE rollout_id = $1 AND targeted AND acknowledged_at IS NOT NULL
           UNION ALL SELECT CASE outcome WHEN 'updated' THEN 'updated' ELSE 'failed' END, outcome_at
                       FROM rollout_agents WHERE rollout_id = $1 AND targeted AND outcome IN ('updated', 'failed', 'gave-up') AND outcome_at IS NOT NULL)
         SELECT series, greatest(0, ceil(extract(epoch FROM at - $2::timestamptz) * 1000 / $3))::int AS bucket, count(*) AS n
           FROM t GROUP BY 1, 2`,
        [rolloutId, span.from, Math.max(stepMs, 1)],
      );
      const series: Record<ProgressSeries, number[]> = { sent: [], acknowledged: [], updated: [], failed: [] };
      for (const name of PROGRESS_SERIES) series[name] = Array<number>(points).fill(0);
      for (const b of buckets) if (b.bucket < points) series[b.series][b.bucket]! += Number(b.n);
      for (const name of PROGRESS_SERIES) for (let i = 1; i < points; i++) series[name][i]! += series[name][i - 1]!;
      return {
        rolloutId,
        targeted: Number(span.targeted),
        from: span.from,
        to: span.to,
        points: [...Array(points).keys()].map((i) => ({
          at: new Date(from + i * stepMs),
          sent: series.sent[i]!,
          acknowledged: series.acknowledged[i]!,
          updated: series.updated[i]!,
          failed: series.failed[i]!,
        })),
      };
    });
  }

  /** Who paused, resumed, aborted or retried the rollout, oldest first. */
  async decisions(rolloutId: string): Promise<RolloutDecisionView[]> {
    return this.db.session((sql) =>
      sql.rows<RolloutDecisionView>('SELECT action, by, reason, details, at FROM rollout_decisions WHERE rollout_id = $1 ORDER BY position', [rolloutId]),
    );
  }
}
