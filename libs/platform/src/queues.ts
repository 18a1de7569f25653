import type { z } from 'zod';
import {
  AGENT_MESSAGE_TYPES,
  type AgentMessage,
  Exchanges,
  INTEGRATION_EVENT_TYPES,
  type IntegrationEvent,
  agentInboundRoutingKey,
  parseAgentMessage,
  parseIntegrationEvent,
} from '@herald/contracts';
import { type ConsumeOptions, type Parsed, type QueueDefinition, defineQueue } from '@herald/messaging';

/**
 * A queue of messages from agents (the agent protocol). Each delivery is checked as the protocol
 * says (JSON, known type and schema version, valid fields, the same agent id in the routing key
 * and the body) before a handler sees it; the queue is bound to `agent.*.<type>` on
 * herald.agent.inbound for each type it has a handler for.
 */
export function agentMessageQueue(name: string, consume?: ConsumeOptions): QueueDefinition<AgentMessage, AgentMessage['type']> {
  return defineQueue({
    name,
    types: AGENT_MESSAGE_TYPES,
    parse: (raw) => typed(parseAgentMessage(raw.body, raw.routingKey)),
    bindingsFor: (type) => [{ exchange: Exchanges.agentInbound, pattern: agentInboundRoutingKey('*', type) }],
    consume,
  });
}

/** A queue of integration events from the other services, bound to each handled type on herald.events. */
export function integrationEventQueue(name: string, consume?: ConsumeOptions): QueueDefinition<IntegrationEvent, IntegrationEvent['type']> {
  return defineQueue({
    name,
    types: INTEGRATION_EVENT_TYPES,
    parse: (raw) => typed(parseIntegrationEvent(raw.body)),
    bindingsFor: (type) => [{ exchange: Exchanges.events, pattern: type }],
    consume,
  });
}

/**
 * A service's own work queue: messages it sends itself (through the outbox, straight to the
 * queue, or after a delay through its delay queues), validated like any other input. `key` is
 * the field of the union that names a message's type.
 */
export function internalQueue<S extends z.ZodDiscriminatedUnion, K extends keyof z.infer<S> & string>(
  name: string,
  schema: S,
  key: K,
  consume?: ConsumeOptions,
): QueueDefinition<z.infer<S>, Extract<z.infer<S>[K], string>> {
  const types = schema.options.map((o) => String(((o as z.ZodObject).shape[key] as z.ZodLiteral).value) as Extract<z.infer<S>[K], string>);
  return defineQueue({
    name,
    types,
    parse: (raw): Parsed<z.infer<S>> => {
      let json: unknown;
      try {
        json = JSON.parse(raw.body.toString('utf8'));
      } catch {
        return { ok: false, reason: 'not-json', detail: `${name} message` };
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) return { ok: false, reason: 'invalid', detail: `${name} message: ${parsed.error.issues[0]?.message}` };
      return { ok: true, type: String((parsed.data as Record<K, unknown>)[key]), message: parsed.data };
    },
    bindingsFor: () => [],
    consume,
  });
}

function typed<M extends { type: string }>(result: { ok: true; message: M } | { ok: false; reason: string; detail: string }): Parsed<M> {
  return result.ok ? { ok: true, type: result.message.type, message: result.message } : result;
}
