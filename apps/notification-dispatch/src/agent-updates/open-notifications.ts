import { Injectable } from '@nestjs/common';
import type { Tx } from '@herald/event-store';
import type { AgentUpdateState, OpenNotification } from './agent-updates.decider';

/** The rollouts an open notification works for, each once (R2 opens some with none of its own). */
export const rolloutsOf = (open: OpenNotification): string[] => [...new Set(open.rolloutIds.filter((id): id is string => id !== null))];

/** A deadline that passed: an attempt not acknowledged, or an update not reported, in time. */
export interface PassedDeadline {
  kind: 'ack' | 'report';
  agentId: string;
  notificationId: string;
  attempt: number;
}

/**
 * Every agent's open notification with its deadlines, kept in step with the agent's state in the
 * transaction of each decision (like the R6 slots). One query finds the deadlines that passed.
 */
@Injectable()
export class OpenNotifications {
  async sync(tx: Tx, states: ReadonlyArray<{ agentId: string; state: AgentUpdateState }>): Promise<void> {
    const open = states.filter((s) => s.state.open !== null);
    const closed = states.filter((s) => s.state.open === null).map((s) => s.agentId);
    if (closed.length > 0) await tx.exec('DELETE FROM open_notifications WHERE agent_id = ANY($1)', [closed]);
    if (open.length === 0) return;
    const col = <T>(f: (o: NonNullable<AgentUpdateState['open']>) => T) => open.map((s) => f(s.state.open!));
    await tx.exec(
      `INSERT INTO open_notifications (agent_id, notification_id, phase, attempt, ack_deadline_at, report_deadline_at, rollout_ids)
       SELECT a, n, p, t, ad, rd, string_to_array(r, ',')::uuid[]
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::int[], $5::timestamptz[], $6::timestamptz[], $7::text[]) AS u(a, n, p, t, ad, rd, r)
       ON CONFLICT (agent_id) DO UPDATE SET notification_id = EXCLUDED.notification_id, phase = EXCLUDED.phase, attempt = EXCLUDED.attempt,
         ack_deadline_at = EXCLUDED.ack_deadline_at, report_deadline_at = EXCLUDED.report_deadline_at, rollout_ids = EXCLUDED.rollout_ids,
         phase_since = CASE WHEN open_notifications.phase = EXCLUDED.phase AND open_notifications.notification_id = EXCLUDED.notification_id
                             AND open_notifications.attempt = EXCLUDED.attempt THEN open_notifications.phase_since ELSE now() END`,
      [
        open.map((s) => s.agentId),
        col((o) => o.notificationId),
        col((o) => o.phase),
        // The attempt a deadline is about: the one sent, or, while updating, the one acknowledged.
        col((o) => (o.phase === 'updating' ? (o.acknowledgedAttempt ?? o.attempt) : o.attempt)),
        col((o) => (o.phase === 'awaiting-ack' ? o.ackDeadlineAt : null)),
        col((o) => (o.phase === 'updating' ? o.reportDeadlineAt : null)),
        // The rollouts it works for (an abort closes it), as one list per row.
        col((o) => rolloutsOf(o).join(',')),
      ],
    );
  }

  /**
   * Notifications that have had an attempt to send for longer than `olderThanSeconds` and no way
   * forward: no slot (they would be awaiting an acknowledgement), not on the R6 waiting list, not
   * held by a paused rollout, so nothing would ever send it. A safety net: each one found means a
   * path lost its follow-up (it is logged and counted); locked for the caller's transaction.
   */
  async orphanedSends(tx: Tx, olderThanSeconds: number, limit: number): Promise<Array<{ agentId: string; notificationId: string; attempt: number }>> {
    const rows = await tx.rows<{ agent_id: string; notification_id: string; attempt: number }>(
      `SELECT o.agent_id, o.notification_id, o.attempt + 1 AS attempt FROM open_notifications o
        WHERE o.phase = 'sending' AND o.phase_since < now() - make_interval(secs => $1)
          AND NOT EXISTS (SELECT 1 FROM in_flight_waiting w WHERE w.agent_id = o.agent_id)
          AND NOT EXISTS (SELECT 1 FROM held_attempts h WHERE h.agent_id = o.agent_id)
        ORDER BY o.phase_since LIMIT $2 FOR UPDATE OF o SKIP LOCKED`,
      [olderThanSeconds, limit],
    );
    return rows.map((r) => ({ agentId: r.agent_id, notificationId: r.notification_id, attempt: r.attempt }));
  }

  /** The agents whose open notification works for the rollout (those an abort closes). */
  async ofRollout(tx: Tx, rolloutId: string): Promise<string[]> {
    const rows = await tx.rows<{ agent_id: string }>('SELECT agent_id FROM open_notifications WHERE rollout_ids @> ARRAY[$1::uuid] ORDER BY agent_id', [rolloutId]);
    return rows.map((r) => r.agent_id);
  }

  /**
   * Up to `limit` deadlines that passed, oldest first, locked for the caller's transaction;
   * another instance sweeping at the same time skips them.
   */
  async passed(tx: Tx, limit: number): Promise<PassedDeadline[]> {
    const rows = await tx.rows<{ kind: 'ack' | 'report'; agent_id: string; notification_id: string; attempt: number }>(
      `SELECT CASE WHEN phase = 'awaiting-ack' THEN 'ack' ELSE 'report' END AS kind, agent_id, notification_id, attempt
         FROM open_notifications
        WHERE (phase = 'awaiting-ack' AND ack_deadline_at <= now()) OR (phase = 'updating' AND report_deadline_at <= now())
        ORDER BY coalesce(ack_deadline_at, report_deadline_at)
        LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    return rows.map((r) => ({ kind: r.kind, agentId: r.agent_id, notificationId: r.notification_id, attempt: r.attempt }));
  }
}
