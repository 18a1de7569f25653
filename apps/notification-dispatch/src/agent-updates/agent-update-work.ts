import type { RecordedEvent } from '@herald/domain';
import type { OutboxMessage } from '@herald/event-store';
import type { AgentUpdateState, OpenNotification } from './agent-updates.decider';
import type { AgentUpdateEvent } from './agent-updates.events';
import { type WorkMessage, workItem } from './work-messages';

type Scheduled = { work: WorkMessage; delayMs?: number };

/**
 * The follow-up work new agent-update events call for: send the next attempt, check the
 * acknowledgement deadline, resend after the interval, check the report deadline, send a scan.
 * Written to the outbox with the events, so a crash cannot lose a scheduled resend.
 */
export function agentUpdateWork(events: readonly RecordedEvent<AgentUpdateEvent>[], after: AgentUpdateState): OutboxMessage[] {
  return events.flatMap((e) => workFor(e, after).map(({ work, delayMs }) => workItem(work, { delayMs, correlationId: e.metadata.correlationId })));
}

function workFor(e: AgentUpdateEvent, after: AgentUpdateState): Scheduled[] {
  if (e.type === 'ScanRequested') return [{ work: { kind: 'send-scan', agentId: e.data.agentId, scanId: e.data.scanId } }];
  // Everything else follows up the notification the event is about, and only while it is the open one.
  const open: OpenNotification | null = 'notificationId' in e.data && after.open?.notificationId === e.data.notificationId ? after.open : null;
  if (!open) return [];
  const { agentId } = e.data;
  const { notificationId, policy } = open;
  switch (e.type) {
    case 'UpdateTargeted':
      return [{ work: { kind: 'send-attempt', agentId, notificationId, attempt: 1 } }];
    case 'UpdateCompleted':
      // Short of a raised target: the next round starts at once.
      return e.data.targetReached ? [] : [{ work: { kind: 'send-attempt', agentId, notificationId, attempt: open.attempt + 1 } }];
    case 'AttemptSent':
      return [{ work: { kind: 'ack-deadline', agentId, notificationId, attempt: e.data.attempt }, delayMs: policy.ackTimeoutMs }];
    case 'ResendScheduled':
      return [{ work: { kind: 'send-attempt', agentId, notificationId, attempt: e.data.nextAttempt }, delayMs: policy.resendIntervalMs }];
    case 'NotificationAcknowledged':
      return [{ work: { kind: 'report-deadline', agentId, notificationId, attempt: e.data.attempt }, delayMs: policy.reportTimeoutMs }];
    default:
      return [];
  }
}
