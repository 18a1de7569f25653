import { Injectable } from '@nestjs/common';
import type { Tx } from '@herald/event-store';
import type { AgentUpdateState } from './agent-updates.decider';

/** An agent holds a slot while it has an attempt out or is updating: from "notified" to "reported". */
export function holdsSlot(state: AgentUpdateState): boolean {
  return state.open !== null && (state.open.phase === 'awaiting-ack' || state.open.phase === 'updating');
}

/**
 * R6: at most maxInFlight agents between "notified" and "reported", across every instance
 * (the rows are in PostgreSQL; acquisitions are serialised by an advisory transaction lock).
 * A slot is taken just before an attempt is published and given back by the decision that ends
 * the delivery: a failed attempt, a report, a give-up, a superseded notification.
 */
@Injectable()
export class InFlightSlots {
  /** True when the agent holds (or now took) a slot for this notification. */
  async tryAcquire(tx: Tx, agentId: string, notificationId: string, max: number): Promise<boolean> {
    await tx.rows(`SELECT pg_advisory_xact_lock(hashtext('herald:in-flight'))`);
    const held = await tx.one<{ notification_id: string }>('SELECT notification_id FROM in_flight WHERE agent_id = $1', [agentId]);
    if (held) {
      if (held.notification_id !== notificationId) {
        await tx.exec('UPDATE in_flight SET notification_id = $2, acquired_at = now() WHERE agent_id = $1', [agentId, notificationId]);
      }
      return true;
    }
    const used = await tx.one<{ n: string }>('SELECT count(*) AS n FROM in_flight');
    if (Number(used?.n ?? 0) >= max) return false;
    await tx.exec('INSERT INTO in_flight (agent_id, notification_id) VALUES ($1, $2)', [agentId, notificationId]);
    return true;
  }

  /** Keeps the slot table in step with the agent's state after a decision. */
  async sync(tx: Tx, agentId: string, after: AgentUpdateState): Promise<void> {
    if (!holdsSlot(after)) await tx.exec('DELETE FROM in_flight WHERE agent_id = $1', [agentId]);
  }

  async inUse(tx: Tx): Promise<number> {
    return Number((await tx.one<{ n: string }>('SELECT count(*) AS n FROM in_flight'))?.n ?? 0);
  }

  /** Frees slots held longer than any delivery can take (a crash between taking a slot and sending). */
  async reap(tx: Tx, olderThanSeconds: number): Promise<number> {
    return tx.exec(`DELETE FROM in_flight WHERE acquired_at < now() - make_interval(secs => $1)`, [olderThanSeconds]);
  }
}
