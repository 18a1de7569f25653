import { agentMessageQueue, integrationEventQueue } from '@herald/platform';

/**
 * The queues agent-presence consumes. Their bindings follow from the @EventPattern handlers
 * declared for them (agents/receive-agent-messages, catalog).
 */
export const PresenceQueues = {
  /** hello, goodbye and update results from every agent, taken in batches of 200. */
  agentInbound: agentMessageQueue('herald.presence.agent-inbound', { prefetch: 400 }),
  /**
   * Heartbeats, apart from the rest so a fleet's heartbeats never hold up its hellos; taken in
   * batches of 1,000.
   */
  heartbeats: agentMessageQueue('herald.presence.heartbeats', { prefetch: 2_000, retryDelayMs: 500 }),
  /** Newly verified component versions, to tell outdated agents from up-to-date ones. */
  components: integrationEventQueue('herald.presence.components'),
};
