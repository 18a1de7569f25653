import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { chunks } from '@herald/common';
import { AgentId, ComponentTarget, ComponentType } from '@herald/contracts';
import type { OutboxMessage } from '@herald/event-store';

/** Dispatch's own work queue: its messages arrive straight from the outbox or, delayed, through its delay queues. */
export const WORK_QUEUE = 'herald.dispatch.work';

/** Agents a rollout notifies per transaction (and per wait for the broker's confirms). */
export const NOTIFY_CHUNK = 500;
/** The first chunk of a rollout is smaller: the first agents hear of it at once, whatever the fleet size. */
export const FIRST_NOTIFY_CHUNK = 50;

/** A rollout's targets in the chunks they are notified in: a small one first, then NOTIFY_CHUNK each. */
export function notifyChunks<T>(targets: readonly T[]): T[][] {
  const first = targets.slice(0, FIRST_NOTIFY_CHUNK);
  return first.length === 0 ? [] : [first, ...chunks(targets.slice(FIRST_NOTIFY_CHUNK), NOTIFY_CHUNK)];
}

/** Steps a spread rollout's first attempts come in (one delay queue each). */
export const SPREAD_STEPS = 10;

/**
 * A rollout's targets in the chunks they are notified in, each with its delay: with no spread,
 * all at once (notifyChunks); with a spread, each agent falls in one of SPREAD_STEPS steps from
 * 0 to `spreadMs` (at random, but the same every time: from the rollout and agent ids), keeping
 * the plan's order (reachable agents first) within a step.
 */
export function spreadNotifyChunks(rolloutId: string, targets: readonly string[], spreadMs: number): Array<{ agentIds: string[]; delayMs: number }> {
  if (spreadMs <= 0) return notifyChunks(targets).map((agentIds) => ({ agentIds, delayMs: 0 }));
  const steps: string[][] = Array.from({ length: SPREAD_STEPS }, () => []);
  for (const agentId of targets) steps[createHash('sha256').update(`${rolloutId}/${agentId}`).digest().readUInt32BE(0) % SPREAD_STEPS]!.push(agentId);
  return steps.flatMap((agentIds, step) => notifyChunks(agentIds).map((chunk) => ({ agentIds: chunk, delayMs: Math.round((spreadMs * step) / (SPREAD_STEPS - 1)) })));
}

/** Messages of dispatch's own work queue. Internal, but validated like any other input. */
export const WorkMessage = z.discriminatedUnion('kind', [
  /**
   * R1: target these agents of a rollout and send their first attempts (one transaction, one
   * confirm wait). With `retryId`: an admin's retry of the rollout's failed agents (new notifications).
   */
  z.strictObject({
    kind: z.literal('notify'),
    rolloutId: z.uuid(),
    agentIds: z.array(AgentId).min(1).max(NOTIFY_CHUNK),
    retryId: z.uuid().optional(),
    /** A pin's (or unpin's) rollout: each agent's target of this type is the catalog's, even if it runs that version (an open notification elsewhere is taken over). */
    retarget: ComponentType.optional(),
  }),
  z.strictObject({
    kind: z.literal('target'),
    agentId: AgentId,
    rolloutId: z.uuid(),
    notificationId: z.uuid(),
    components: z.array(ComponentTarget).min(1),
  }),
  z.strictObject({
    kind: z.literal('skip'),
    agentId: AgentId,
    rolloutId: z.uuid(),
    reason: z.enum(['offline', 'independent', 'no-privilege']),
  }),
  z.strictObject({ kind: z.literal('send-attempt'), agentId: AgentId, notificationId: z.uuid(), attempt: z.number().int().positive() }),
  /** R4: a wave of resends that came due together, sent in one transaction. */
  z.strictObject({
    kind: z.literal('send-attempts'),
    attempts: z.array(z.strictObject({ agentId: AgentId, notificationId: z.uuid(), attempt: z.number().int().positive() })).min(1).max(NOTIFY_CHUNK),
  }),
  z.strictObject({ kind: z.literal('ack-deadline'), agentId: AgentId, notificationId: z.uuid(), attempt: z.number().int().positive() }),
  z.strictObject({ kind: z.literal('report-deadline'), agentId: AgentId, notificationId: z.uuid(), attempt: z.number().int().positive() }),
  z.strictObject({ kind: z.literal('send-scan'), agentId: AgentId, scanId: z.uuid() }),
]);
export type WorkMessage = z.infer<typeof WorkMessage>;
/** One kind of work message. */
export type Work<K extends WorkMessage['kind']> = Extract<WorkMessage, { kind: K }>;

/** An outbox row delivering `work` to the work queue, now or after `delayMs`. */
export function workItem(work: WorkMessage, options: { delayMs?: number; correlationId?: string } = {}): OutboxMessage {
  return {
    messageId: randomUUID(),
    routingKey: WORK_QUEUE,
    delayMs: options.delayMs,
    type: `dispatch.${work.kind}`,
    correlationId: options.correlationId,
    payload: work,
  };
}
