import type { Logger } from 'pino';
import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { AgentMessage, deterministicUuid } from '@herald/contracts';
import { CommandHandler } from '@herald/event-store';
import { AgentUpdates } from '../agent-updates.service';
import { AmqpClient, Outcome, declareWorkQueue } from '@herald/messaging';
import { RUNTIME, ServiceRuntime, agentMessageHandler } from '@herald/platform';
import { Directory } from '../../directory/directory';
import { DispatchQueues } from '../../topology';
import type { AgentUpdateCommand } from '../agent-updates.decider';

const CONSUMER = 'dispatch-agent-replies';

/** Acknowledgements, update results and scan results from agents, into their agent streams. */
@Injectable()
export class AgentRepliesConsumer implements OnApplicationBootstrap {
  private readonly log: Logger;

  constructor(
    @Inject(RUNTIME) runtime: ServiceRuntime,
    private readonly amqp: AmqpClient,
    private readonly commands: CommandHandler,
    private readonly directory: Directory,
    private readonly updates: AgentUpdates,
  ) {
    this.log = runtime.logger.child({ component: 'agent-replies' });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.amqp.addTopology((ch) => declareWorkQueue(ch, DispatchQueues.agentInbound));
    await this.amqp.consume(DispatchQueues.agentInbound.name, agentMessageHandler(this.log, (m) => this.handle(m)), { prefetch: 64 });
  }

  async handle(message: AgentMessage): Promise<Outcome> {
    return this.commands.transaction(async (tx) => {
      const agent = await this.directory.agent(tx, message.agentId);
      if (!agent) return Outcome.park(`unknown-agent: ${message.type} from agent ${message.agentId}, which never said hello`);
      const now = new Date();
      let command: AgentUpdateCommand;
      switch (message.type) {
        case 'ack':
          command = { type: 'RecordAck', agentId: message.agentId, notificationId: message.notificationId, attempt: message.attempt, now };
          break;
        case 'update-result':
          command = {
            type: 'RecordUpdateResult',
            agentId: message.agentId,
            notificationId: message.notificationId,
            outcome: message.outcome,
            applied: message.components,
            installed: message.installed,
            error: message.error,
            independent: agent.independentMode,
            scanId: deterministicUuid('scan-request', message.notificationId),
            now,
          };
          break;
        case 'scan-result':
          command = {
            type: 'RecordScanResult',
            agentId: message.agentId,
            scanId: message.scanId,
            outcome: message.outcome,
            threatsFound: message.threatsFound,
            now,
          };
          break;
        default:
          return Outcome.park(`unexpected-type: ${message.type} on the dispatch queue`);
      }
      const result = await this.updates.decide(
        command,
        {
          dedupe: { consumer: CONSUMER, messageId: message.messageId },
          metadata: (state) => ({ causationId: message.messageId, correlationId: state.open?.correlationId }),
        },
        tx,
      );
      if (result.kind === 'handled' && message.type === 'update-result') {
        const decided = result.events.find((e) => e.type === 'UpdateCompleted' || e.type === 'UpdateFailed');
        if (decided) {
          this.log.info(
            { correlationId: decided.metadata.correlationId, agentId: message.agentId, notificationId: message.notificationId, outcome: message.outcome, components: message.components },
            'agent reported its update',
          );
        }
      }
      return Outcome.ack();
    });
  }
}
