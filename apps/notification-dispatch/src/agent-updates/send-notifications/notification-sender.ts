import { Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { Exchanges, type FleetTarget, type ScanCommand, type UpdateCommand, deterministicUuid, protocolTarget } from '@herald/contracts';
import type { EventMetadata } from '@herald/domain';
import { CommandHandler, type Tx } from '@herald/event-store';
import { AmqpClient } from '@herald/messaging';
import { SettingsService } from '../../settings/settings.service';
import { type OpenNotification, agentUpdatesStreamId, nextAttempt } from '../agent-updates.decider';
import { type AgentBatch, AgentUpdates } from '../agent-updates.service';
import { type HeldAttempt, HeldAttempts } from '../held-attempts';
import { InFlightSlots, type WaitingAttempt } from '../in-flight-slots';
import { rolloutsOf } from '../open-notifications';

export type Metadata = { correlationId?: string; causationId?: string };

/** An update command to publish once the transaction that recorded its attempt has committed. */
export interface UpdateToPublish {
  agentId: string;
  notificationId: string;
  attempt: number;
  components: FleetTarget[];
  correlationId: string | undefined;
}

export interface RecordDueOptions {
  maxInFlight: number;
  metadata: EventMetadata;
  /**
   * Which attempts recorded before and not acknowledged to publish again: a retried send (its
   * publish may have failed) or a redelivered batch (the process may have stopped before it
   * published). The agent knows a copy by its command id.
   */
  again?: (open: OpenNotification) => boolean;
}

/**
 * Sends update and scan commands to agents. The attempts due are recorded (with their R6 slots)
 * in the transaction of the decisions that made them due, hundreds of agents at a time; the
 * commands are published after it commits, all on the confirm channel at once, so the agent's
 * acknowledgement can never arrive before the record of what it acknowledges, and a crash before
 * the publish is caught by the acknowledgement deadline. A command the broker returns (no live
 * queue) fails its attempt.
 */
@Injectable()
export class NotificationSender {
  /** Attempts put off because every R6 slot was taken; for metrics. */
  deferred = 0;

  constructor(
    private readonly amqp: AmqpClient,
    private readonly commands: CommandHandler,
    private readonly settings: SettingsService,
    private readonly updates: AgentUpdates,
    private readonly slots: InFlightSlots,
    private readonly held: HeldAttempts,
    private readonly log: PinoLogger,
  ) {
    log.setContext('send-notifications');
  }

  /**
   * In the batch's transaction: for each of `agentIds` with an attempt due, an R6 slot, then the
   * attempt recorded as sent with the notification's current target (R7: never a stale version);
   * without a free slot the attempt joins the waiting list (InFlightWaker sends it on), and one of
   * a notification that works for a paused rollout is held (a resume sends it), as is one of an
   * agent outside the canary group of a rollout in its canary phase (the promotion sends it). Returns the
   * commands to publish once the transaction commits.
   */
  async recordDue(tx: Tx, batch: AgentBatch, agentIds: readonly string[], options: RecordDueOptions): Promise<UpdateToPublish[]> {
    const holds = await this.held.holding(tx, agentIds);
    const due: WaitingAttempt[] = [];
    const holding: HeldAttempt[] = [];
    for (const agentId of agentIds) {
      const state = batch.state(agentUpdatesStreamId(agentId));
      const attempt = nextAttempt(state);
      if (!state.open || attempt === null) continue;
      const attemptDue = { agentId, notificationId: state.open.notificationId, attempt, correlationId: state.open.correlationId ?? null };
      const rolloutIds = rolloutsOf(state.open);
      // A paused rollout holds every attempt of a notification that works for it (it would carry its
      // version), and one in its canary phase those of agents outside its canary group.
      if (holds(agentId, rolloutIds)) holding.push({ ...attemptDue, rolloutIds });
      else due.push(attemptDue);
    }
    await this.held.hold(tx, holding);
    const granted = await this.slots.grant(tx, due, options.maxInFlight);
    this.deferred += due.length - granted.size;
    const now = new Date();
    const out: UpdateToPublish[] = [];
    for (const agentId of agentIds) {
      const stream = agentUpdatesStreamId(agentId);
      const before = batch.state(stream).open;
      if (before && granted.has(agentId)) {
        const attempt = nextAttempt(batch.state(stream))!;
        const commandId = deterministicUuid('update', before.notificationId, String(attempt));
        batch.decide(stream, { type: 'RecordAttemptSent', agentId, notificationId: before.notificationId, attempt, commandId, components: before.target, now }, { ...options.metadata, correlationId: before.correlationId ?? options.metadata.correlationId });
        const sent = batch.state(stream).open!;
        out.push({ agentId, notificationId: sent.notificationId, attempt: sent.attempt, components: sent.sent!, correlationId: sent.correlationId });
      } else if (before?.phase === 'awaiting-ack' && before.sent && options.again?.(before)) {
        out.push({ agentId, notificationId: before.notificationId, attempt: before.attempt, components: before.sent, correlationId: before.correlationId });
      }
    }
    return out;
  }

  /**
   * Publishes update commands on the confirm channel, all at once, and waits for every confirm;
   * the attempts the broker returned (the agent has no live queue) fail, in one transaction.
   * Throws when any publish failed: the caller's message is retried, and publishes it again.
   */
  async publish(updates: readonly UpdateToPublish[]): Promise<void> {
    if (updates.length === 0) return;
    const results = await Promise.allSettled(updates.map((u) => this.publishUpdate(u)));
    const returned = updates.filter((_, i) => results[i]!.status === 'fulfilled' && !(results[i] as PromiseFulfilledResult<boolean>).value);
    if (returned.length > 0) {
      const now = new Date();
      await this.commands.transaction((tx) =>
        this.updates.batch(tx, [...new Set(returned.map((u) => u.agentId))], (b) => {
          for (const u of returned) {
            b.decide(agentUpdatesStreamId(u.agentId), { type: 'RecordAttemptReturned', agentId: u.agentId, notificationId: u.notificationId, attempt: u.attempt, now }, { correlationId: u.correlationId });
          }
        }),
      );
    }
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    this.log.debug({ published: updates.length - failed.length, returned: returned.length, failed: failed.length }, 'update commands published');
    if (failed.length > 0) throw new Error(`${failed.length} of ${updates.length} update commands were not published: ${(failed[0]!.reason as Error).message}`);
  }

  /**
   * Attempts that are due (resends, woken attempts, the next round), each named by notification
   * and attempt: recorded in one transaction and published. An attempt no longer due is dropped
   * (superseded, or sent meanwhile); a retry of one recorded and not acknowledged publishes it
   * again.
   */
  async sendAttempts(attempts: ReadonlyArray<{ agentId: string; notificationId: string; attempt: number }>, metadata: Metadata): Promise<void> {
    const { maxInFlight } = await this.settings.current();
    const wanted = new Map(attempts.map((a) => [a.agentId, a]));
    const { result: updates } = await this.commands.transaction(async (tx) =>
      this.updates.batch(tx, [...wanted.keys()], async (b) => {
        const current: string[] = [];
        for (const { agentId, notificationId, attempt } of wanted.values()) {
          const state = b.state(agentUpdatesStreamId(agentId));
          if (state.open?.notificationId === notificationId && (nextAttempt(state) === attempt || state.open.attempt === attempt)) current.push(agentId);
          // Stale: superseded or already past. If it was waiting for a slot, it waits no more.
          else await this.slots.forget(tx, agentId, notificationId);
        }
        const again = (o: OpenNotification) => [...wanted.values()].some((w) => w.notificationId === o.notificationId && w.attempt === o.attempt);
        return this.recordDue(tx, b, current, { maxInFlight, metadata, again });
      }),
    );
    await this.publish(updates);
  }

  /** Publishes one update command; false when the broker returned it (no live queue). */
  private async publishUpdate(u: UpdateToPublish): Promise<boolean> {
    const routed = await this.publishCommand(u);
    this.log.debug({ agentId: u.agentId, notificationId: u.notificationId, attempt: u.attempt, routed, correlationId: u.correlationId }, 'update attempt published');
    return routed;
  }

  private async publishCommand(u: UpdateToPublish): Promise<boolean> {
    const commandId = deterministicUuid('update', u.notificationId, String(u.attempt));
    const command: UpdateCommand = {
      type: 'update',
      schemaVersion: 1,
      messageId: commandId,
      commandId,
      agentId: u.agentId,
      notificationId: u.notificationId,
      attempt: u.attempt,
      issuedAt: new Date().toISOString(),
      components: u.components.map(protocolTarget),
    };
    // A pinned type's version is to be installed even when older than the agent's: a rollback.
    const downgrade = u.components.filter((c) => c.pinned).map((c) => c.type);
    if (downgrade.length > 0) command.downgrade = downgrade;
    const published = await this.amqp.publish(Exchanges.agentOutbound, u.agentId, Buffer.from(JSON.stringify(command)), {
      messageId: commandId,
      type: command.type,
      correlationId: u.correlationId,
      mandatory: true,
    });
    return published.routed;
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
    const published = await this.amqp.publish(Exchanges.agentOutbound, agentId, Buffer.from(JSON.stringify(command)), {
      messageId: commandId,
      type: command.type,
      correlationId: metadata.correlationId,
      mandatory: true,
    });
    if (!published.routed) await this.updates.decide({ type: 'RecordScanReturned', agentId, scanId, now: new Date() }, { metadata });
  }
}
