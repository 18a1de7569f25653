import { Injectable } from '@nestjs/common';
import { ExpectedVersionConflictError, type Tx } from '@herald/event-store';
import { type AgentUpdateState, agentUpdatesStreamId } from './agent-updates.decider';

/** An agent holds a slot while it has an attempt out or is updating: from "notified" to "reported". */
export function holdsSlot(state: AgentUpdateState): boolean {
  return state.open !== null && (state.open.phase === 'awaiting-ack' || state.open.phase === 'updating');
}

/** An attempt that wants a slot; one that gets none waits on the list, in this form. */
export interface WaitingAttempt {
  agentId: string;
  notificationId: string;
  attempt: number;
  correlationId: string | null;
}

/** A woken attempt not taken up within this long (its work message was lost) may be woken again. */
const WOKEN_GRACE_SECONDS = 30;

/**
 * R6: at most maxInFlight agents between "notified" and "reported", across every instance. The
 * slots are rows (1..maxInFlight); granting one marks a free row with the agent, taking free rows
 * with FOR UPDATE SKIP LOCKED, so instances grant side by side and never the same slot twice. A
 * slot is granted in the transaction that records the attempt, and given back by the decision
 * that ends the delivery (a failed attempt, a report, a give-up, a superseded notification).
 *
 * An attempt that finds every slot taken joins a waiting list (one row per agent, in arrival
 * order) instead of polling; wake() hands as many waiting attempts back as there are free slots.
 */
@Injectable()
export class InFlightSlots {
  /**
   * Grants a slot to each of `wanted` that holds none yet, in order, as long as slots are free;
   * the others join the waiting list. Returns the agents that hold a slot for their attempt now.
   */
  async grant(tx: Tx, wanted: readonly WaitingAttempt[], max: number): Promise<Set<string>> {
    if (wanted.length === 0) return new Set();
    const byId = [...wanted].sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
    const held = await tx.rows<{ agent_id: string }>(
      `UPDATE in_flight s SET notification_id = w.notification_id
         FROM (SELECT s.slot, w.notification_id FROM in_flight s JOIN unnest($1::text[], $2::uuid[]) AS w(agent_id, notification_id) USING (agent_id)
                ORDER BY s.agent_id FOR UPDATE OF s) w
        WHERE s.slot = w.slot RETURNING s.agent_id`,
      [byId.map((w) => w.agentId), byId.map((w) => w.notificationId)],
    );
    const granted = new Set(held.map((r) => r.agent_id));
    const needing = wanted.filter((w) => !granted.has(w.agentId));
    if (needing.length > 0) {
      let free = await this.freeSlots(tx, needing.length, max);
      if (free.length < needing.length) {
        // Maybe the rows up to `max` do not all exist yet (a raised maxInFlight, a new schema). The
        // look after growing is needed even when another transaction grew them meanwhile.
        await this.grow(tx, max);
        free = await this.freeSlots(tx, needing.length, max);
      }
      const taking = needing.slice(0, free.length);
      try {
        await tx.exec(
          `UPDATE in_flight s SET agent_id = g.agent_id, notification_id = g.notification_id, acquired_at = now()
             FROM unnest($1::int[], $2::text[], $3::uuid[]) AS g(slot, agent_id, notification_id) WHERE s.slot = g.slot`,
          [free.slice(0, taking.length), taking.map((w) => w.agentId), taking.map((w) => w.notificationId)],
        );
      } catch (err) {
        throw slotTakenMeanwhile(err) ?? err;
      }
      for (const w of taking) granted.add(w.agentId);
      const waiting = needing.slice(taking.length);
      if (waiting.length > 0) {
        // Keeps its place in the line if it was already waiting (and was woken too early).
        await tx.exec(
          `INSERT INTO in_flight_waiting (agent_id, notification_id, attempt, correlation_id)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::int[], $4::text[])
           ON CONFLICT (agent_id) DO UPDATE SET notification_id = EXCLUDED.notification_id, attempt = EXCLUDED.attempt,
             correlation_id = EXCLUDED.correlation_id, woken_at = NULL`,
          [waiting.map((w) => w.agentId), waiting.map((w) => w.notificationId), waiting.map((w) => w.attempt), waiting.map((w) => w.correlationId)],
        );
      }
    }
    if (granted.size > 0) await tx.exec('DELETE FROM in_flight_waiting WHERE agent_id = ANY($1)', [[...granted]]);
    return granted;
  }

  /**
   * Keeps the slot table in step with agents' states after decisions: a slot goes when the
   * delivery ended, and a waiting attempt goes when its notification is no longer the open one.
   */
  async sync(tx: Tx, states: ReadonlyArray<{ agentId: string; state: AgentUpdateState }>): Promise<void> {
    if (states.length === 0) return;
    const ended = states.filter((s) => !holdsSlot(s.state)).map((s) => s.agentId);
    if (ended.length > 0) await tx.exec('UPDATE in_flight SET agent_id = NULL, notification_id = NULL, acquired_at = NULL WHERE agent_id = ANY($1)', [ended]);
    await tx.exec(
      `DELETE FROM in_flight_waiting w USING unnest($1::text[], $2::uuid[]) AS s(agent_id, notification_id)
        WHERE w.agent_id = s.agent_id AND w.notification_id IS DISTINCT FROM s.notification_id`,
      [states.map((s) => s.agentId), states.map((s) => s.state.open?.notificationId ?? null)],
    );
  }

  /** Drops a waiting attempt that turned out stale (superseded or already sent). */
  async forget(tx: Tx, agentId: string, notificationId: string): Promise<void> {
    await tx.exec('DELETE FROM in_flight_waiting WHERE agent_id = $1 AND notification_id = $2', [agentId, notificationId]);
  }

  /**
   * Marks the longest-waiting attempts woken, as many as there are free slots (less those woken a
   * moment ago and not yet taken up), and returns them for the caller to send in its transaction.
   * Instances wake side by side (SKIP LOCKED); one that wakes too many sends them back to the line.
   */
  async wake(tx: Tx, max: number): Promise<WaitingAttempt[]> {
    // The common case, nobody waiting, is one cheap look (every instance asks every wave).
    if (!(await tx.one('SELECT 1 FROM in_flight_waiting LIMIT 1'))) return [];
    await this.grow(tx, max);
    const row = await tx.one<{ free: string; pending: string }>(
      `SELECT (SELECT count(*) FROM in_flight WHERE agent_id IS NULL AND slot <= $1) AS free,
              (SELECT count(*) FROM in_flight_waiting WHERE woken_at > now() - make_interval(secs => $2)) AS pending`,
      [max, WOKEN_GRACE_SECONDS],
    );
    const free = Number(row?.free ?? 0) - Number(row?.pending ?? 0);
    if (free <= 0) return [];
    const woken = await tx.rows<{ agent_id: string; notification_id: string; attempt: number; correlation_id: string | null }>(
      `UPDATE in_flight_waiting SET woken_at = now()
        WHERE agent_id IN (SELECT agent_id FROM in_flight_waiting
                            WHERE woken_at IS NULL OR woken_at <= now() - make_interval(secs => $2)
                            ORDER BY queued_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING agent_id, notification_id, attempt, correlation_id`,
      [free, WOKEN_GRACE_SECONDS],
    );
    return woken.map((w) => ({ agentId: w.agent_id, notificationId: w.notification_id, attempt: w.attempt, correlationId: w.correlation_id }));
  }

  async inUse(tx: Tx): Promise<number> {
    return Number((await tx.one<{ n: string }>('SELECT count(*) AS n FROM in_flight WHERE agent_id IS NOT NULL'))?.n ?? 0);
  }

  async waiting(tx: Tx): Promise<number> {
    return Number((await tx.one<{ n: string }>('SELECT count(*) AS n FROM in_flight_waiting'))?.n ?? 0);
  }

  /** Frees slots held longer than any delivery can take (a crash between taking a slot and sending). */
  async reap(tx: Tx, olderThanSeconds: number): Promise<number> {
    return tx.exec(
      `UPDATE in_flight SET agent_id = NULL, notification_id = NULL, acquired_at = NULL
        WHERE agent_id IS NOT NULL AND acquired_at < now() - make_interval(secs => $1)`,
      [olderThanSeconds],
    );
  }

  /** Up to `n` free slots within the bound, locked for this transaction; others' locked ones skipped. */
  private async freeSlots(tx: Tx, n: number, max: number): Promise<number[]> {
    const rows = await tx.rows<{ slot: number }>(
      'SELECT slot FROM in_flight WHERE agent_id IS NULL AND slot <= $1 ORDER BY slot LIMIT $2 FOR UPDATE SKIP LOCKED',
      [max, n],
    );
    return rows.map((r) => r.slot);
  }

  /** Adds the slot rows up to `max` (a raised maxInFlight). */
  private async grow(tx: Tx, max: number): Promise<void> {
    await tx.exec(`INSERT INTO in_flight (slot) SELECT generate_series(coalesce((SELECT max(slot) FROM in_flight), 0) + 1, $1) ON CONFLICT DO NOTHING`, [max]);
  }
}

/**
 * Another transaction granted one of these agents a slot after this one read the agent's state:
 * it recorded that agent's attempt, so this transaction decided on a stale state. That is the
 * optimistic-concurrency conflict the command handler retries from a fresh read (where the agent
 * either holds the slot already or has no attempt due), not a failure of the whole batch.
 */
function slotTakenMeanwhile(err: unknown): ExpectedVersionConflictError | null {
  const e = err as { code?: string; constraint?: string; detail?: string };
  if (e.code !== '23505' || e.constraint !== 'in_flight_agent_id_key') return null;
  const agentId = /\(agent_id\)=\((.*)\)/.exec(e.detail ?? '')?.[1] ?? 'unknown';
  return new ExpectedVersionConflictError(agentUpdatesStreamId(agentId), 'any');
}
