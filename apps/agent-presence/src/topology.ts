import { agentMessageQueue, integrationEventQueue } from '@herald/platform';

/**
 * The queues agent-presence consumes. Their bindings follow from the @EventPattern handlers
 * declared for them (agents/receive-agent-messages, catalog).
 */
export const PresenceQueues = {
  /** hello, heartbeat, goodbye and update results from every agent. */
  agentInbound: agentMessageQueue('herald.presence.agent-inbound', { prefetch: 64 }),
  /** Newly verified component versions, to tell outdated agents from up-to-date ones. */
  components: integrationEventQueue('herald.presence.components'),
};
