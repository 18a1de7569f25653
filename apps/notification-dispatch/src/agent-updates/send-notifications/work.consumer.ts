import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { Exchanges, ScanCommand, UpdateCommand, deterministicUuid } from '@herald/contracts';
import { CommandHandler, EventStore } from '@herald/event-store';
import { AmqpClient, InboundMessage, Outcome, declareWorkQueue } from '@herald/messaging';
import { RUNTIME, ServiceRuntime } from '@herald/platform';
import type { NotificationDispatchConfig } from '../../config';
import { SettingsService, policyOf } from '../../settings/settings.service';
import { DispatchQueues } from '../../topology';
import { agentUpdateWork } from '../agent-update-work';
import { AgentUpdateCommand, AgentUpdateState, agentUpdatesDecider, agentUpdatesStreamId, nextAttempt } from '../agent-updates.decider';
import type { AgentUpdateEvent } from '../agent-updates.events';
import { WorkMessage } from '../work-messages';

/**
 * Carries out dispatch's own work items: open or skip a notification for an agent, send attempt
 * n to the agent's queue (mandatory: no queue means the agent is not connected, a failed
 * attempt), fail an attempt whose acknowledgement deadline passed, send a scan.
 */
@Injectable()
export class WorkConsumer implements OnApplicationBootstrap {
  constructor(
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime<NotificationDispatchConfig>,
    private readonly amqp: AmqpClient,
    private readonly store: EventStore,
    private readonly commands: CommandHandler,
    private readonly settings: SettingsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.amqp.addTopology((ch) => declareWorkQueue(ch, DispatchQueues.work));
    await this.amqp.consume(DispatchQueues.work.name, (m) => this.handle(m), { prefetch: this.runtime.config.DISPATCH_WORK_PREFETCH, retryDelayMs: 1_000 });
  }

  async handle(raw: InboundMessage): Promise<Outcome> {
    let work: WorkMessage;
    try {
      const parsed = WorkMessage.safeParse(JSON.parse(raw.body.toString('utf8')));
      if (!parsed.success) return Outcome.park(`invalid work message: ${parsed.error.issues[0]?.message}`);
      work = parsed.data;
    } catch {
      return Outcome.park('invalid work message: not JSON');
    }
    const metadata = { correlationId: raw.correlationId, causationId: raw.messageId };
    const now = new Date();
    switch (work.kind) {
      case 'target': {
        const settings = await this.settings.current();
        await this.decide(work.agentId, {
          type: 'Target',
          agentId: work.agentId,
          rolloutId: work.rolloutId,
          trigger: 'download',
          components: work.components,
          policy: policyOf(settings),
          notificationId: work.notificationId,
          now,
        }, metadata, raw.messageId);
        return Outcome.ack();
      }
      case 'skip':
        await this.decide(work.agentId, { type: 'Skip', agentId: work.agentId, rolloutId: work.rolloutId, trigger: 'download', reason: work.reason, now }, metadata, raw.messageId);
        return Outcome.ack();
      case 'send-attempt':
        await this.sendAttempt(work.agentId, work.notificationId, work.attempt, metadata);
        return Outcome.ack();
      case 'ack-deadline':
        await this.decide(work.agentId, { type: 'AckDeadlinePassed', agentId: work.agentId, notificationId: work.notificationId, attempt: work.attempt, now }, metadata);
        return Outcome.ack();
      case 'send-scan':
        await this.sendScan(work.agentId, work.scanId, metadata);
        return Outcome.ack();
    }
  }

  private decide(agentId: string, command: AgentUpdateCommand, metadata: Record<string, string | undefined>, dedupeId?: string) {
    return this.commands.handle(agentUpdatesDecider, agentUpdatesStreamId(agentId), command, {
      metadata,
      idempotency: dedupeId ? { consumer: 'dispatch-work', messageId: dedupeId } : undefined,
      outbox: ({ events, after }) => agentUpdateWork(events, after),
    });
  }

  private async state(agentId: string): Promise<AgentUpdateState> {
    const { events } = await this.store.readStream<AgentUpdateEvent>(agentUpdatesStreamId(agentId));
    return events.reduce(agentUpdatesDecider.evolve, agentUpdatesDecider.initialState());
  }

  /**
   * Publishes attempt n with the notification's current target (R7: never a stale version),
   * then records whether a queue took it. A crash in between republishes the same command id,
   * which the agent de-duplicates.
   */
  private async sendAttempt(agentId: string, notificationId: string, attempt: number, metadata: Record<string, string | undefined>): Promise<void> {
    const state = await this.state(agentId);
    if (state.open?.notificationId !== notificationId || nextAttempt(state) !== attempt) return; // stale: superseded or already sent
    const open = state.open;
    const commandId = deterministicUuid('update', notificationId, String(attempt));
    const command: UpdateCommand = {
      type: 'update',
      schemaVersion: 1,
      messageId: commandId,
      commandId,
      agentId,
      notificationId,
      attempt,
      issuedAt: new Date().toISOString(),
      components: open.target,
    };
    const published = await this.amqp.publish(Exchanges.agentCommands, agentId, Buffer.from(JSON.stringify(command)), {
      messageId: commandId,
      type: command.type,
      correlationId: metadata.correlationId,
      mandatory: true,
    });
    await this.decide(
      agentId,
      { type: 'RecordSendOutcome', agentId, notificationId, attempt, commandId, components: open.target, routed: published.routed, now: new Date() },
      metadata,
    );
    this.runtime.logger.debug({ agentId, notificationId, attempt, routed: published.routed, correlationId: metadata.correlationId }, 'update attempt published');
  }

  private async sendScan(agentId: string, scanId: string, metadata: Record<string, string | undefined>): Promise<void> {
    const state = await this.state(agentId);
    const scan = state.pendingScans[scanId];
    if (scan?.status !== 'requested') return;
    const commandId = deterministicUuid('scan', scanId);
    const notificationId = scan.notificationId;
    const command: ScanCommand = {
      type: 'scan',
      schemaVersion: 1,
      messageId: commandId,
      commandId,
      agentId,
      scanId,
      notificationId,
      issuedAt: new Date().toISOString(),
    };
    const published = await this.amqp.publish(Exchanges.agentCommands, agentId, Buffer.from(JSON.stringify(command)), {
      messageId: commandId,
      type: command.type,
      correlationId: metadata.correlationId,
      mandatory: true,
    });
    await this.decide(agentId, { type: 'RecordScanSendOutcome', agentId, scanId, commandId, routed: published.routed, now: new Date() }, metadata);
  }
}
