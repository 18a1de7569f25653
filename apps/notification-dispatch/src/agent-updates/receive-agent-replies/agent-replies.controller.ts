import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { PinoLogger } from 'nestjs-pino';
import { type Ack, type AgentMessage, type ScanResult, type UpdateResult, deterministicUuid } from '@herald/contracts';
import { CommandHandler } from '@herald/event-store';
import { Outcome } from '@herald/messaging';
import { Directory } from '../../directory/directory';
import type { DirectoryAgent } from '../../rollouts/rollout.decider';
import { DispatchQueues } from '../../topology';
import type { AgentUpdateCommand } from '../agent-updates.decider';
import { AgentUpdates } from '../agent-updates.service';

const CONSUMER = 'dispatch-agent-replies';

/** Acknowledgements, update results and scan results from agents, into their agent streams. */
@Controller()
export class AgentRepliesController {
  constructor(
    private readonly commands: CommandHandler,
    private readonly directory: Directory,
    private readonly updates: AgentUpdates,
    private readonly log: PinoLogger,
  ) {
    log.setContext('agent-replies');
  }

  /** R4: the agent acknowledged attempt n; resends stop. */
  @EventPattern(DispatchQueues.agentInbound.pattern('ack'))
  onAck(@Payload() ack: Ack): Promise<Outcome> {
    return this.record(ack, () => ({ type: 'RecordAck', agentId: ack.agentId, notificationId: ack.notificationId, attempt: ack.attempt, now: new Date() }));
  }

  /** The agent's update completed or failed (R3 may ask for a scan; R7 may start another round). */
  @EventPattern(DispatchQueues.agentInbound.pattern('update-result'))
  onUpdateResult(@Payload() result: UpdateResult): Promise<Outcome> {
    return this.record(result, (agent) => ({
      type: 'RecordUpdateResult',
      agentId: result.agentId,
      notificationId: result.notificationId,
      outcome: result.outcome,
      applied: result.components,
      installed: result.installed,
      error: result.error,
      independent: agent.independentMode,
      scanId: deterministicUuid('scan-request', result.notificationId),
      now: new Date(),
    }));
  }

  /** R3: the agent ran Scan Now. */
  @EventPattern(DispatchQueues.agentInbound.pattern('scan-result'))
  onScanResult(@Payload() result: ScanResult): Promise<Outcome> {
    const { agentId, scanId, outcome, threatsFound } = result;
    return this.record(result, () => ({ type: 'RecordScanResult', agentId, scanId, outcome, threatsFound, now: new Date() }));
  }

  private record(message: AgentMessage, commandFor: (agent: DirectoryAgent) => AgentUpdateCommand): Promise<Outcome> {
    return this.commands.transaction(async (tx) => {
      const agent = await this.directory.agent(tx, message.agentId);
      if (!agent) return Outcome.park(`unknown-agent: ${message.type} from agent ${message.agentId}, which never said hello`);
      const result = await this.updates.decide(
        commandFor(agent),
        {
          dedupe: { consumer: CONSUMER, messageId: message.messageId },
          metadata: (state) => ({ causationId: message.messageId, correlationId: state.open?.correlationId }),
        },
        tx,
      );
      const decided = result.kind === 'handled' ? result.events.find((e) => e.type === 'UpdateCompleted' || e.type === 'UpdateFailed') : undefined;
      if (decided && message.type === 'update-result') {
        const { agentId, notificationId, outcome, components } = message;
        this.log.info({ correlationId: decided.metadata.correlationId, agentId, notificationId, outcome, components }, 'agent reported its update');
      }
      return Outcome.ack();
    });
  }
}
