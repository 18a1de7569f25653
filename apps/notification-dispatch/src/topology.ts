import { Exchanges } from '@herald/contracts';
import type { WorkQueueSpec } from '@herald/messaging';

/** The queues notification-dispatch consumes. */
export const DispatchQueues = {
  /** New component versions (R1 trigger) and agent presence changes (R2 trigger, directory). */
  integration: {
    name: 'herald.dispatch.integration',
    bindings: [
      { exchange: Exchanges.events, pattern: 'component.version-available' },
      { exchange: Exchanges.events, pattern: 'agent.*' },
    ],
  },
  /** Acknowledgements, update results and scan results from agents. */
  agentInbound: {
    name: 'herald.dispatch.agent-inbound',
    bindings: ['ack', 'update-result', 'scan-result'].map((t) => ({ exchange: Exchanges.agentInbound, pattern: `agent.*.${t}` })),
  },
  /**
   * Internal work: target/skip an agent, send attempt n, check an acknowledgement deadline, send
   * a scan. Resends and deadlines arrive through its delayed-retry queues (per-queue TTL).
   */
  work: { name: 'herald.dispatch.work' },
} satisfies Record<string, WorkQueueSpec>;
