import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { chunks } from '@herald/common';
import type { RecordedEvent } from '@herald/domain';
import { CommandHandler, EventStore, type OutboxMessage, type Tx } from '@herald/event-store';
import { agentUpdatesStreamId } from '../agent-updates/agent-updates.decider';
import { AgentUpdates } from '../agent-updates/agent-updates.service';
import { HeldAttempts } from '../agent-updates/held-attempts';
import { OpenNotifications } from '../agent-updates/open-notifications';
import { WebhookOutbox } from '../webhooks/webhook-outbox';
import { NOTIFY_CHUNK, workItem } from '../agent-updates/work-messages';
import {
  type Pausing,
  type RolloutCommand,
  type RolloutControlState,
  type RolloutEvent,
  type RolloutOutcomeCounts,
  type RolloutPhase,
  rolloutDecider,
  rolloutStreamId,
} from './rollout.decider';

/** What a control command did: the rollout's state after it, and whether it changed anything. */
export interface ControlResult {
  state: RolloutControlState;
  phase: RolloutPhase;
  changed: boolean;
  /** Retry: agents given a new notification. Resume: held attempts sent. Abort: notifications closed. */
  agents: number;
}

/** Who steers, and what the error threshold (or the canary) saw when Herald paused a rollout by itself. */
export type PauseBy = Pausing;

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
    private readonly store: EventStore,
    private readonly updates: AgentUpdates,
    private readonly held: HeldAttempts,
    private readonly open: OpenNotifications,
    private readonly webhooks: WebhookOutbox,
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
        const work = await this.releaseHeld(tx, rolloutId);
        released = work.released;
        return work.messages;
      },
    );
  }

  /** The canary reached its success threshold and the rollout waits for an admin (manual approval). */
  passCanary(rolloutId: string, counts: { succeeded: number; canary: number; successPercent: number }): Promise<ControlResult> {
    return this.control(rolloutId, async () => ({ type: 'PassCanary', rolloutId, by: 'herald', ...counts, now: new Date() }), async () => 0);
  }

  /**
   * The rest of the plan is notified, and the attempts held
   * for agents outside the canary group (R2 updates meanwhile) go out.
   */
  promote(rolloutId: string, by: string): Promise<ControlResult> {
    let notified = 0;
    return this.control(
      rolloutId,
      async (tx) => ({ type: 'Promote', rolloutId, by, ...(await canaryCounts(tx, rolloutId)), now: new Date() }),
      async () => notified,
      async (tx) => {
        // From the plan itself (the read model may not have it yet when an admin promotes at once).
        // An agent of it already on its way or up to date meanwhile is told nothing twice (R7).
        const { events: plan } = await this.store.readStream<RolloutEvent>(rolloutStreamId(rolloutId), tx);
        const rest = plan.flatMap((e) => (e.type === 'AgentsTargeted' && e.data.phase === 'after-canary' ? e.data.agentIds : []));
        const held = await this.releaseHeld(tx, rolloutId);
        notified = rest.length;
        return [...chunks(rest, NOTIFY_CHUNK).map((ids) => workItem({ kind: 'notify', rolloutId, agentIds: ids })), ...held.messages];
      },
    );
  }

  /** Records that every targeted agent of the rollout has an outcome (once); true when this call recorded it. */
  async complete(rolloutId: string, outcomes: RolloutOutcomeCounts): Promise<boolean> {
    const result = await this.commands.handle(
      rolloutDecider,
      rolloutStreamId(rolloutId),
      { type: 'Complete', rolloutId, outcomes, now: new Date() },
      { inTransaction: async ({ events, tx }) => void (await this.webhooks.enqueue(tx, events)) },
    );
    return result.kind === 'handled' && result.events.length > 0;
  }

  /** The attempts nothing holds any more, as send-attempts work. */
  private async releaseHeld(tx: Tx, rolloutId: string): Promise<{ released: number; messages: OutboxMessage[] }> {
    const attempts = await this.held.release(tx, rolloutId);
    return {
      released: attempts.length,
      messages: chunks(attempts, NOTIFY_CHUNK).map((c) =>
        workItem({ kind: 'send-attempts', attempts: c.map(({ agentId, notificationId, attempt }) => ({ agentId, notificationId, attempt })) }, { correlationId: c[0]!.correlationId ?? undefined }),
      ),
    };
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
            `INSERT INTO rollout_control (rollout_id, state, phase) VALUES ($1, $2, $3) ON CONFLICT (rollout_id) DO UPDATE SET state = EXCLUDED.state, phase = EXCLUDED.phase`,
            [rolloutId, after.control, after.phase],
          );
          for (const e of events) await recordDecision(tx, e);
          await this.webhooks.enqueue(tx, events);
        },
        // The effects run after the state changed (a resume releases what no paused rollout holds any more).
        outbox: async ({ events }) => (events.length > 0 ? effects(tx) : []),
      });
      if (result.kind !== 'handled') throw new Error('a rollout control command is never de-duplicated');
      return { state: result.state.control, phase: result.state.phase, changed: result.events.length > 0, agents: result.events.length > 0 ? await agents() : 0 };
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

/** The canary's view of a rollout: its group's agents, and those updated (or found up to date). */
export async function canaryCounts(tx: Tx, rolloutId: string): Promise<{ succeeded: number; canary: number }> {
  const row = await tx.one<{ succeeded: string; canary: string }>(
    `SELECT count(*) FILTER (WHERE ra.outcome IN ('updated', 'already-up-to-date')) AS succeeded, count(*) AS canary
       FROM rollout_canary k LEFT JOIN rollout_agents ra USING (rollout_id, agent_id) WHERE k.rollout_id = $1`,
    [rolloutId],
  );
  return { succeeded: Number(row?.succeeded ?? 0), canary: Number(row?.canary ?? 0) };
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
      const { by, reason, note, failed, finished, thresholdPercent, succeeded, canary, successPercent } = e.data;
      const why = reason === 'error-threshold' ? 'error threshold crossed' : reason === 'canary-failed' ? 'the canary did not pass' : null;
      const details = reason === 'error-threshold' ? { trigger: reason, failed, finished, thresholdPercent } : reason === 'canary-failed' ? { trigger: reason, succeeded, canary, successPercent } : { trigger: reason };
      await decision('paused', by, note ?? why, details);
      break;
    }
    case 'CanaryPassed':
      await decision('canary-passed', 'herald', 'awaiting approval', { succeeded: e.data.succeeded, canary: e.data.canary, successPercent: e.data.successPercent });
      break;
    case 'RolloutPromoted':
      await decision('promoted', e.data.by, null, { succeeded: e.data.succeeded, canary: e.data.canary });
      break;
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
