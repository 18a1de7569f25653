import { randomUUID } from 'node:crypto';
import {
  AgentId,
  Exchanges,
  MAX_REFUSAL_DETAIL,
  type MessageRefusedCommand,
  REFUSAL_REASONS,
  type RefusalReason,
  agentIdFromRoutingKey,
} from '@herald/contracts';
import { type Logger, type ParkedMessage, type PublishOptions, type PublishResult, silentLogger } from '@herald/messaging';

/** What the notifier publishes through (AmqpClient). */
export interface CommandPublisher {
  publish(exchange: string, routingKey: string, body: Buffer, options: PublishOptions): Promise<PublishResult>;
}

/** What became of one refusal: told now, counted for the next notice, or the notice could not be sent. */
export type RefusalNoticeOutcome = 'sent' | 'suppressed' | 'failed';

export interface RefusalNotifierOptions {
  /** At most one notice per agent this often; 0 turns notices off. */
  intervalMs: number;
  /** The agent queues: refusals in other queues are not the agents' business. */
  queues: readonly string[];
  /** Agents remembered for the rate limit; past it, the one refused longest ago is forgotten. */
  maxAgents?: number;
  /** Notices being published at once; past it, a notice is given up (counted failed). */
  maxInFlight?: number;
  log?: Logger;
  now?: () => number;
  /** Told of every refusal considered and what became of it: the metric. */
  count?: (outcome: RefusalNoticeOutcome) => void;
}

/** Failures to send are summed up in one warning at most this often: they come together (the broker away). */
const FAILURE_LOG_INTERVAL_MS = 10_000;

const REASONS: ReadonlySet<string> = new Set(REFUSAL_REASONS);

/**
 * Tells an agent that a server service refused (parked) one of its messages: a `message-refused`
 * command on herald.agent.outbound, routed to the agent the routing key names (with per-agent
 * broker identities, the one that sent it; never an id the body claims). Best effort: published
 * without `mandatory` (an agent with no queue misses it) and never awaited by the consumer, a
 * failure logged and counted. At most one per agent per `intervalMs`; the refusals in between
 * are counted in the next one's `suppressed`. Neither rate-limited drops (telling a flooding
 * agent would add to the flood) nor the server's own failures (retries-exhausted,
 * unexpected-type, no-door) are told.
 */
export class RefusalNotifier {
  private readonly agents = new Map<string, { lastSentAt: number; suppressed: number }>();
  private readonly queues: ReadonlySet<string>;
  private readonly maxAgents: number;
  private readonly maxInFlight: number;
  private readonly log: Logger;
  private readonly now: () => number;
  private inFlight = 0;
  private failures = 0;
  private lastFailureLog = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly publisher: CommandPublisher,
    private readonly options: RefusalNotifierOptions,
  ) {
    this.queues = new Set(options.queues);
    this.maxAgents = options.maxAgents ?? 10_000;
    this.maxInFlight = options.maxInFlight ?? 256;
    this.log = options.log ?? silentLogger;
    this.now = options.now ?? Date.now;
  }

  get enabled(): boolean {
    return this.options.intervalMs > 0;
  }

  /**
   * The `parked` listener: sends the notice this refusal calls for, if any, without waiting for
   * it. Never throws (a listener that threw would fail the parking of the message).
   */
  onParked(queue: string, reason: string, message: ParkedMessage): void {
    try {
      const notice = this.noticeFor(queue, reason, message);
      if (notice) void this.send(notice);
    } catch (err) {
      this.log.warn({ queue, err: (err as Error).message }, 'could not make a message-refused');
    }
  }

  /**
   * The notice a parked message calls for now, or null: not a refusal to tell, no agent to tell
   * (a routing key without an agent id), notices off, or within the agent's interval (then counted
   * for its next notice).
   */
  noticeFor(queue: string, reason: string, message: ParkedMessage): MessageRefusedCommand | null {
    if (!this.enabled || !this.queues.has(queue)) return null;
    const code = reason.split(':')[0]!.trim();
    if (!REASONS.has(code)) return null;
    const agentId = agentIdFromRoutingKey(message.routingKey);
    if (agentId === null || !AgentId.safeParse(agentId).success) return null;

    const now = this.now();
    const known = this.agents.get(agentId);
    // Delete and set again: the map's order is that of the latest refusal, oldest first.
    this.agents.delete(agentId);
    if (known && now - known.lastSentAt < this.options.intervalMs) {
      this.agents.set(agentId, { lastSentAt: known.lastSentAt, suppressed: known.suppressed + 1 });
      this.options.count?.('suppressed');
      return null;
    }
    this.agents.set(agentId, { lastSentAt: now, suppressed: 0 });
    if (this.agents.size > this.maxAgents) this.agents.delete(this.agents.keys().next().value!);

    const commandId = randomUUID();
    return {
      type: 'message-refused',
      schemaVersion: 1,
      messageId: commandId,
      commandId,
      agentId,
      issuedAt: new Date(now).toISOString(),
      refusedMessageId: shortString(message.subject?.messageId) ?? shortString(message.messageId),
      refusedType: shortString(message.subject?.type) ?? typeInRoutingKey(message.routingKey),
      reason: code as RefusalReason,
      detail: detailFor(code, reason),
      suppressed: known?.suppressed ?? 0,
    };
  }

  /** Publishes a notice to its agent; resolves when it is confirmed or given up, never rejects. */
  async send(notice: MessageRefusedCommand): Promise<void> {
    if (this.inFlight >= this.maxInFlight) {
      this.failed(notice, new Error(`${this.maxInFlight} notices are being sent already`));
      return;
    }
    this.inFlight++;
    try {
      await this.publisher.publish(Exchanges.agentOutbound, notice.agentId, Buffer.from(JSON.stringify(notice)), {
        messageId: notice.commandId,
        type: notice.type,
        contentType: 'application/json',
        // An agent that is not connected has no queue and simply misses it.
        mandatory: false,
      });
      this.options.count?.('sent');
      this.log.debug({ agentId: notice.agentId, reason: notice.reason, refusedMessageId: notice.refusedMessageId, suppressed: notice.suppressed }, 'told the agent its message was refused');
    } catch (err) {
      this.failed(notice, err as Error);
    } finally {
      this.inFlight--;
    }
  }

  private failed(notice: MessageRefusedCommand, err: Error): void {
    this.options.count?.('failed');
    this.failures++;
    const now = this.now();
    if (now - this.lastFailureLog < FAILURE_LOG_INTERVAL_MS) return;
    this.log.warn(
      { agentId: notice.agentId, failed: this.failures, err: err.message },
      `could not send ${this.failures} message-refused notice(s) (the latest to ${notice.agentId}: ${err.message}); the refused messages are parked all the same`,
    );
    this.failures = 0;
    this.lastFailureLog = now;
  }
}

/** A string usable as refusedMessageId or refusedType (an AMQP short string), or null. */
function shortString(value: string | undefined): string | null {
  return typeof value === 'string' && value.length > 0 && value.length <= 255 ? value : null;
}

/** The last part of `agent.<id>.<type>`, or null for a key of another form. */
function typeInRoutingKey(routingKey: string): string | null {
  const parts = routingKey.split('.');
  return parts.length === 3 && parts[0] === 'agent' ? shortString(parts[2]) : null;
}

/**
 * What to tell the agent of a reason "<code>: <detail>". Never the body: a JSON syntax error's
 * message quotes the body, so not-json says only that.
 */
function detailFor(code: string, reason: string): string {
  const detail = reason.slice(reason.indexOf(':') + 1).trim();
  if (code === 'not-json' && detail !== 'the body is not a JSON object') return 'the body is not valid UTF-8 JSON';
  return detail.length > MAX_REFUSAL_DETAIL ? `${detail.slice(0, MAX_REFUSAL_DETAIL - 1)}…` : detail;
}
