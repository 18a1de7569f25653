import { Injectable, OnModuleInit } from '@nestjs/common';
import { Database, EventStore } from '@herald/event-store';
import { RecordedEvent } from '@herald/domain';
import { ServiceMetrics } from '@herald/platform';
import type { AgentUpdateEvent } from './agent-updates/agent-updates.events';
import type { AgentsSkipped, RolloutControlEvent } from './rollouts/rollout.decider';
import { NotificationSender } from './agent-updates/send-notifications/notification-sender';
import { DeadlineSweeper } from './agent-updates/deadline-sweeper.service';

/**
 * Dispatch's metrics, counted from the decisions this instance commits (every instance counts
 * its own; Prometheus sums them) and, for gauges, read from the read models at scrape time.
 */
@Injectable()
export class DispatchMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: ServiceMetrics,
    private readonly store: EventStore,
    private readonly db: Database,
    private readonly sender: NotificationSender,
    private readonly sweeper: DeadlineSweeper,
  ) {}

  onModuleInit(): void {
    const m = this.metrics;
    const sent = m.counter('herald_notifications_sent_total', 'Update attempts published to an agent');
    const failed = m.counter('herald_notifications_failed_total', 'Update attempts that failed, by reason (no-queue, ack-timeout)', ['reason']);
    const acknowledged = m.counter('herald_notifications_acknowledged_total', 'Notifications an agent acknowledged');
    const gaveUp = m.counter('herald_notifications_given_up_total', 'Notifications given up after the last attempt');
    const resends = m.counter('herald_resends_scheduled_total', 'Resends scheduled after a failed attempt');
    const skipped = m.counter('herald_targets_skipped_total', 'Agents not notified, by reason', ['reason']);
    const updates = m.counter('herald_updates_reported_total', 'Update results: completed, failed (for good, after its retries) or retry-scheduled', ['outcome']);
    const scans = m.counter('herald_scans_completed_total', 'Scan Now results, by outcome', ['outcome']);
    const paused = m.counter('herald_rollouts_paused_total', 'Rollouts paused, by reason: admin, or error-threshold (Herald paused it: more of its finished agents failed than the threshold allows)', ['reason']);
    const decisions = m.counter('herald_rollout_decisions_total', "Admins' and the error threshold's decisions on rollouts, by action (paused, resumed, aborted, retried-failed)", ['action']);
    m.gauge('herald_attempts_revived', 'Attempts this instance sent again because nothing would have sent them (a lost follow-up), since start; should stay 0', [], async (g) =>
      g.set(this.sweeper.revived),
    );
    m.gauge('herald_attempts_deferred', 'Attempts this instance put on the R6 waiting list because every slot was taken', [], async (g) => g.set(this.sender.deferred));
    this.store.onAppended((events) => {
      for (const e of events as readonly RecordedEvent<AgentUpdateEvent | AgentsSkipped | RolloutControlEvent>[]) {
        switch (e.type) {
          case 'AttemptSent':
            sent.inc();
            break;
          case 'AttemptFailed':
            failed.inc({ reason: e.data.reason });
            break;
          case 'NotificationAcknowledged':
            acknowledged.inc();
            break;
          case 'NotificationGaveUp':
            gaveUp.inc();
            break;
          case 'ResendScheduled':
            resends.inc();
            break;
          case 'TargetSkipped':
            skipped.inc({ reason: e.data.reason });
            break;
          case 'AgentsSkipped':
            skipped.inc({ reason: e.data.reason }, e.data.agentIds.length);
            break;
          case 'UpdateCompleted':
            updates.inc({ outcome: 'completed' });
            break;
          case 'UpdateFailed':
            updates.inc({ outcome: 'failed' });
            break;
          case 'UpdateRetryScheduled':
            updates.inc({ outcome: 'retry-scheduled' });
            break;
          case 'ScanCompleted':
            scans.inc({ outcome: e.data.outcome });
            break;
          case 'RolloutPaused':
            paused.inc({ reason: e.data.reason });
            decisions.inc({ action: 'paused' });
            break;
          case 'RolloutResumed':
            decisions.inc({ action: 'resumed' });
            break;
          case 'RolloutAborted':
            decisions.inc({ action: 'aborted' });
            break;
          case 'RolloutRetryRequested':
            decisions.inc({ action: 'retried-failed' });
            break;
          default:
            break;
        }
      }
    });
    m.gauge('herald_rollouts_in_progress', 'Rollouts with targeted agents that have no outcome yet', [], async (g) => {
      const row = await this.db.session((sql) =>
        sql.one<{ n: string }>(
          `SELECT count(DISTINCT rollout_id) AS n FROM rollout_agents WHERE targeted AND outcome IS NULL`,
        ),
      );
      g.set(Number(row?.n ?? 0));
    });
    m.gauge('herald_rollouts_paused', 'Rollouts paused now (by an admin or the error threshold)', [], async (g) => {
      const row = await this.db.session((sql) => sql.one<{ n: string }>(`SELECT count(*) AS n FROM rollout_control WHERE state = 'paused'`));
      g.set(Number(row?.n ?? 0));
    });
    m.gauge('herald_attempts_held', 'Update attempts held because a rollout they work for is paused', [], async (g) => {
      const row = await this.db.session((sql) => sql.one<{ n: string }>('SELECT count(*) AS n FROM held_attempts'));
      g.set(Number(row?.n ?? 0));
    });
    m.gauge('herald_agents_in_flight', 'Agents between notified and reported (R6 slots in use)', [], async (g) => {
      const row = await this.db.session((sql) => sql.one<{ n: string }>('SELECT count(*) AS n FROM in_flight WHERE agent_id IS NOT NULL'));
      g.set(Number(row?.n ?? 0));
    });
    m.gauge('herald_attempts_waiting', 'Update attempts waiting for a free R6 slot', [], async (g) => {
      const row = await this.db.session((sql) => sql.one<{ n: string }>('SELECT count(*) AS n FROM in_flight_waiting'));
      g.set(Number(row?.n ?? 0));
    });
  }
}
