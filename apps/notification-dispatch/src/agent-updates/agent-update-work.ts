import type { RecordedEvent } from '@herald/domain';
import type { OutboxMessage } from '@herald/event-store';
import type { AgentUpdateState, OpenNotification } from './agent-updates.decider';
import type { AgentUpdateEvent } from './agent-updates.events';
import { NOTIFY_CHUNK, type Work, type WorkMessage, workItem } from './work-messages';

type Scheduled = { work: WorkMessage; delayMs?: number };

/**
 * The follow-up work new agent-update events call for: resend after the interval (R4, through
 * the delay queues), retry a failed update after its back-off, start the next round of a raised target, send a scan. Written to the outbox
 * with the events, so a crash cannot lose a scheduled resend. (First attempts are recorded in the
 * transaction that targets the agent; passed deadlines are found by DeadlineSweeper.)
 */
export function agentUpdateWork(events: readonly RecordedEvent<AgentUpdateEvent>[], after: AgentUpdateState): OutboxMessage[] {
  return events.flatMap((e) => workFor(e, after).map(({ work, delayMs }) => workItem(work, { delayMs, correlationId: e.metadata.correlationId })));
}

/**
 * The same for the decisions of a batch, with the resends that fall due together (a wave of
 * attempts failed in one transaction) grouped into one delayed message per chunk of agents.
 */
export function agentUpdateWorkForBatch(streams: ReadonlyArray<{ events: readonly RecordedEvent<AgentUpdateEvent>[]; after: AgentUpdateState }>): OutboxMessage[] {
  const single: OutboxMessage[] = [];
  const waves = new Map<string, { delayMs: number; correlationId: string | undefined; attempts: Array<Omit<Work<'send-attempt'>, 'kind'>> }>();
  for (const { events, after } of streams) {
    for (const e of events) {
      for (const { work, delayMs } of workFor(e, after)) {
        if (work.kind !== 'send-attempt' || delayMs === undefined) {
          single.push(workItem(work, { delayMs, correlationId: e.metadata.correlationId }));
          continue;
        }
        const key = `${delayMs}\u0000${e.metadata.correlationId ?? ''}`;
        const wave = waves.get(key) ?? { delayMs, correlationId: e.metadata.correlationId, attempts: [] };
        wave.attempts.push({ agentId: work.agentId, notificationId: work.notificationId, attempt: work.attempt });
        waves.set(key, wave);
      }
    }
  }
  const grouped = [...waves.values()].flatMap(({ delayMs, correlationId, attempts }) =>
    Array.from({ length: Math.ceil(attempts.length / NOTIFY_CHUNK) }, (_, i) =>
      workItem({ kind: 'send-attempts', attempts: attempts.slice(i * NOTIFY_CHUNK, (i + 1) * NOTIFY_CHUNK) }, { delayMs, correlationId }),
    ),
  );
  return [...single, ...grouped];
}

function workFor(e: AgentUpdateEvent, after: AgentUpdateState): Scheduled[] {
  if (e.type === 'ScanRequested') return [{ work: { kind: 'send-scan', agentId: e.data.agentId, scanId: e.data.scanId } }];
  // Everything else follows up the notification the event is about, and only while it is the open one.
  const open: OpenNotification | null = 'notificationId' in e.data && after.open?.notificationId === e.data.notificationId ? after.open : null;
  if (!open) return [];
  const { agentId } = e.data;
  const { notificationId, policy } = open;
  switch (e.type) {
    case 'UpdateCompleted':
      // Short of a raised target: the next round starts at once.
      return e.data.targetReached ? [] : [{ work: { kind: 'send-attempt', agentId, notificationId, attempt: open.attempt + 1 } }];
    case 'ResendScheduled':
      return [{ work: { kind: 'send-attempt', agentId, notificationId, attempt: e.data.nextAttempt }, delayMs: policy.resendIntervalMs }];
    case 'UpdateRetryScheduled':
      // The retry's own back-off, as decided (dueAt − at): through the delay queue of that wait.
      return [{ work: { kind: 'send-attempt', agentId, notificationId, attempt: e.data.nextAttempt }, delayMs: Date.parse(e.data.dueAt) - Date.parse(e.data.at) }];
    default:
      return [];
  }
}
