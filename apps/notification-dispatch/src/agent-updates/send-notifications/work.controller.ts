import { Controller } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { HeraldContext, Outcome } from '@herald/messaging';
import { SettingsService, policyOf } from '../../settings/settings.service';
import { DispatchQueues } from '../../topology';
import { AgentUpdates } from '../agent-updates.service';
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
    private readonly settings: SettingsService,
    private readonly updates: AgentUpdates,
    private readonly sender: NotificationSender,
  ) {}

  /** R1: one agent of a rollout's plan is targeted. */
  @EventPattern(DispatchQueues.work.pattern('target'))
  async onTarget(@Payload() work: Work<'target'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    const policy = policyOf(await this.settings.current());
    const { agentId, rolloutId, notificationId, components } = work;
    await this.updates.decide({ type: 'Target', agentId, rolloutId, trigger: 'download', components, policy, notificationId, now: new Date() }, { metadata: metadataOf(ctx), dedupe: dedupeOf(ctx) });
    return Outcome.ack();
  }

  /** R8: one agent of a rollout's plan is skipped, with its reason. */
  @EventPattern(DispatchQueues.work.pattern('skip'))
  async onSkip(@Payload() work: Work<'skip'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    const { agentId, rolloutId, reason } = work;
    await this.updates.decide({ type: 'Skip', agentId, rolloutId, trigger: 'download', reason, now: new Date() }, { metadata: metadataOf(ctx), dedupe: dedupeOf(ctx) });
    return Outcome.ack();
  }

  /** Attempt n is due: at once, after a resend interval (R4) or after a wait for an R6 slot. */
  @EventPattern(DispatchQueues.work.pattern('send-attempt'))
  async onSendAttempt(@Payload() work: Work<'send-attempt'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    await this.sender.sendAttempt(work.agentId, work.notificationId, work.attempt, metadataOf(ctx));
    return Outcome.ack();
  }

  /** R4: attempt n was not acknowledged in time. */
  @EventPattern(DispatchQueues.work.pattern('ack-deadline'))
  async onAckDeadline(@Payload() work: Work<'ack-deadline'>, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    const { agentId, notificationId, attempt } = work;
    await this.updates.decide({ type: 'AckDeadlinePassed', agentId, notificationId, attempt, now: new Date() }, { metadata: metadataOf(ctx) });
    return Outcome.ack();
  }

  /** The agent acknowledged but did not report in time. */
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
