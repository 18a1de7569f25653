import type { z } from 'zod';
import {
  AGENT_MESSAGE_TYPES,
  type AgentMessage,
  Exchanges,
  INTEGRATION_EVENT_TYPES,
  type IntegrationEvent,
  agentIdFromRoutingKey,
  agentInboundRoutingKey,
  parseAgentMessage,
  parseIntegrationEvent,
} from '@herald/contracts';
import { type Binding, type ConsumeOptions, type InboundMessage, type MessageSubject, type Parsed, type QueueDefinition, defineQueue } from '@herald/messaging';
import type { AgentDoor } from './agent-door';

/** A queue of agent messages, to be consumed only behind the service's agent door. */
export interface AgentMessageQueue extends QueueDefinition<AgentMessage, AgentMessage['type']> {
  /** The same queue with every delivery checked by `door` first (rate, size, then freshness once parsed). */
  behind(door: AgentDoor): QueueDefinition<AgentMessage, AgentMessage['type']>;
  withConsume(options: ConsumeOptions): AgentMessageQueue;
}

/** Whether a queue takes agent messages and so must be put behind the agent door. */
export function isAgentMessageQueue(queue: QueueDefinition): queue is AgentMessageQueue & QueueDefinition {
  return typeof (queue as Partial<AgentMessageQueue>).behind === 'function';
}

/**
 * A queue of messages from agents (the agent protocol). Each delivery passes the agent door
 * (the sender's rate and the body's size, before the body is read) and is then checked as the
 * protocol says (JSON, known type and schema version, valid fields, the same agent id in the
 * routing key and the body, `sentAt` fresh) before a handler sees it; the queue is bound to
 * `agent.*.<type>` on herald.agent.inbound for each type it has a handler for. HeraldServiceModule
 * puts it behind the service's door; consumed without one, it refuses every message.
 */
export function agentMessageQueue(name: string, consume?: ConsumeOptions): AgentMessageQueue {
  return agentQueue(name, { keepHeaders: false, ...consume }, null, (raw, door) => {
    const parsed = typed(parseAgentMessage(raw.body, raw.routingKey));
    if (!parsed.ok) return parsed;
    const refused = door.fresh(parsed.message.sentAt);
    return refused ? { ...refused, subject: { messageId: parsed.message.messageId, type: parsed.type } } : parsed;
  });
}

/**
 * The queue behind herald.agent.inbound's alternate exchange: every message no other queue took
 * there. Each is parked (after the door's rate and size checks) with a reason read from its
 * routing key alone, the body never parsed: `unknown-type` for `agent.<id>.<a type this protocol
 * does not have>`, `unroutable` for anything else (a key of another form, or a type no service
 * consumes now).
 */
export function unroutableAgentMessageQueue(name: string, consume?: ConsumeOptions): AgentMessageQueue {
  const known: ReadonlySet<string> = new Set(AGENT_MESSAGE_TYPES);
  return agentQueue(name, { keepHeaders: false, ...consume }, [{ exchange: Exchanges.agentUnroutable, pattern: '' }], (raw) => {
    const parts = raw.routingKey.split('.');
    const agentForm = parts.length === 3 && parts[0] === 'agent' && agentIdFromRoutingKey(raw.routingKey) !== null;
    if (agentForm && !known.has(parts[2]!)) {
      return { ok: false, reason: 'unknown-type', detail: `routing key ${raw.routingKey} names no message type of the protocol` };
    }
    return {
      ok: false,
      reason: 'unroutable',
      detail: agentForm ? `no queue takes ${parts[2]} messages now (routing key ${raw.routingKey})` : `routing key ${JSON.stringify(raw.routingKey.slice(0, 255))} is not agent.<agentId>.<type>`,
    };
  });
}

function agentQueue(
  name: string,
  consume: ConsumeOptions,
  fixedBindings: Binding[] | null,
  read: (raw: InboundMessage, door: AgentDoor) => Parsed<AgentMessage>,
  door: AgentDoor | null = null,
): AgentMessageQueue {
  const definition = defineQueue<AgentMessage, AgentMessage['type']>({
    name,
    types: AGENT_MESSAGE_TYPES,
    parse: (raw) => {
      if (!door) return { ok: false, reason: 'no-door', detail: `${name} is consumed without the agent door (a mistake in the service's setup)` };
      return door.admit(raw) ?? read(raw, door);
    },
    bindingsFor: (type) => (fixedBindings ? [] : [{ exchange: Exchanges.agentInbound, pattern: agentInboundRoutingKey('*', type) }]),
    ...(fixedBindings ? { fixedBindings } : {}),
    consume,
  });
  return {
    ...definition,
    behind: (d) => agentQueue(name, consume, fixedBindings, read, d),
    withConsume: (options) => agentQueue(name, { ...consume, ...options }, fixedBindings, read, door),
  };
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

function typed<M extends { type: string }>(result: { ok: true; message: M } | { ok: false; reason: string; detail: string; subject?: MessageSubject }): Parsed<M> {
  return result.ok ? { ok: true, type: result.message.type, message: result.message } : result;
}
