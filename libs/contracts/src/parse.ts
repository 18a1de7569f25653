import { z } from 'zod';
import { AgentCommand, AgentMessage } from './agent-protocol';
import { IntegrationEvent } from './integration-events';
import { agentIdFromRoutingKey } from './topology';

/** Why a message was refused; becomes the parking reason and a metric label. */
export type RejectReason = 'not-json' | 'unknown-type' | 'unsupported-schema-version' | 'invalid' | 'agent-id-mismatch' | 'stale' | 'from-the-future';

/**
 * What a refused body says it is, as far as it could be read: its `messageId` and `type` when
 * they are strings (of at most 255 characters). Lets the sender be told which message was refused
 * without reading the body again.
 */
export interface BodySubject {
  messageId?: string;
  type?: string;
}

export type ParseResult<T> =
  | { ok: true; message: T }
  | { ok: false; reason: RejectReason; detail: string; subject?: BodySubject };

/** The longest messageId or type a BodySubject keeps: the limit of an AMQP short string. */
const MAX_SUBJECT_LENGTH = 255;

function subjectOf(body: { messageId?: unknown; type?: unknown }): BodySubject {
  const usable = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_SUBJECT_LENGTH;
  return { ...(usable(body.messageId) ? { messageId: body.messageId } : {}), ...(usable(body.type) ? { type: body.type } : {}) };
}

function parseWith<T>(schema: z.ZodType<T>, knownTypes: ReadonlySet<string>, body: Buffer | string): ParseResult<T> {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: 'not-json', detail: (err as Error).message };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: 'not-json', detail: 'the body is not a JSON object' };
  }
  const { type, schemaVersion } = raw as { type?: unknown; schemaVersion?: unknown };
  // Only a refusal needs the subject: a valid message (nearly all of them) pays nothing for it.
  if (typeof type !== 'string' || !knownTypes.has(type)) {
    return { ok: false, reason: 'unknown-type', detail: `unknown message type ${JSON.stringify(type)?.slice(0, 100)}`, subject: subjectOf(raw) };
  }
  if (schemaVersion !== 1) {
    return {
      ok: false,
      reason: 'unsupported-schema-version',
      detail: `schemaVersion ${JSON.stringify(schemaVersion)?.slice(0, 100)} of ${type} is not supported (supported: 1)`,
      subject: subjectOf(raw),
    };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    return { ok: false, reason: 'invalid', detail: z.prettifyError(parsed.error), subject: subjectOf(raw) };
  }
  return { ok: true, message: parsed.data };
}

function typesOf<T extends string>(union: z.ZodDiscriminatedUnion): readonly T[] {
  return union.options.map((o) => String((o as z.ZodObject).shape.type.value) as T);
}

/** Every type of message an agent sends. */
export const AGENT_MESSAGE_TYPES = typesOf<AgentMessage['type']>(AgentMessage);
/** Every type of integration event between the services. */
export const INTEGRATION_EVENT_TYPES = typesOf<IntegrationEvent['type']>(IntegrationEvent);
const agentMessageTypes: ReadonlySet<string> = new Set(AGENT_MESSAGE_TYPES);
const agentCommandTypes: ReadonlySet<string> = new Set(typesOf(AgentCommand));
const integrationEventTypes: ReadonlySet<string> = new Set(INTEGRATION_EVENT_TYPES);

/**
 * Validates a message from an agent, including the rule that the agent id in its routing key
 * and in its body are the same.
 */
export function parseAgentMessage(body: Buffer | string, routingKey: string): ParseResult<AgentMessage> {
  const result = parseWith(AgentMessage, agentMessageTypes, body);
  if (!result.ok) return result;
  const keyAgent = agentIdFromRoutingKey(routingKey);
  if (keyAgent !== result.message.agentId) {
    return {
      ok: false,
      reason: 'agent-id-mismatch',
      detail: `routing key ${routingKey} names agent ${keyAgent ?? '(none)'} but the body names ${result.message.agentId}`,
      subject: subjectOf(result.message),
    };
  }
  const keyType = routingKey.split('.')[2];
  if (keyType !== result.message.type) {
    return { ok: false, reason: 'invalid', detail: `routing key ${routingKey} does not end in the message type ${result.message.type}`, subject: subjectOf(result.message) };
  }
  return result;
}

export function parseAgentCommand(body: Buffer | string): ParseResult<AgentCommand> {
  return parseWith(AgentCommand, agentCommandTypes, body);
}

export function parseIntegrationEvent(body: Buffer | string): ParseResult<IntegrationEvent> {
  return parseWith(IntegrationEvent, integrationEventTypes, body);
}

/** How far from the server's clock an agent message's `sentAt` may be. */
export interface FreshnessWindow {
  /** The oldest a message may be: generous, since messages wait in the broker while a service is down. */
  maxAgeMs: number;
  /** How far ahead of the server's clock a message may claim to be: the clock skew allowed. */
  maxAheadMs: number;
}

/**
 * Whether a message sent at `sentAt` (an RFC 3339 timestamp the schema has accepted) may still
 * be taken at `nowMs`: null when it may, else the refusal.
 */
export function checkFreshness(sentAt: string, nowMs: number, window: FreshnessWindow): { ok: false; reason: 'stale' | 'from-the-future'; detail: string } | null {
  const sent = Date.parse(sentAt);
  if (Number.isNaN(sent)) return { ok: false, reason: 'stale', detail: `sentAt ${sentAt} is not a time` };
  const age = nowMs - sent;
  if (age > window.maxAgeMs) {
    return { ok: false, reason: 'stale', detail: `sent at ${sentAt}, ${describeMs(age)} ago: older than the ${describeMs(window.maxAgeMs)} allowed` };
  }
  if (-age > window.maxAheadMs) {
    return { ok: false, reason: 'from-the-future', detail: `sent at ${sentAt}, ${describeMs(-age)} ahead of the server's clock: more than the ${describeMs(window.maxAheadMs)} allowed` };
  }
  return null;
}

function describeMs(ms: number): string {
  if (ms >= 2 * 86_400_000) return `${Math.round(ms / 86_400_000)} days`;
  if (ms >= 2 * 3_600_000) return `${Math.round(ms / 3_600_000)} h`;
  if (ms >= 2 * 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 1000)} s`;
}
