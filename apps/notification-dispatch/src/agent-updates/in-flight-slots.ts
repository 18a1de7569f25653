import { Injectable } from '@nestjs/common';
import type { Tx } from '@herald/event-store';
import type { AgentUpdateState } from './agent-updates.decider';

/** An agent holds a slot while it has an attempt out or is updating: from "notified" to "reported". */
export function holdsSlot(state: AgentUpdateState): boolean {
  return state.open !== null && (state.open.phase === 'awaiting-ack' || state.open.phase === 'updating');
}

/** A waiting attempt handed back to the work queue because a slot may be free. */
export interface WokenAttempt {
  agentId: string;
  notificationId: string;
  attempt: number;
  correlationId: string | null;
}

/** A woken attempt not taken up within this long (its work message was lost) may be woken again. */
const WOKEN_GRACE_SECONDS = 30;

/**
 * R6: at most maxInFlight agents between "notified" and "reported", across every instance
 * (the rows are in PostgreSQL; acquisitions are serialised by an advisory transaction lock).
 * A slot is taken just before an attempt is published and given back by the decision that ends
 * the delivery: a failed attempt, a report, a give-up, a superseded notification.
 *
 * An attempt that finds every slot taken joins a waiting list (one row per agent, in arrival
 * order) instead of polling; wake() hands as many waiting attempts back to the work queue as
 * there are free slots. So a rollout to a fleet far larger than the bound costs a few queries
 * per wave, not a retry per waiting agent.
 */
@Injectable()
export class InFlightSlots {
  private lock(tx: Tx): Promise<unknown> {
    return tx.rows(`SELECT pg_advisory_xact_lock(hashtext('herald:in-flight'))`);
  }

  /**
   * True when the agent holds (or now took) a slot for this notification. False when every slot
   * is taken: the attempt is then on the waiting list.
   */
  async tryAcquire(tx: Tx, attempt: WokenAttempt, max: number): Promise<boolean> {
    const { agentId, notificationId } = attempt;
    await this.lock(tx);
    const held = await tx.one<{ notification_id: string }>('SELECT notification_id FROM in_flight WHERE agent_id = $1', [agentId]);
    if (held) {
      if (held.notification_id !== notificationId) {
        await tx.exec('UPDATE in_flight SET notification_id = $2, acquired_at = now() WHERE agent_id = $1', [agentId, notificationId]);
      }
      await tx.exec('DELETE FROM in_flight_waiting WHERE agent_id = $1', [agentId]);
      return true;
    }
    const used = await tx.one<{ n: string }>('SELECT count(*) AS n FROM in_flight');
    if (Number(used?.n ?? 0) >= max) {
      // Keeps its place in the line if it was already waiting (and was woken too early).
      await tx.exec(
        `INSERT INTO in_flight_waiting (agent_id, notification_id, attempt, correlation_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (agent_id) DO UPDATE SET notification_id = EXCLUDED.notification_id, attempt = EXCLUDED.attempt,
           correlation_id = EXCLUDED.correlation_id, woken_at = NULL`,
        [agentId, notificationId, attempt.attempt, attempt.correlationId],
      );
      return false;
    }
    await tx.exec('INSERT INTO in_flight (agent_id, notification_id) VALUES ($1, $2)', [agentId, notificationId]);
    await tx.exec('DELETE FROM in_flight_waiting WHERE agent_id = $1', [agentId]);
    return true;
  }

  /**
   * Keeps the slot table in step with the agent's state after a decision: the slot goes when the
   * delivery ended, and a waiting attempt goes when its notification is no longer the open one.
   */
  async sync(tx: Tx, agentId: string, after: AgentUpdateState): Promise<void> {
    if (!holdsSlot(after)) await tx.exec('DELETE FROM in_flight WHERE agent_id = $1', [agentId]);
    await tx.exec('DELETE FROM in_flight_waiting WHERE agent_id = $1 AND notification_id IS DISTINCT FROM $2', [agentId, after.open?.notificationId ?? null]);
  }

  /** Drops a waiting attempt that turned out stale (superseded or already sent). */
  async forget(tx: Tx, agentId: string, notificationId: string): Promise<void> {
    await tx.exec('DELETE FROM in_flight_waiting WHERE agent_id = $1 AND notification_id = $2', [agentId, notificationId]);
  }

  /**
   * Marks the longest-waiting attempts woken, as many as there are free slots (counting those
   * woken a moment ago and not yet taken up), and returns them for the caller to enqueue in the
   * same transaction.
   */
  async wake(tx: Tx, max: number): Promise<WokenAttempt[]> {
    // The common case, nobody waiting, takes no lock (every instance asks every wave).
    if (!(await tx.one('SELECT 1 FROM in_flight_waiting LIMIT 1'))) return [];
    await this.lock(tx);
    const row = await tx.one<{ used: string; pending: string }>(
      `SELECT (SELECT count(*) FROM in_flight) AS used,
              (SELECT count(*) FROM in_flight_waiting WHERE woken_at > now() - make_interval(secs => $1)) AS pending`,
      [WOKEN_GRACE_SECONDS],
    );
    const free = max - Number(row?.used ?? 0) - Number(row?.pending ?? 0);
    if (free <= 0) return [];
    const woken = await tx.rows<{ agent_id: string; notification_id: string; attempt: number; correlation_id: string | null }>(
      `UPDATE in_flight_waiting SET woken_at = now()
        WHERE agent_id IN (SELECT agent_id FROM in_flight_waiting
                            WHERE woken_at IS NULL OR woken_at <= now() - make_interval(secs => $2)
                            ORDER BY queued_at LIMIT $1)
        RETURNING agent_id, notification_id, attempt, correlation_id`,
      [free, WOKEN_GRACE_SECONDS],
    );
    return woken.map((w) => ({ agentId: w.agent_id, notificationId: w.notification_id, attempt: w.attempt, correlationId: w.correlation_id }));
  }

  async inUse(tx: Tx): Promise<number> {
    return Number((await tx.one<{ n: string }>('SELECT count(*) AS n FROM in_flight'))?.n ?? 0);
  }

  async waiting(tx: Tx): Promise<number> {
    return Number((await tx.one<{ n: string }>('SELECT count(*) AS n FROM in_flight_waiting'))?.n ?? 0);
  }

  /** Frees slots held longer than any delivery can take (a crash between taking a slot and sending). */
  async reap(tx: Tx, olderThanSeconds: number): Promise<number> {
    return tx.exec(`DELETE FROM in_flight WHERE acquired_at < now() - make_interval(secs => $1)`, [olderThanSeconds]);
  }
}
