import { agentMessageQueue, integrationEventQueue, internalQueue } from '@herald/platform';
import { WORK_QUEUE, WorkMessage } from './agent-updates/work-messages';

/**
 * The queues notification-dispatch consumes. Their bindings follow from the @EventPattern
 * handlers declared for them (triggers, agent-updates/receive-agent-replies,
 * agent-updates/send-notifications).
 */
export const DispatchQueues = {
  /** New component versions (R1 trigger) and agent presence changes (R2 trigger, directory). */
  integration: integrationEventQueue('herald.dispatch.integration', { prefetch: 400 }),
  /** Acknowledgements, update results and scan results from agents, taken in batches of 200. */
  agentInbound: agentMessageQueue('herald.dispatch.agent-inbound', { prefetch: 400 }),
  /**
   * Internal work: target/skip an agent, send attempt n, check an acknowledgement or report
   * deadline, send a scan. Resends and deadlines arrive through its delayed-retry queues
   * (per-queue TTL). Its prefetch is DISPATCH_WORK_PREFETCH.
   */
  // A failed work item (the database or broker away) is tried again every 5 s for 5 minutes
  // before it is parked: a notify chunk parked after a 30 s database outage left its agents never
  // notified (found by npm run chaos).
  work: internalQueue(WORK_QUEUE, WorkMessage, 'kind', { retryDelayMs: 5_000, maxAttempts: 60 }),
};
