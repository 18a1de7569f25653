import { Exchanges } from '@herald/contracts';
import type { WorkQueueSpec } from '@herald/messaging';

/** The queues agent-presence consumes. */
export const PresenceQueues = {
  /** hello, heartbeat, goodbye and update results from every agent. */
  agentInbound: {
    name: 'herald.presence.agent-inbound',
    bindings: ['hello', 'heartbeat', 'goodbye', 'update-result'].map((t) => ({ exchange: Exchanges.agentInbound, pattern: `agent.*.${t}` })),
  },
  /** Newly verified component versions, to tell outdated agents from up-to-date ones. */
  components: {
    name: 'herald.presence.components',
    bindings: [{ exchange: Exchanges.events, pattern: 'component.version-available' }],
  },
} satisfies Record<string, WorkQueueSpec>;
