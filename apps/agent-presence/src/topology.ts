import { agentMessageQueue, integrationEventQueue, unroutableAgentMessageQueue } from '@herald/platform';

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
  /**
   * What agents send that no queue takes (herald.agent.inbound's alternate exchange): an unknown
   * type in the routing key, say. Every message is parked and counted; nothing handles it.
   */
  unroutable: unroutableAgentMessageQueue('herald.presence.agent-unroutable'),
  /** Newly verified component versions, to tell outdated agents from up-to-date ones. */
  components: integrationEventQueue('herald.presence.components'),
};
