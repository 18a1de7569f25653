/**
 * Names of the exchanges and queues that cross process boundaries. The server declares the
 * exchanges; an agent declares only its own command queue (see docs/asyncapi.yaml).
 */
export const Exchanges = {
  /** topic; integration events between Herald services, routed by event type. */
  events: 'herald.events',
  /**
   * topic; every agent-to-server message, routed `agent.<agentId>.<message type>`. Its alternate
   * exchange is agentUnroutable.
   */
  agentInbound: 'herald.agent.inbound',
  /**
   * fanout, internal; the alternate exchange of agentInbound: what no queue takes there (an
   * unknown type in the routing key, a key of another form) comes here to be parked and counted.
   */
  agentUnroutable: 'herald.agent.unroutable',
  /**
   * topic; server-to-agent commands, routed by agent id to that agent's queue. A topic exchange
   * (not direct) so the broker can hold an agent to binding its own id (topic authorisation
   * applies to bindings of topic exchanges only).
   */
  agentOutbound: 'herald.agent.outbound',
  /**
   * direct; the exchange agents bound to before `agentOutbound` (protocol 1.0): it receives every
   * command through an exchange-to-exchange binding, so such agents keep working where brokers
   * do not restrict them. Never granted to an agent with its own identity.
   */
  agentCommands: 'herald.agent.commands',
} as const;

/** The queue an agent declares (exclusive, so it exists only while the agent is connected). */
export function agentCommandQueue(agentId: string): string {
  return `herald.agent.${agentId}`;
}

/** Routing key of a message an agent sends: carries the agent id so brokers can restrict it. */
export function agentInboundRoutingKey(agentId: string, messageType: string): string {
  return `agent.${agentId}.${messageType}`;
}

/** The agent id in an inbound routing key, or null when the key is not `agent.<id>.<type>`. */
export function agentIdFromRoutingKey(routingKey: string): string | null {
  const parts = routingKey.split('.');
  return parts.length === 3 && parts[0] === 'agent' ? parts[1]! : null;
}
