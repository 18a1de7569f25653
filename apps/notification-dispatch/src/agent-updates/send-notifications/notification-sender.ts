import { Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { type ComponentTarget, Exchanges, type ScanCommand, type UpdateCommand, deterministicUuid } from '@herald/contracts';
import { CommandHandler, Database } from '@herald/event-store';
import { AmqpClient } from '@herald/messaging';
import { SettingsService } from '../../settings/settings.service';
import { nextAttempt } from '../agent-updates.decider';
import { AgentUpdates } from '../agent-updates.service';
import { InFlightSlots } from '../in-flight-slots';

export type Metadata = { correlationId?: string; causationId?: string };

/**
 * Sends update and scan commands to agents' queues (mandatory: no queue means the agent is not
 * connected, and the attempt failed).
 */
@Injectable()
export class NotificationSender {
  /** Attempts put off because every R6 slot was taken; for metrics. */
  deferred = 0;

  constructor(
    private readonly amqp: AmqpClient,
    private readonly db: Database,
    private readonly commands: CommandHandler,
    private readonly settings: SettingsService,
    private readonly updates: AgentUpdates,
    private readonly slots: InFlightSlots,
    private readonly log: PinoLogger,
  ) {
    log.setContext('send-notifications');
  }

  /**
   * Sends attempt n with the notification's current target (R7: never a stale version). The
   * attempt is recorded first (with its acknowledgement deadline), then published, so the agent's
   * acknowledgement can never arrive before the record of what it acknowledges; a crash before the
   * publish is caught by that deadline. A returned message (no live queue) fails the attempt.
   * Without a free R6 slot the attempt waits on the R6 waiting list (InFlightWaker).
   */
  async sendAttempt(agentId: string, notificationId: string, attempt: number, metadata: Metadata): Promise<void> {
    const state = await this.updates.state(agentId);
    const open = state.open;
    if (open?.notificationId === notificationId && open.phase === 'awaiting-ack' && open.attempt === attempt && open.sent) {
      // Recorded as sent, not acknowledged: this is a retry after the publish failed (or a copy of
      // a send that went out). Publish it again at once; the agent knows a copy by its command id.
      await this.publishUpdate(agentId, notificationId, attempt, open.sent, metadata);
      return;
    }
    if (open?.notificationId !== notificationId || nextAttempt(state) !== attempt) {
      // Stale: superseded or already sent. If it was waiting for a slot, it waits no more.
      await this.db.session((sql) => this.slots.forget(sql, agentId, notificationId));
      return;
    }
    const components = open.target;
    const commandId = deterministicUuid('update', notificationId, String(attempt));
    const { maxInFlight } = await this.settings.current();
    const recorded = await this.commands.transaction(async (tx) => {
      const waiting = { agentId, notificationId, attempt, correlationId: metadata.correlationId ?? null };
      // Every slot taken: the attempt joins the waiting list, and the waker sends it on when one frees.
      if (!(await this.slots.tryAcquire(tx, waiting, maxInFlight))) return 'deferred' as const;
      const result = await this.updates.decide({ type: 'RecordAttemptSent', agentId, notificationId, attempt, commandId, components, now: new Date() }, { metadata }, tx);
      if (result.kind === 'handled' && result.events.length > 0) return 'sent' as const;
      // No longer due (decided elsewhere since the state was read): the slot taken above goes back.
      if (result.kind === 'handled') await this.slots.sync(tx, agentId, result.state);
      return 'stale' as const;
    });
    if (recorded === 'deferred') this.deferred++;
    if (recorded === 'sent') await this.publishUpdate(agentId, notificationId, attempt, components, metadata);
  }

  /** Publishes attempt n; a message the broker returns (no live queue) fails the attempt. */
  private async publishUpdate(agentId: string, notificationId: string, attempt: number, components: ComponentTarget[], metadata: Metadata): Promise<void> {
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
      components,
    };
    const published = await this.amqp.publish(Exchanges.agentCommands, agentId, Buffer.from(JSON.stringify(command)), {
      messageId: commandId,
      type: command.type,
      correlationId: metadata.correlationId,
      mandatory: true,
    });
    if (!published.routed) await this.updates.decide({ type: 'RecordAttemptReturned', agentId, notificationId, attempt, now: new Date() }, { metadata });
    this.log.debug({ agentId, notificationId, attempt, routed: published.routed, correlationId: metadata.correlationId }, 'update attempt published');
  }

  /** R3: sends Scan Now for a scan the decider requested. */
  async sendScan(agentId: string, scanId: string, metadata: Metadata): Promise<void> {
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
