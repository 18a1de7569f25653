import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { CommandHandler } from '@herald/event-store';
import { deterministicUuid, outdatedComponents } from '@herald/contracts';
import { HeraldContext, Outcome } from '@herald/messaging';
import { Directory } from '../../directory/directory';
import { SettingsService, policyOf } from '../../settings/settings.service';
import { DispatchQueues } from '../../topology';
import { agentUpdatesStreamId } from '../agent-updates.decider';
import { AgentUpdates } from '../agent-updates.service';
import { HeldAttempts } from '../held-attempts';
import type { Work } from '../work-messages';
import { type Metadata, NotificationSender } from './notification-sender';

const CONSUMER = 'dispatch-work';

/**
 * Dispatch's own work items: open or skip a notification for an agent, send attempt n, fail an
 * attempt whose acknowledgement or report deadline passed, send a scan.
 */
@Controller()
export class WorkController {
  constructor(
    private readonly commands: CommandHandler,
    private readonly settings: SettingsService,
    private readonly updates: AgentUpdates,
    private readonly sender: NotificationSender,
    private readonly directory: Directory,
    private readonly held: HeldAttempts,
  ) {}

  /**
   * R1: a chunk of a rollout's agents is targeted, each with every component it is behind on (at
   * the newest version known now: R7), and their first attempts recorded with their R6 slots in
   * one transaction, then published with one wait for the confirms. A redelivered chunk decides
   * nothing twice and publishes again the attempts not acknowledged yet (the publish may not have
   * happened).
   */
  @EventPattern(DispatchQueues.work.pattern('notify'))
  async onNotify(@Payload() work: Work<'notify'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    const settings = await this.settings.current();
    const { rolloutId, retryId } = work;
    const metadata = metadataOf(ctx);
    const now = new Date();
    // An admin's retry opens new notifications; the plan's first ones are named by rollout and agent.
    const notificationIdOf = (agentId: string) => (retryId ? deterministicUuid('notification', rolloutId, agentId, retryId) : deterministicUuid('notification', rolloutId, agentId));
    const updates = await this.commands.transaction(async (tx) => {
      // An aborted rollout notifies no one more (a paused one targets them, and holds their attempts).
      if ((await this.held.stateOf(tx, rolloutId)) === 'aborted') return [];
      const catalog = await this.directory.catalog(tx);
      const agents = await this.directory.agentsByIds(tx, work.agentIds);
      // A pin's rollout takes over an open notification even of an agent already at the pinned version.
      const retarget = work.retarget ? catalog.find((c) => c.type === work.retarget) : undefined;
      const { result } = await this.updates.batch(tx, work.agentIds, (b) => {
        for (const { agentId, components } of agents) {
          const trigger = retryId ? ('admin' as const) : ('download' as const);
          const due = outdatedComponents(components, catalog);
          if (retarget && components.some((c) => c.type === retarget.type) && !due.some((c) => c.type === retarget.type)) due.push(retarget);
          const target = { type: 'Target' as const, agentId, rolloutId, trigger, components: due, policy: policyOf(settings), now };
          b.decide(agentUpdatesStreamId(agentId), { ...target, notificationId: notificationIdOf(agentId) }, metadata);
        }
        return this.sender.recordDue(tx, b, work.agentIds, { maxInFlight: settings.maxInFlight, metadata, again: (o) => o.rolloutIds[0] === rolloutId });
      });
      return result;
    });
    await this.sender.publish(updates);
    return Outcome.ack();
  }

  /** R1: one agent of a rollout's plan is targeted, and its first attempt sent (work of earlier versions; rollouts now go in chunks). */
  @EventPattern(DispatchQueues.work.pattern('target'))
  async onTarget(@Payload() work: Work<'target'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    const settings = await this.settings.current();
    const { agentId, rolloutId, notificationId, components } = work;
    const metadata = metadataOf(ctx);
    // Idempotent without the inbox: the same target again changes nothing, and a redelivery (its
    // publish may have failed) publishes the recorded attempt again.
    const updates = await this.commands.transaction(async (tx) => {
      const { result } = await this.updates.batch(tx, [agentId], (b) => {
        b.decide(agentUpdatesStreamId(agentId), { type: 'Target', agentId, rolloutId, trigger: 'download', components, policy: policyOf(settings), notificationId, now: new Date() }, metadata);
        return this.sender.recordDue(tx, b, [agentId], { maxInFlight: settings.maxInFlight, metadata, again: (o) => o.notificationId === notificationId });
      });
      return result;
    });
    await this.sender.publish(updates);
    return Outcome.ack();
  }

  /** R8: one agent of a rollout's plan is skipped, with its reason (work of earlier versions: skips are facts of the rollout now). */
  @EventPattern(DispatchQueues.work.pattern('skip'))
  async onSkip(@Payload() work: Work<'skip'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    const { agentId, rolloutId, reason } = work;
    await this.updates.decide({ type: 'Skip', agentId, rolloutId, trigger: 'download', reason, now: new Date() }, { metadata: metadataOf(ctx), dedupe: dedupeOf(ctx) });
    return Outcome.ack();
  }

  /** Attempt n is due: at once, after a resend interval (R4) or after a wait for an R6 slot. */
  @EventPattern(DispatchQueues.work.pattern('send-attempt'))
  async onSendAttempt(@Payload() work: Work<'send-attempt'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    await this.sender.sendAttempts([work], metadataOf(ctx));
    return Outcome.ack();
  }

  /** R4: a wave of resends that came due together. */
  @EventPattern(DispatchQueues.work.pattern('send-attempts'))
  async onSendAttempts(@Payload() work: Work<'send-attempts'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    await this.sender.sendAttempts(work.attempts, metadataOf(ctx));
    return Outcome.ack();
  }

  /** R4: attempt n was not acknowledged in time (work of earlier versions: DeadlineSweeper finds them now). */
  @EventPattern(DispatchQueues.work.pattern('ack-deadline'))
  async onAckDeadline(@Payload() work: Work<'ack-deadline'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    const { agentId, notificationId, attempt } = work;
    await this.updates.decide({ type: 'AckDeadlinePassed', agentId, notificationId, attempt, now: new Date() }, { metadata: metadataOf(ctx) });
    return Outcome.ack();
  }

  /** The agent acknowledged but did not report in time (work of earlier versions: DeadlineSweeper finds them now). */
  @EventPattern(DispatchQueues.work.pattern('report-deadline'))
  async onReportDeadline(@Payload() work: Work<'report-deadline'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    const { agentId, notificationId, attempt } = work;
    await this.updates.decide({ type: 'ReportDeadlinePassed', agentId, notificationId, attempt, now: new Date() }, { metadata: metadataOf(ctx) });
    return Outcome.ack();
  }

  /** R3: Scan Now after the update. */
  @EventPattern(DispatchQueues.work.pattern('send-scan'))
  async onSendScan(@Payload() work: Work<'send-scan'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    await this.sender.sendScan(work.agentId, work.scanId, metadataOf(ctx));
    return Outcome.ack();
  }
}

const metadataOf = (ctx: HeraldContext): Metadata => ({ correlationId: ctx.correlationId, causationId: ctx.messageId });
const dedupeOf = (ctx: HeraldContext) => (ctx.messageId ? { consumer: CONSUMER, messageId: ctx.messageId } : undefined);
