import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { chunks } from '@herald/common';
import type { RecordedEvent } from '@herald/domain';
import { CommandHandler, type OutboxMessage, type Tx } from '@herald/event-store';
import { agentUpdatesStreamId } from '../agent-updates/agent-updates.decider';
import { AgentUpdates } from '../agent-updates/agent-updates.service';
import { HeldAttempts } from '../agent-updates/held-attempts';
import { OpenNotifications } from '../agent-updates/open-notifications';
import { NOTIFY_CHUNK, workItem } from '../agent-updates/work-messages';
import { type RolloutCommand, type RolloutControlState, type RolloutEvent, rolloutDecider, rolloutStreamId } from './rollout.decider';

/** What a control command did: the rollout's state after it, and whether it changed anything. */
export interface ControlResult {
  state: RolloutControlState;
  changed: boolean;
  /** Retry: agents given a new notification. Resume: held attempts sent. Abort: notifications closed. */
  agents: number;
}

/** Who steers, and what the error threshold saw when Herald paused a rollout by itself. */
export interface PauseBy {
  by: string;
  reason: 'admin' | 'error-threshold';
  note: string | null;
  failed?: number;
  finished?: number;
  thresholdPercent?: number;
}

/**
 * Admins steer a rollout: pause (its attempts are held), resume (held attempts go out), abort
 * (its open notifications close with the reason, the rest of its plan is not notified), retry its
 * failed and given-up agents (a new notification each). Each is an event of the rollout with who
 * decided it; the state the send path reads (rollout_control) is written in the same transaction,
 * under the exclusive rollout-control lock (see HeldAttempts).
 */
@Injectable()
export class RolloutControl {
  constructor(
    private readonly commands: CommandHandler,
    private readonly updates: AgentUpdates,
    private readonly held: HeldAttempts,
    private readonly open: OpenNotifications,
  ) {}

  pause(rolloutId: string, who: PauseBy): Promise<ControlResult> {
    return this.control(rolloutId, async () => ({ type: 'Pause', rolloutId, ...who, now: new Date() }), async () => 0);
  }

  resume(rolloutId: string, by: string): Promise<ControlResult> {
    let released = 0;
    return this.control(
      rolloutId,
      async (tx) => ({ type: 'Resume', rolloutId, by, ...(await finishedCounts(tx, rolloutId)), now: new Date() }),
      async () => released,
      async (tx) => {
        const attempts = await this.held.release(tx, rolloutId);
        released = attempts.length;
        return chunks(attempts, NOTIFY_CHUNK).map((c) =>
          workItem({ kind: 'send-attempts', attempts: c.map(({ agentId, notificationId, attempt }) => ({ agentId, notificationId, attempt })) }, { correlationId: c[0]!.correlationId ?? undefined }),
        );
      },
    );
  }

  /** Closes every open notification that works for the rollout, in the transaction of the abort. */
  abort(rolloutId: string, by: string, note: string | null): Promise<ControlResult> {
    let closed = 0;
    return this.control(
      rolloutId,
      async () => ({ type: 'Abort', rolloutId, by, note, now: new Date() }),
      async () => closed,
      async (tx) => {
        await this.held.forgetRollout(tx, rolloutId);
        const agentIds = await this.open.ofRollout(tx, rolloutId);
        const now = new Date();
        for (const ids of chunks(agentIds, NOTIFY_CHUNK)) {
          const { streams } = await this.updates.batch(tx, ids, (b) => {
            for (const agentId of ids) b.decide(agentUpdatesStreamId(agentId), { type: 'CloseForAbortedRollout', agentId, rolloutId, by, now });
          });
          closed += streams.filter((s) => s.events.length > 0).length;
        }
        return [];
      },
    );
  }

  /** A new notification for each agent of the rollout whose update failed or was given up. */
  retryFailed(rolloutId: string, by: string): Promise<ControlResult> {
    const retryId = randomUUID();
    let agentIds: string[] = [];
    return this.control(
      rolloutId,
      async (tx) => {
        agentIds = (
          await tx.rows<{ agent_id: string }>(`SELECT agent_id FROM rollout_agents WHERE rollout_id = $1 AND targeted AND outcome IN ('failed', 'gave-up') ORDER BY agent_id`, [rolloutId])
        ).map((r) => r.agent_id);
        return { type: 'RetryFailed', rolloutId, retryId, by, agents: agentIds.length, now: new Date() };
      },
      async () => agentIds.length,
      async () => chunks(agentIds, NOTIFY_CHUNK).map((ids) => workItem({ kind: 'notify', rolloutId, agentIds: ids, retryId })),
    );
  }

  private async control(
    rolloutId: string,
    command: (tx: Tx) => Promise<RolloutCommand>,
    agents: () => Promise<number>,
    effects: (tx: Tx) => Promise<OutboxMessage[]> = async () => [],
  ): Promise<ControlResult> {
    return this.commands.transaction(async (tx) => {
      await this.held.lockExclusively(tx);
      const result = await this.commands.handleIn(tx, rolloutDecider, rolloutStreamId(rolloutId), await command(tx), {
        inTransaction: async ({ events, after }) => {
          if (events.length === 0) return;
          await tx.exec(
            `INSERT INTO rollout_control (rollout_id, state) VALUES ($1, $2) ON CONFLICT (rollout_id) DO UPDATE SET state = EXCLUDED.state`,
            [rolloutId, after.control],
          );
          for (const e of events) await recordDecision(tx, e);
        },
        // The effects run after the state changed (a resume releases what no paused rollout holds any more).
        outbox: async ({ events }) => (events.length > 0 ? effects(tx) : []),
      });
      if (result.kind !== 'handled') throw new Error('a rollout control command is never de-duplicated');
      return { state: result.state.control, changed: result.events.length > 0, agents: result.events.length > 0 ? await agents() : 0 };
    });
  }
}

/** The error threshold's view of a rollout: its agents that failed, and all that have an outcome (aborted ones aside). */
export async function finishedCounts(tx: Tx, rolloutId: string): Promise<{ failed: number; finished: number }> {
  const row = await tx.one<{ failed: string; finished: string }>(
    `SELECT count(*) FILTER (WHERE outcome = 'failed') AS failed, count(*) FILTER (WHERE outcome IS NOT NULL AND outcome <> 'aborted') AS finished
       FROM rollout_agents WHERE rollout_id = $1 AND targeted`,
    [rolloutId],
  );
  return { failed: Number(row?.failed ?? 0), finished: Number(row?.finished ?? 0) };
}

/** The rollout's page lists every decision with who took it; a resume also resets the error threshold's base. */
async function recordDecision(tx: Tx, e: RecordedEvent<RolloutEvent>): Promise<void> {
  const decision = (action: string, by: string, reason: string | null, details: object) =>
    tx.exec(`INSERT INTO rollout_decisions (rollout_id, position, action, by, reason, details, at) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) ON CONFLICT DO NOTHING`, [
      rolloutIdOf(e),
      e.globalPosition,
      action,
      by,
      reason,
      JSON.stringify(details),
      e.data.at,
    ]);
  switch (e.type) {
    case 'RolloutPaused': {
      const { by, reason, note, failed, finished, thresholdPercent } = e.data;
      await decision('paused', by, note ?? (reason === 'error-threshold' ? 'error threshold crossed' : null), reason === 'error-threshold' ? { trigger: reason, failed, finished, thresholdPercent } : { trigger: reason });
      break;
    }
    case 'RolloutResumed':
      await tx.exec('UPDATE rollout_control SET failed_base = $2, finished_base = $3 WHERE rollout_id = $1', [e.data.rolloutId, e.data.failed, e.data.finished]);
      await decision('resumed', e.data.by, null, { failed: e.data.failed, finished: e.data.finished });
      break;
    case 'RolloutAborted':
      await decision('aborted', e.data.by, e.data.note, {});
      break;
    case 'RolloutRetryRequested':
      await decision('retried-failed', e.data.by, null, { agents: e.data.agents, retryId: e.data.retryId });
      break;
    default:
      break;
  }
}

const rolloutIdOf = (e: RecordedEvent<RolloutEvent>): string => e.data.rolloutId;
