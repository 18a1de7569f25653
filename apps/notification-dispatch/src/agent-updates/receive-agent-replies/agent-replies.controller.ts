import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { PinoLogger } from 'nestjs-pino';
import { type Ack, type AgentMessage, type ScanResult, type UpdateResult, deterministicUuid } from '@herald/contracts';
import { CommandHandler, EventStore } from '@herald/event-store';
import { Outcome, batchOf } from '@herald/messaging';
import { Directory } from '../../directory/directory';
import type { DirectoryAgent } from '../../rollouts/rollout.decider';
import { DispatchQueues } from '../../topology';
import { type AgentUpdateCommand, agentUpdatesStreamId } from '../agent-updates.decider';
import { AgentUpdates } from '../agent-updates.service';

const CONSUMER = 'dispatch-agent-replies';

/** Replies are taken hundreds at a time: one transaction per batch, not per agent. */
const REPLIES = batchOf({ maxMessages: 200, maxWaitMs: 20 });

/** Acknowledgements, update results and scan results from agents, into their agent streams. */
@Controller()
export class AgentRepliesController {
  constructor(
    private readonly store: EventStore,
    private readonly commands: CommandHandler,
    private readonly directory: Directory,
    private readonly updates: AgentUpdates,
    private readonly log: PinoLogger,
  ) {
    log.setContext('agent-replies');
  }

  /** R4: agents acknowledged attempt n; their resends stop. */
  @EventPattern(DispatchQueues.agentInbound.pattern('ack'), REPLIES)
  onAcks(@Payload() acks: Ack[]): Promise<Outcome[]> {
    return this.record(acks, (ack, now) => ({ type: 'RecordAck', agentId: ack.agentId, notificationId: ack.notificationId, attempt: ack.attempt, now }));
  }

  /** Agents' updates completed or failed (R3 may ask for a scan; R7 may start another round). */
  @EventPattern(DispatchQueues.agentInbound.pattern('update-result'), REPLIES)
  onUpdateResults(@Payload() results: UpdateResult[]): Promise<Outcome[]> {
    return this.record(results, (result, now, agent) => ({
      type: 'RecordUpdateResult',
      agentId: result.agentId,
      notificationId: result.notificationId,
      outcome: result.outcome,
      applied: result.components,
      installed: result.installed,
      error: result.error,
      commandId: result.commandId,
      independent: agent.independentMode,
      scanId: deterministicUuid('scan-request', result.notificationId),
      now,
    }));
  }

  /** R3: agents ran Scan Now. */
  @EventPattern(DispatchQueues.agentInbound.pattern('scan-result'), REPLIES)
  onScanResults(@Payload() results: ScanResult[]): Promise<Outcome[]> {
    return this.record(results, ({ agentId, scanId, outcome, threatsFound }, now) => ({ type: 'RecordScanResult', agentId, scanId, outcome, threatsFound, now }));
  }

  /**
   * One transaction for a batch of replies: each from an agent dispatch knows, and not handled
   * before, is decided on its agent's stream (in arrival order); one from an unknown agent is
   * parked. One outcome per message.
   */
  private record<M extends AgentMessage>(messages: M[], commandFor: (message: M, now: Date, agent: DirectoryAgent) => AgentUpdateCommand): Promise<Outcome[]> {
    const now = new Date();
    return this.commands.transaction(async (tx) => {
      const agents = new Map((await this.directory.agentsByIds(tx, [...new Set(messages.map((m) => m.agentId))])).map((a) => [a.agentId, a]));
      const known = messages.filter((m) => agents.has(m.agentId));
      const fresh = await this.store.markProcessedMany(tx, CONSUMER, known.map((m) => m.messageId));
      // In agent id order (each agent's replies in arrival order), as every batch writes its rows.
      const handled = known.filter((m) => fresh.has(m.messageId)).sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
      const { streams } = await this.updates.batch(tx, [...new Set(handled.map((m) => m.agentId))], (b) => {
        for (const m of handled) {
          const stream = agentUpdatesStreamId(m.agentId);
          b.decide(stream, commandFor(m, now, agents.get(m.agentId)!), { causationId: m.messageId, correlationId: b.state(stream).open?.correlationId });
        }
      });
      for (const e of streams.flatMap((s) => s.events)) {
        if (e.type === 'UpdateCompleted' || e.type === 'UpdateFailed') {
          const { agentId, notificationId } = e.data;
          const outcome = e.type === 'UpdateCompleted' ? 'completed' : 'failed';
          const components = e.type === 'UpdateCompleted' ? e.data.components : undefined;
          this.log.info({ correlationId: e.metadata.correlationId, agentId, notificationId, outcome, components }, 'agent reported its update');
        }
      }
      return messages.map((m) => (agents.has(m.agentId) ? Outcome.ack() : Outcome.park(`unknown-agent: ${m.type} from agent ${m.agentId}, which never said hello`)));
    });
  }
}
