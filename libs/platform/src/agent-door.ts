import { TokenBuckets } from '@herald/common';
import { type FreshnessWindow, agentIdFromRoutingKey, checkFreshness } from '@herald/contracts';
import { type InboundMessage, type Logger, type Parsed, silentLogger } from '@herald/messaging';
import type { AgentDoorConfig } from './config';

/** What the agent door lets in (see AgentDoorConfig for each setting). */
export interface AgentDoorSettings {
  maxMessageBytes: number;
  freshness: FreshnessWindow;
  ratePerSecond: number;
  burst: number;
  /** At most one message-refused per agent this often (RefusalNotifier); 0 turns them off. */
  refusalNoticeIntervalMs: number;
}

export function agentDoorSettings(config: AgentDoorConfig): AgentDoorSettings {
  return {
    maxMessageBytes: config.AGENT_MESSAGE_MAX_BYTES,
    freshness: { maxAgeMs: config.AGENT_MESSAGE_MAX_AGE_MS, maxAheadMs: config.AGENT_MESSAGE_MAX_AHEAD_MS },
    ratePerSecond: config.AGENT_RATE_PER_SECOND,
    burst: config.AGENT_RATE_BURST,
    refusalNoticeIntervalMs: config.AGENT_REFUSAL_NOTICE_INTERVAL_MS,
  };
}

/** Of a message refused for its size, this many bytes are parked: enough to see what it was. */
export const PARKED_HEAD_BYTES = 1024;

/** Rate-limited messages are summed up in one log line at most this often, however many agents flood. */
const RATE_LOG_INTERVAL_MS = 10_000;

type Refusal = Extract<Parsed<never>, { ok: false }>;

/**
 * The checks every agent message passes in a service, in memory and before anything else reads
 * it: first the sender's rate (a token bucket per agent id, the id taken from the routing key,
 * so a flood costs no parsing), then the body's size (before JSON.parse), and, once parsed, the
 * freshness of `sentAt`. One door per service instance, shared by all its agent queues, so an
 * agent's rate counts everything it sends to that service.
 *
 * A message over the rate is dropped and counted, not parked: parking it would cost the broker a
 * write per flooded message, make draining the flood (and so reaching the other agents' messages
 * queued behind it) as slow as those writes, and push the messages worth inspecting out of the
 * bounded parking queue. A message over the size limit is parked with its first bytes only.
 */
export class AgentDoor {
  private readonly buckets: TokenBuckets;
  private limited = new Map<string, number>();
  private limitedOthers = 0;
  private windowStart: number;

  constructor(
    readonly settings: AgentDoorSettings,
    private readonly log: Logger = silentLogger,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new TokenBuckets({ ratePerSecond: settings.ratePerSecond, burst: settings.burst });
    this.windowStart = now();
  }

  /**
   * Before the body is read: the sender's rate, then the body's size. Null lets the message in.
   * A retry (back from the queue's delay queue) was let in once and is not charged again.
   */
  admit(raw: InboundMessage): Refusal | null {
    const agent = agentIdFromRoutingKey(raw.routingKey) ?? '(no agent id)';
    const now = this.now();
    if (!raw.retried && !this.buckets.take(agent, now)) {
      this.noteLimited(agent, now);
      return {
        ok: false,
        reason: 'rate-limited',
        detail: `agent ${agent} sends more than ${this.settings.ratePerSecond} messages a second (burst ${this.settings.burst})`,
        drop: true,
      };
    }
    if (raw.body.length > this.settings.maxMessageBytes) {
      return {
        ok: false,
        reason: 'too-large',
        detail: `${raw.body.length} bytes, over AGENT_MESSAGE_MAX_BYTES (${this.settings.maxMessageBytes}); only the first ${PARKED_HEAD_BYTES} are kept`,
        keepBytes: PARKED_HEAD_BYTES,
      };
    }
    return null;
  }

  /** After parsing: whether `sentAt` is inside the freshness window. Null lets the message in. */
  fresh(sentAt: string): Refusal | null {
    return checkFreshness(sentAt, this.now(), this.settings.freshness);
  }

  /** Sums rate-limited messages up by agent and logs them in one line per interval. */
  private noteLimited(agent: string, now: number): void {
    if (this.limited.has(agent) || this.limited.size < 1_000) this.limited.set(agent, (this.limited.get(agent) ?? 0) + 1);
    else this.limitedOthers++;
    if (now - this.windowStart < RATE_LOG_INTERVAL_MS) return;
    const top = [...this.limited].sort((a, b) => b[1] - a[1]).slice(0, 5);
    const total = [...this.limited.values()].reduce((a, b) => a + b, 0) + this.limitedOthers;
    this.log.warn(
      { dropped: total, agents: this.limited.size + (this.limitedOthers > 0 ? 1 : 0), top: Object.fromEntries(top), seconds: Math.round((now - this.windowStart) / 1000) },
      `dropped ${total} messages of agents over their rate (AGENT_RATE_PER_SECOND ${this.settings.ratePerSecond}, burst ${this.settings.burst}); most from ${top.map(([a, n]) => `${a} (${n})`).join(', ')}`,
    );
    this.limited = new Map();
    this.limitedOthers = 0;
    this.windowStart = now;
  }
}
