import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { Exchanges, ScanCommand, UpdateCommand, deterministicUuid } from '@herald/contracts';
import { CommandHandler, Database } from '@herald/event-store';
import { AmqpClient, InboundMessage, Outcome, declareWorkQueue } from '@herald/messaging';
import { RUNTIME, ServiceRuntime } from '@herald/platform';
import type { NotificationDispatchConfig } from '../../config';
import { SettingsService, policyOf } from '../../settings/settings.service';
import { DispatchQueues } from '../../topology';
import { nextAttempt } from '../agent-updates.decider';
import { AgentUpdates } from '../agent-updates.service';
import { InFlightSlots } from '../in-flight-slots';
import { WorkMessage } from '../work-messages';

type Metadata = { correlationId?: string; causationId?: string };

/**
 * Carries out dispatch's own work items: open or skip a notification for an agent, send attempt
 * n to the agent's queue (mandatory: no queue means the agent is not connected, a failed
 * attempt), fail an attempt whose acknowledgement or report deadline passed, send a scan.
 */
@Injectable()
export class WorkConsumer implements OnApplicationBootstrap {
  /** Attempts put off because every R6 slot was taken; for metrics. */
  deferred = 0;

  constructor(
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime<NotificationDispatchConfig>,
    private readonly amqp: AmqpClient,
    private readonly db: Database,
    private readonly commands: CommandHandler,
    private readonly settings: SettingsService,
    private readonly updates: AgentUpdates,
    private readonly slots: InFlightSlots,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.amqp.addTopology((ch) => declareWorkQueue(ch, DispatchQueues.work));
    await this.amqp.consume(DispatchQueues.work.name, (m) => this.handle(m), { prefetch: this.runtime.config.DISPATCH_WORK_PREFETCH, retryDelayMs: 1_000 });
  }

  async handle(raw: InboundMessage): Promise<Outcome> {
    let work: WorkMessage;
    try {
      const parsed = WorkMessage.safeParse(JSON.parse(raw.body.toString('utf8')));
      if (!parsed.success) return Outcome.park(`invalid: work message: ${parsed.error.issues[0]?.message}`);
      work = parsed.data;
    } catch {
      return Outcome.park('not-json: work message');
    }
    const metadata: Metadata = { correlationId: raw.correlationId, causationId: raw.messageId };
    const dedupe = raw.messageId ? { consumer: 'dispatch-work', messageId: raw.messageId } : undefined;
    const { agentId } = work;
    const now = new Date();
    switch (work.kind) {
      case 'target': {
        const policy = policyOf(await this.settings.current());
        const { notificationId, rolloutId, components } = work;
        await this.updates.decide({ type: 'Target', agentId, rolloutId, trigger: 'download', components, policy, notificationId, now }, { metadata, dedupe });
        break;
      }
      case 'skip':
        await this.updates.decide({ type: 'Skip', agentId, rolloutId: work.rolloutId, trigger: 'download', reason: work.reason, now }, { metadata, dedupe });
        break;
      case 'send-attempt':
        await this.sendAttempt(agentId, work.notificationId, work.attempt, metadata);
        break;
      case 'ack-deadline':
        await this.updates.decide({ type: 'AckDeadlinePassed', agentId, notificationId: work.notificationId, attempt: work.attempt, now }, { metadata });
        break;
      case 'report-deadline':
        await this.updates.decide({ type: 'ReportDeadlinePassed', agentId, notificationId: work.notificationId, attempt: work.attempt, now }, { metadata });
        break;
      case 'send-scan':
        await this.sendScan(agentId, work.scanId, metadata);
        break;
    }
    return Outcome.ack();
  }

  /**
   * Sends attempt n with the notification's current target (R7: never a stale version). The
   * attempt is recorded first (with its acknowledgement deadline), then published, so the agent's
   * acknowledgement can never arrive before the record of what it acknowledges; a crash before the
   * publish is caught by that deadline. A returned message (no live queue) fails the attempt.
   * Without a free R6 slot the attempt waits on the R6 waiting list (InFlightWaker).
   */
  private async sendAttempt(agentId: string, notificationId: string, attempt: number, metadata: Metadata): Promise<void> {
    const state = await this.updates.state(agentId);
    if (state.open?.notificationId !== notificationId || nextAttempt(state) !== attempt) {
      // Stale: superseded or already sent. If it was waiting for a slot, it waits no more.
      await this.db.session((sql) => this.slots.forget(sql, agentId, notificationId));
      return;
    }
    const components = state.open.target;
    const commandId = deterministicUuid('update', notificationId, String(attempt));
    const { maxInFlight } = await this.settings.current();
    const recorded = await this.commands.transaction(async (tx) => {
      const waiting = { agentId, notificationId, attempt, correlationId: metadata.correlationId ?? null };
      // Every slot taken: the attempt joins the waiting list, and the waker sends it on when one frees.
      if (!(await this.slots.tryAcquire(tx, waiting, maxInFlight))) return 'deferred' as const;
      const result = await this.updates.decide({ type: 'RecordAttemptSent', agentId, notificationId, attempt, commandId, components, now: new Date() }, { metadata }, tx);
      return result.kind === 'handled' && result.events.length > 0 ? ('sent' as const) : ('stale' as const);
    });
    if (recorded === 'deferred') this.deferred++;
    if (recorded !== 'sent') return;
    const command: UpdateCommand = {
      type: 'update',
      schemaVersion: 1,
      messageId: commandId,
      commandId,
      agentId,
      notificationId,
      attempt,
      issuedAt: new Date().toISOString(),
      components,
    };
    const published = await this.amqp.publish(Exchanges.agentCommands, agentId, Buffer.from(JSON.stringify(command)), {
      messageId: commandId,
      type: command.type,
      correlationId: metadata.correlationId,
      mandatory: true,
    });
    if (!published.routed) await this.updates.decide({ type: 'RecordAttemptReturned', agentId, notificationId, attempt, now: new Date() }, { metadata });
    this.runtime.logger.debug({ agentId, notificationId, attempt, routed: published.routed, correlationId: metadata.correlationId }, 'update attempt published');
  }

  private async sendScan(agentId: string, scanId: string, metadata: Metadata): Promise<void> {
    const state = await this.updates.state(agentId);
    const scan = state.pendingScans[scanId];
    if (scan?.status !== 'requested') return;
    const commandId = deterministicUuid('scan', scanId);
    const sent = await this.updates.decide({ type: 'RecordScanSent', agentId, scanId, commandId, now: new Date() }, { metadata });
    if (sent.kind !== 'handled' || sent.events.length === 0) return;
    const command: ScanCommand = {
      type: 'scan',
      schemaVersion: 1,
      messageId: commandId,
      commandId,
      agentId,
      scanId,
      notificationId: scan.notificationId,
      issuedAt: new Date().toISOString(),
    };
    const published = await this.amqp.publish(Exchanges.agentCommands, agentId, Buffer.from(JSON.stringify(command)), {
      messageId: commandId,
      type: command.type,
      correlationId: metadata.correlationId,
      mandatory: true,
    });
    if (!published.routed) await this.updates.decide({ type: 'RecordScanReturned', agentId, scanId, now: new Date() }, { metadata });
  }
}
