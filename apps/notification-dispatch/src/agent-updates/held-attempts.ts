import { Injectable } from '@nestjs/common';
import type { Tx } from '@herald/event-store';

/** An attempt that came due while a rollout it works for was paused. */
export interface HeldAttempt {
  agentId: string;
  notificationId: string;
  attempt: number;
  rolloutIds: string[];
  correlationId: string | null;
}

/**
 * Paused rollouts hold their attempts, and rollouts in their canary phase those of agents outside
 * the group. Every transaction that records attempts takes the rollout-control lock shared and
 * reads what holds them; pausing, resuming, promoting and aborting take it exclusively. So once a
 * pause has committed, no attempt of that rollout is recorded (those recorded before it may still
 * be published), and a resume or a promotion sees every attempt held before it.
 */
@Injectable()
export class HeldAttempts {
  /**
   * What holds attempts now, read under the shared lock for the caller's transaction: a paused
   * rollout holds every attempt that works for it; a rollout in its canary phase (or awaiting
   * approval) holds those of agents outside its canary group, until it is promoted.
   */
  async holding(tx: Tx, agentIds: readonly string[]): Promise<(agentId: string, rolloutIds: readonly string[]) => boolean> {
    await tx.rows(`SELECT pg_advisory_xact_lock_shared(hashtext('herald:rollout-control'))`);
    const rows = await tx.rows<{ rollout_id: string; state: string; phase: string }>(
      `SELECT rollout_id, state, phase FROM rollout_control WHERE state = 'paused' OR (phase <> 'all' AND state <> 'aborted')`,
    );
    const paused = new Set(rows.filter((r) => r.state === 'paused').map((r) => r.rollout_id));
    const phased = rows.filter((r) => r.phase !== 'all' && r.state !== 'aborted').map((r) => r.rollout_id);
    const inGroup = new Set<string>();
    if (phased.length > 0 && agentIds.length > 0) {
      const members = await tx.rows<{ rollout_id: string; agent_id: string }>(
        'SELECT rollout_id, agent_id FROM rollout_canary WHERE rollout_id = ANY($1::uuid[]) AND agent_id = ANY($2)',
        [phased, agentIds],
      );
      for (const m of members) inGroup.add(`${m.rollout_id}:${m.agent_id}`);
    }
    const inPhase = new Set(phased);
    return (agentId, rolloutIds) => rolloutIds.some((id) => paused.has(id) || (inPhase.has(id) && !inGroup.has(`${id}:${agentId}`)));
  }

  /** Where a rollout stands (running unless it was steered), read under the shared lock. */
  async stateOf(tx: Tx, rolloutId: string): Promise<'running' | 'paused' | 'aborted'> {
    await tx.rows(`SELECT pg_advisory_xact_lock_shared(hashtext('herald:rollout-control'))`);
    const row = await tx.one<{ state: 'running' | 'paused' | 'aborted' }>('SELECT state FROM rollout_control WHERE rollout_id = $1', [rolloutId]);
    return row?.state ?? 'running';
  }

  /** For the commands that change a rollout's state: waits for transactions that read it to end. */
  async lockExclusively(tx: Tx): Promise<void> {
    await tx.rows(`SELECT pg_advisory_xact_lock(hashtext('herald:rollout-control'))`);
  }

  /** Holds attempts (one per agent: a later one replaces it); any place in the R6 waiting line is given up. */
  async hold(tx: Tx, attempts: readonly HeldAttempt[]): Promise<void> {
    if (attempts.length === 0) return;
    await tx.exec(
      `INSERT INTO held_attempts (agent_id, notification_id, attempt, rollout_ids, correlation_id)
       SELECT a, n, t, string_to_array(r, ',')::uuid[], c FROM unnest($1::text[], $2::uuid[], $3::int[], $4::text[], $5::text[]) AS h(a, n, t, r, c)
       ON CONFLICT (agent_id) DO UPDATE SET notification_id = EXCLUDED.notification_id, attempt = EXCLUDED.attempt, rollout_ids = EXCLUDED.rollout_ids,
         correlation_id = EXCLUDED.correlation_id, held_at = now()`,
      [attempts.map((a) => a.agentId), attempts.map((a) => a.notificationId), attempts.map((a) => a.attempt), attempts.map((a) => a.rolloutIds.join(',')), attempts.map((a) => a.correlationId)],
    );
    await tx.exec('DELETE FROM in_flight_waiting WHERE agent_id = ANY($1)', [attempts.map((a) => a.agentId)]);
  }

  /**
   * The attempts the rollout held that nothing holds any more, taken off the list (the caller
   * sends them): none for a paused rollout, nor for a rollout in its canary phase outside its group.
   * Call with the exclusive lock, after the rollout was resumed or promoted.
   */
  async release(tx: Tx, rolloutId: string): Promise<HeldAttempt[]> {
    const rows = await tx.rows<{ agent_id: string; notification_id: string; attempt: number; rollout_ids: string[]; correlation_id: string | null }>(
      `DELETE FROM held_attempts h WHERE rollout_ids @> ARRAY[$1::uuid]
          AND NOT EXISTS (SELECT 1 FROM rollout_control c
                           WHERE c.rollout_id = ANY(h.rollout_ids)
                             AND (c.state = 'paused'
                                  OR (c.phase <> 'all' AND c.state <> 'aborted'
                                      AND NOT EXISTS (SELECT 1 FROM rollout_canary k WHERE k.rollout_id = c.rollout_id AND k.agent_id = h.agent_id))))
        RETURNING agent_id, notification_id, attempt, rollout_ids, correlation_id`,
      [rolloutId],
    );
    return rows
      .map((r) => ({ agentId: r.agent_id, notificationId: r.notification_id, attempt: r.attempt, rolloutIds: r.rollout_ids, correlationId: r.correlation_id }))
      .sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
  }

  /** Held attempts of the rollout's agents go (an abort closed their notifications). */
  async forgetRollout(tx: Tx, rolloutId: string): Promise<void> {
    await tx.exec('DELETE FROM held_attempts WHERE rollout_ids @> ARRAY[$1::uuid]', [rolloutId]);
  }
}
