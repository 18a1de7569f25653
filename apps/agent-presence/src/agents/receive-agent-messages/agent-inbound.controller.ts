import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { AgentMessage, Goodbye, Heartbeat, Hello, UpdateResult } from '@herald/contracts';
import { CommandHandler, Database, EventStore } from '@herald/event-store';
import { HeraldBatchContext, type InboundMessage, Outcome, batchOf } from '@herald/messaging';
import { PresenceQueues } from '../../topology';
import { type AgentCommand, agentDecider, agentStreamId } from '../agent.decider';
import { agentIntegrationEvents } from '../agent-integration-events';

const CONSUMER = 'presence-agent-inbound';
/**
 * Messages are handled concurrently, so an agent's first heartbeat can be looked at while its
 * hello is still being written. A message from an agent not known yet is looked at again this
 * many times, a second apart, before it is parked as coming from an agent that never said hello.
 */
const UNKNOWN_AGENT_LOOKS = 3;
const UNKNOWN_AGENT_RETRY_MS = 1_000;

/** What agents say about themselves is taken hundreds at a time: one transaction per batch. */
const MESSAGES = batchOf({ maxMessages: 200, maxWaitMs: 20 });
/** Heartbeats only move last_seen_at: up to 1,000 of them in one statement, at most a second late. */
const HEARTBEATS = batchOf({ maxMessages: 1_000, maxWaitMs: 1_000 });

/** By agent id; a stable sort keeps each agent's messages in arrival order. */
const byAgent = (a: { agentId: string }, b: { agentId: string }) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0);

/** What agents say about themselves, into agent events (and heartbeats into last_seen_at). */
@Controller()
export class AgentInboundController {
  constructor(
    private readonly db: Database,
    private readonly store: EventStore,
    private readonly commands: CommandHandler,
  ) {}

  @EventPattern(PresenceQueues.agentInbound.pattern('hello'), MESSAGES)
  onHellos(@Payload() hellos: Hello[], @Ctx() ctx: HeraldBatchContext): Promise<Outcome[]> {
    return this.record(hellos, ctx.messages, (h, now) => ({ type: 'RecordHello', agentId: h.agentId, bootId: h.bootId, hostname: h.hostname, agentVersion: h.agentVersion, independentMode: h.independentMode, components: h.components, labels: h.labels ?? {}, patchFormats: h.patchFormats ?? null, now }));
  }

  @EventPattern(PresenceQueues.agentInbound.pattern('goodbye'), MESSAGES)
  onGoodbyes(@Payload() goodbyes: Goodbye[], @Ctx() ctx: HeraldBatchContext): Promise<Outcome[]> {
    return this.record(goodbyes, ctx.messages, (g, now) => ({ type: 'RecordGoodbye', agentId: g.agentId, bootId: g.bootId, now }));
  }

  /** The components an update left installed (dispatch reads the same report for the rules). */
  @EventPattern(PresenceQueues.agentInbound.pattern('update-result'), MESSAGES)
  onUpdateResults(@Payload() results: UpdateResult[], @Ctx() ctx: HeraldBatchContext): Promise<Outcome[]> {
    return this.record(results, ctx.messages, (r, now) => ({ type: 'RecordInstalledComponents', agentId: r.agentId, components: r.installed, now }));
  }

  /**
   * Heartbeats, on a queue of their own so they never hold up registration: one statement moves
   * last_seen_at for every online agent of the batch on its current boot, committed without
   * waiting for the disk (telemetry: a crash loses a second of it, nothing else). Only an agent the
   * server had given up on (or restarted without a hello) becomes an event.
   */
  @EventPattern(PresenceQueues.heartbeats.pattern('heartbeat'), HEARTBEATS)
  async onHeartbeats(@Payload() heartbeats: Heartbeat[], @Ctx() ctx: HeraldBatchContext): Promise<Outcome[]> {
    // One row per agent and boot (an agent beats more than once a batch), locked in id order so
    // concurrent batches never deadlock.
    const beats = [...new Map(heartbeats.map((h) => [`${h.agentId}\u0000${h.bootId}`, h])).values()].sort(byAgent);
    const seen = await this.commands.transaction(async (tx) => {
      await tx.exec('SET LOCAL synchronous_commit = off');
      const rows = await tx.rows<{ agent_id: string; boot_id: string }>(
        `WITH beating AS (
           SELECT a.agent_id FROM agents a JOIN unnest($1::text[], $2::text[]) AS h(agent_id, boot_id)
             ON a.agent_id = h.agent_id AND a.boot_id = h.boot_id
            WHERE a.online ORDER BY a.agent_id FOR UPDATE OF a)
         UPDATE agents a SET last_seen_at = now() FROM beating b WHERE a.agent_id = b.agent_id RETURNING a.agent_id, a.boot_id`,
        [beats.map((h) => h.agentId), beats.map((h) => h.bootId)],
      );
      return new Set(rows.map((r) => `${r.agent_id}\u0000${r.boot_id}`));
    });
    const news = heartbeats.map((h, i) => ({ h, raw: ctx.messages[i]! })).filter(({ h }) => !seen.has(`${h.agentId}\u0000${h.bootId}`));
    const outcomes = await this.record(
      news.map((n) => n.h),
      news.map((n) => n.raw),
      (h, now) => ({ type: 'RecordHeartbeat', agentId: h.agentId, bootId: h.bootId, now }),
    );
    const byMessage = new Map(news.map((n, i) => [n.h.messageId, outcomes[i]!]));
    return heartbeats.map((h) => byMessage.get(h.messageId) ?? Outcome.ack());
  }

  /**
   * One transaction for a batch: each message not handled before is decided on its agent's stream
   * (in arrival order) and what the other services must hear goes to the outbox. A message other
   * than a hello from an agent not known yet is looked at again a little later, then parked.
   */
  private async record<M extends AgentMessage>(messages: M[], raws: readonly InboundMessage[], commandFor: (message: M, now: Date) => AgentCommand): Promise<Outcome[]> {
    if (messages.length === 0) return [];
    const known = await this.known(messages.filter((m) => m.type !== 'hello').map((m) => m.agentId));
    const outcomes = messages.map((m, i): Outcome | null => {
      if (m.type === 'hello' || known.has(m.agentId)) return null;
      if (raws[i]!.attempt < UNKNOWN_AGENT_LOOKS) return Outcome.retry(`agent ${m.agentId} not known yet; its hello may be on the way`, UNKNOWN_AGENT_RETRY_MS);
      return Outcome.park(`unknown-agent: ${m.type} from agent ${m.agentId}, which never said hello`);
    });
    // In agent id order (each agent's messages in arrival order): concurrent batches write the
    // agents' rows in the same order and never deadlock.
    const handled = messages.filter((_, i) => outcomes[i] === null).sort(byAgent);
    const now = new Date();
    await this.commands.transaction(async (tx) => {
      // Concurrent batches holding messages of one agent (a chatty or a flooding one) take turns
      // on its row instead of racing on its stream: a batch that keeps losing that race fails, and
      // every other agent's message in it waits for a retry (found by test/agent-door.e2e-spec.ts).
      // Row locks, in id order like every writer of these rows, so nothing deadlocks.
      await tx.rows('SELECT 1 FROM agents WHERE agent_id = ANY($1::text[]) ORDER BY agent_id FOR UPDATE', [[...new Set(handled.map((m) => m.agentId))]]);
      const fresh = await this.store.markProcessedMany(tx, CONSUMER, handled.map((m) => m.messageId));
      const streams = [...new Set(handled.map((m) => agentStreamId(m.agentId)))];
      await this.commands.batchIn(
        tx,
        agentDecider,
        streams,
        (b) => {
          for (const m of handled) {
            if (!fresh.has(m.messageId)) continue;
            const correlationId = m.type === 'update-result' ? m.notificationId : undefined;
            b.decide(agentStreamId(m.agentId), commandFor(m, now), { causationId: m.messageId, correlationId });
          }
        },
        { outbox: ({ streams: decided }) => decided.flatMap((s) => agentIntegrationEvents(s.events, s.after)) },
      );
    });
    return outcomes.map((o) => o ?? Outcome.ack());
  }

  private async known(agentIds: readonly string[]): Promise<Set<string>> {
    if (agentIds.length === 0) return new Set();
    const rows = await this.db.session((sql) => sql.rows<{ agent_id: string }>('SELECT agent_id FROM agents WHERE agent_id = ANY($1)', [[...new Set(agentIds)]]));
    return new Set(rows.map((r) => r.agent_id));
  }
}
