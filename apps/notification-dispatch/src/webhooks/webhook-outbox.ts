import { Injectable } from '@nestjs/common';
import type { RecordedEvent } from '@herald/domain';
import type { Tx } from '@herald/event-store';
import type { RolloutEvent } from '../rollouts/rollout.decider';
import type { WebhookEventType } from './webhook.decider';

/** The rollout events webhooks are told of, by the name they carry there. */
const NAMES: Partial<Record<RolloutEvent['type'], WebhookEventType>> = {
  RolloutPlanned: 'rollout.started',
  RolloutPaused: 'rollout.paused',
  RolloutResumed: 'rollout.resumed',
  RolloutAborted: 'rollout.aborted',
  CanaryPassed: 'rollout.canary-passed',
  RolloutPromoted: 'rollout.promoted',
  RolloutCompleted: 'rollout.completed',
};

/** What a webhook receives (the request body): the event, and the rollout it is about. */
export interface WebhookPayload {
  /** The event's id: the same on every attempt of its delivery (de-duplicate by it). */
  id: string;
  type: WebhookEventType;
  occurredAt: string;
  rollout: { rolloutId: string; component: { type: string; version: string; pinned: boolean } | null; cause: unknown };
  data: Record<string, unknown>;
}

/**
 * The webhooks' outbox: a rollout event is turned into one delivery per webhook that wants it, in
 * the transaction that records the event, so none is lost or made twice; WebhookSender sends them.
 */
@Injectable()
export class WebhookOutbox {
  async enqueue(tx: Tx, events: ReadonlyArray<RecordedEvent<RolloutEvent>>): Promise<number> {
    const named = events.flatMap((e) => (NAMES[e.type] ? [{ e, type: NAMES[e.type]! }] : []));
    if (named.length === 0) return 0;
    const hooks = await tx.rows<{ webhook_id: string; events: string[] }>('SELECT webhook_id, events FROM webhooks WHERE removed_at IS NULL');
    if (hooks.length === 0) return 0;
    let queued = 0;
    for (const { e, type } of named) {
      const rolloutId = String(e.data.rolloutId);
      const payload: WebhookPayload = { id: e.eventId, type, occurredAt: String(e.data.at), rollout: { rolloutId, ...(await this.rolloutOf(tx, e)) }, data: e.data as Record<string, unknown> };
      for (const hook of hooks.filter((h) => h.events.includes(type))) {
        await tx.exec(
          `INSERT INTO webhook_deliveries (webhook_id, event_id, event_type, rollout_id, payload) VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (webhook_id, event_id) DO NOTHING`,
          [hook.webhook_id, e.eventId, type, rolloutId, JSON.stringify(payload)],
        );
        queued++;
      }
    }
    return queued;
  }

  /** The rollout's version and what started it, from its plan (the first event of its stream). */
  private async rolloutOf(tx: Tx, e: RecordedEvent<RolloutEvent>): Promise<Pick<WebhookPayload['rollout'], 'component' | 'cause'>> {
    const plan =
      e.type === 'RolloutPlanned'
        ? e.data
        : (await tx.one<{ data: { component: { type: string; version: string; pinned?: boolean }; cause?: unknown } }>(`SELECT data FROM events WHERE stream_id = $1 AND stream_position = 1`, [e.streamId]))?.data;
    if (!plan) return { component: null, cause: null };
    return { component: { type: plan.component.type, version: plan.component.version, pinned: plan.component.pinned === true }, cause: plan.cause ?? null };
  }
}
