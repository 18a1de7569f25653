import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { AgentMessage } from '@herald/contracts';
import { CommandHandler, Database } from '@herald/event-store';
import { AmqpClient, InboundMessage, Outcome, declareWorkQueue } from '@herald/messaging';
import { RUNTIME, ServiceRuntime, agentMessageHandler } from '@herald/platform';
import { PresenceQueues } from '../../topology';
import { AgentCommand, agentDecider, agentStreamId } from '../agent.decider';
import { agentIntegrationEvents } from '../agent-integration-events';

const CONSUMER = 'presence-agent-inbound';
/**
 * Messages are handled concurrently, so an agent's first heartbeat can be looked at while its
 * hello is still being written. A message from an agent not known yet is looked at again this
 * many times, a second apart, before it is parked as coming from an agent that never said hello.
 */
const UNKNOWN_AGENT_LOOKS = 3;
const UNKNOWN_AGENT_RETRY_MS = 1_000;

/** Turns what agents say about themselves into agent events (and heartbeats into last_seen_at). */
@Injectable()
export class AgentInboundConsumer implements OnApplicationBootstrap {
  constructor(
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime,
    private readonly amqp: AmqpClient,
    private readonly db: Database,
    private readonly commands: CommandHandler,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.amqp.addTopology((ch) => declareWorkQueue(ch, PresenceQueues.agentInbound));
    const log = this.runtime.logger.child({ component: 'agent-inbound' });
    await this.amqp.consume(PresenceQueues.agentInbound.name, agentMessageHandler(log, (m, raw) => this.handle(m, raw)), { prefetch: 64 });
  }

  async handle(message: AgentMessage, raw: Pick<InboundMessage, 'attempt'> = { attempt: 1 }): Promise<Outcome> {
    const now = new Date();
    switch (message.type) {
      case 'hello':
        return this.run(message, raw, {
          type: 'RecordHello',
          agentId: message.agentId,
          bootId: message.bootId,
          hostname: message.hostname,
          agentVersion: message.agentVersion,
          independentMode: message.independentMode,
          components: message.components,
          now,
        });
      case 'heartbeat': {
        // The common case touches one row and writes no event.
        const touched = await this.db.session((sql) =>
          sql.exec('UPDATE agents SET last_seen_at = now() WHERE agent_id = $1 AND online AND boot_id = $2', [message.agentId, message.bootId]),
        );
        if (touched === 1) return Outcome.ack();
        return this.run(message, raw, { type: 'RecordHeartbeat', agentId: message.agentId, bootId: message.bootId, now });
      }
      case 'goodbye':
        return this.run(message, raw, { type: 'RecordGoodbye', agentId: message.agentId, bootId: message.bootId, now });
      case 'update-result':
        return this.run(message, raw, { type: 'RecordInstalledComponents', agentId: message.agentId, components: message.installed, now });
      default:
        return Outcome.park(`unexpected-type: ${message.type} on the presence queue`);
    }
  }

  private async run(message: AgentMessage, raw: Pick<InboundMessage, 'attempt'>, command: AgentCommand): Promise<Outcome> {
    if (command.type !== 'RecordHello' && !(await this.isKnown(message.agentId))) {
      if (raw.attempt < UNKNOWN_AGENT_LOOKS) return Outcome.retry(`agent ${message.agentId} not known yet; its hello may be on the way`, UNKNOWN_AGENT_RETRY_MS);
      return Outcome.park(`unknown-agent: ${message.type} from agent ${message.agentId}, which never said hello`);
    }
    await this.commands.handle(agentDecider, agentStreamId(message.agentId), command, {
      idempotency: { consumer: CONSUMER, messageId: message.messageId },
      metadata: { causationId: message.messageId, correlationId: message.type === 'update-result' ? message.notificationId : undefined },
      outbox: ({ events, after }) => agentIntegrationEvents(events, after),
    });
    return Outcome.ack();
  }

  private async isKnown(agentId: string): Promise<boolean> {
    const row = await this.db.session((sql) => sql.one('SELECT 1 FROM agents WHERE agent_id = $1', [agentId]));
    return row !== undefined;
  }
}
