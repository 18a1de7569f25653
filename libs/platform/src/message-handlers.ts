import type { Logger } from 'pino';
import type { AgentMessage, IntegrationEvent} from '@herald/contracts';
import { parseAgentMessage, parseIntegrationEvent } from '@herald/contracts';
import type { InboundMessage, MessageHandler} from '@herald/messaging';
import { Outcome } from '@herald/messaging';

/**
 * Wraps a handler of agent messages: the message is validated first (JSON, known type, schema
 * version, fields, agent id in routing key = agent id in body); anything else is parked with
 * the reason, never handed to the handler.
 */
export function agentMessageHandler(log: Logger, handle: (message: AgentMessage, raw: InboundMessage) => Promise<Outcome>): MessageHandler {
  return async (raw) => {
    const parsed = parseAgentMessage(raw.body, raw.routingKey);
    if (!parsed.ok) {
      log.warn({ queue: raw.queue, routingKey: raw.routingKey, reason: parsed.reason, detail: parsed.detail.slice(0, 500) }, 'refused agent message');
      return Outcome.park(`${parsed.reason}: ${parsed.detail}`);
    }
    return handle(parsed.message, raw);
  };
}

/** The same for integration events between services. */
export function integrationEventHandler(log: Logger, handle: (event: IntegrationEvent, raw: InboundMessage) => Promise<Outcome>): MessageHandler {
  return async (raw) => {
    const parsed = parseIntegrationEvent(raw.body);
    if (!parsed.ok) {
      log.warn({ queue: raw.queue, routingKey: raw.routingKey, reason: parsed.reason, detail: parsed.detail.slice(0, 500) }, 'refused integration event');
      return Outcome.park(`${parsed.reason}: ${parsed.detail}`);
    }
    return handle(parsed.message, raw);
  };
}
