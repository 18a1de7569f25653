import type { OutboxMessage } from '@herald/event-store';
import type { RecordedEvent } from '@herald/domain';
import type { AgentUpdateState } from './agent-updates.decider';
import type { AgentUpdateEvent } from './agent-updates.events';
import { workItem } from './work-messages';

/**
 * The follow-up work new agent-update events call for: send the next attempt, check the
 * acknowledgement deadline, resend after the interval, send a scan. Written to the outbox with
 * the events, so a crash cannot lose a scheduled resend.
 */
export function agentUpdateWork(events: readonly RecordedEvent<AgentUpdateEvent>[], after: AgentUpdateState): OutboxMessage[] {
  const work: OutboxMessage[] = [];
  for (const e of events) {
    const correlationId = e.metadata.correlationId;
    switch (e.type) {
      case 'UpdateTargeted':
        if (after.open?.notificationId === e.data.notificationId) {
          work.push(workItem({ kind: 'send-attempt', agentId: e.data.agentId, notificationId: e.data.notificationId, attempt: 1 }, { correlationId }));
        }
        break;
      case 'UpdateCompleted':
        if (!e.data.targetReached && after.open?.notificationId === e.data.notificationId) {
          const attempt = after.open.attempt + 1;
          work.push(workItem({ kind: 'send-attempt', agentId: e.data.agentId, notificationId: e.data.notificationId, attempt }, { correlationId }));
        }
        break;
      case 'AttemptSent':
        if (after.open?.notificationId === e.data.notificationId) {
          work.push(
            workItem(
              { kind: 'ack-deadline', agentId: e.data.agentId, notificationId: e.data.notificationId, attempt: e.data.attempt },
              { delayMs: after.open.policy.ackTimeoutMs, correlationId },
            ),
          );
        }
        break;
      case 'ResendScheduled':
        if (after.open?.notificationId === e.data.notificationId) {
          work.push(
            workItem(
              { kind: 'send-attempt', agentId: e.data.agentId, notificationId: e.data.notificationId, attempt: e.data.nextAttempt },
              { delayMs: after.open.policy.resendIntervalMs, correlationId },
            ),
          );
        }
        break;
      case 'NotificationAcknowledged':
        if (after.open?.notificationId === e.data.notificationId) {
          work.push(
            workItem(
              { kind: 'report-deadline', agentId: e.data.agentId, notificationId: e.data.notificationId, attempt: e.data.attempt },
              { delayMs: after.open.policy.reportTimeoutMs, correlationId },
            ),
          );
        }
        break;
      case 'ScanRequested':
        work.push(workItem({ kind: 'send-scan', agentId: e.data.agentId, scanId: e.data.scanId }, { correlationId }));
        break;
      default:
        break;
    }
  }
  return work;
}
