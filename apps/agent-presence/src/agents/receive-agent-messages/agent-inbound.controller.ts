import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { AgentMessage, Goodbye, Heartbeat, Hello, UpdateResult } from '@herald/contracts';
import { CommandHandler, Database } from '@herald/event-store';
import { HeraldContext, Outcome } from '@herald/messaging';
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

/** What agents say about themselves, into agent events (and heartbeats into last_seen_at). */
@Controller()
export class AgentInboundController {
  constructor(
    private readonly db: Database,
    private readonly commands: CommandHandler,
  ) {}

  @EventPattern(PresenceQueues.agentInbound.pattern('hello'))
  onHello(@Payload() hello: Hello, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    const { agentId, bootId, hostname, agentVersion, independentMode, components } = hello;
    return this.record(hello, ctx, { type: 'RecordHello', agentId, bootId, hostname, agentVersion, independentMode, components, now: new Date() });
  }

  @EventPattern(PresenceQueues.agentInbound.pattern('heartbeat'))
  async onHeartbeat(@Payload() heartbeat: Heartbeat, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    // The common case touches one row and writes no event.
    const touched = await this.db.session((sql) =>
      sql.exec('UPDATE agents SET last_seen_at = now() WHERE agent_id = $1 AND online AND boot_id = $2', [heartbeat.agentId, heartbeat.bootId]),
    );
    if (touched === 1) return Outcome.ack();
    return this.record(heartbeat, ctx, { type: 'RecordHeartbeat', agentId: heartbeat.agentId, bootId: heartbeat.bootId, now: new Date() });
  }

  @EventPattern(PresenceQueues.agentInbound.pattern('goodbye'))
  onGoodbye(@Payload() goodbye: Goodbye, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    return this.record(goodbye, ctx, { type: 'RecordGoodbye', agentId: goodbye.agentId, bootId: goodbye.bootId, now: new Date() });
  }

  /** The components an update left installed (dispatch reads the same report for the rules). */
  @EventPattern(PresenceQueues.agentInbound.pattern('update-result'))
  onUpdateResult(@Payload() result: UpdateResult, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    return this.record(result, ctx, { type: 'RecordInstalledComponents', agentId: result.agentId, components: result.installed, now: new Date() });
  }

  private async record(message: AgentMessage, ctx: HeraldContext, command: AgentCommand): Promise<Outcome> {
    if (command.type !== 'RecordHello' && !(await this.isKnown(message.agentId))) {
      if (ctx.attempt < UNKNOWN_AGENT_LOOKS) return Outcome.retry(`agent ${message.agentId} not known yet; its hello may be on the way`, UNKNOWN_AGENT_RETRY_MS);
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
