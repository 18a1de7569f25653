import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { Database } from '@herald/event-store';
import { ServiceConfig } from '@herald/platform';
import type { NotificationDispatchConfig } from '../config';
import { SettingsService } from '../settings/settings.service';
import { canaryPassed } from './canary';
import { RolloutControl } from './rollout-control';

/** A running rollout whose failures crossed the threshold. */
export interface Crossed {
  rolloutId: string;
  failed: number;
  finished: number;
}

/**
 * The error threshold and the canary: every ROLLOUT_GUARD_INTERVAL_MS, the rollouts still in progress and not
 * paused are measured (failed agents against finished ones, since the last resume), and one over
 * the threshold is paused by Herald, with the numbers in the event. Only rollouts with agents in
 * progress are measured (an index finds them), so finished history costs nothing. Instances may
 * check side by side: the second pause of a rollout changes nothing.
 */
@Injectable()
export class RolloutGuard extends BackgroundWorker {
  constructor(
    @Inject(ServiceConfig) config: NotificationDispatchConfig,
    private readonly db: Database,
    private readonly settings: SettingsService,
    private readonly control: RolloutControl,
    private readonly log: PinoLogger,
  ) {
    super({ name: 'rollout-guard', idleMs: config.ROLLOUT_GUARD_INTERVAL_MS, logger: log });
    log.setContext('rollout-guard');
  }

  protected async pass(): Promise<boolean> {
    await this.check();
    await this.checkCanaries();
    await this.checkCompleted();
    return false;
  }

  /**
   * Rollouts whose every targeted agent has an outcome (the whole plan projected) are recorded as
   * completed, with how their agents ended (RolloutCompleted; webhooks tell it). Only rollouts not
   * completed yet are looked at (an index finds them).
   */
  async checkCompleted(): Promise<string[]> {
    const rows = await this.db.session((sql) =>
      sql.rows<{ rollout_id: string; targeted: string; updated: string; failed: string; gave_up: string; already_up_to_date: string; superseded: string; aborted: string }>(
        `SELECT r.rollout_id, count(ra.agent_id) AS targeted,
                count(*) FILTER (WHERE ra.outcome = 'updated') AS updated, count(*) FILTER (WHERE ra.outcome = 'failed') AS failed,
                count(*) FILTER (WHERE ra.outcome = 'gave-up') AS gave_up, count(*) FILTER (WHERE ra.outcome = 'already-up-to-date') AS already_up_to_date,
                count(*) FILTER (WHERE ra.outcome = 'superseded') AS superseded, count(*) FILTER (WHERE ra.outcome = 'aborted') AS aborted
           FROM rollouts r LEFT JOIN rollout_agents ra ON ra.rollout_id = r.rollout_id AND ra.targeted
          WHERE r.completed_at IS NULL AND r.notify_on_download
          GROUP BY r.rollout_id, r.planned_targets
         HAVING count(*) FILTER (WHERE ra.via = 'plan') >= r.planned_targets AND count(*) FILTER (WHERE ra.agent_id IS NOT NULL AND ra.outcome IS NULL) = 0`,
      ),
    );
    const completed: string[] = [];
    for (const r of rows) {
      const outcomes = {
        targeted: Number(r.targeted),
        updated: Number(r.updated),
        failed: Number(r.failed),
        gaveUp: Number(r.gave_up),
        alreadyUpToDate: Number(r.already_up_to_date),
        superseded: Number(r.superseded),
        aborted: Number(r.aborted),
      };
      if (!(await this.control.complete(r.rollout_id, outcomes))) continue;
      this.log.info({ rolloutId: r.rollout_id, ...outcomes }, 'rollout completed');
      completed.push(r.rollout_id);
    }
    return completed;
  }

  /**
   * Rollouts in their canary phase and running: one whose group reached the success threshold is
   * promoted (automatic approval) or waits for an admin (manual); one whose whole group finished
   * short of it is paused, with the numbers. Returns what it decided, by rollout.
   */
  async checkCanaries(): Promise<Array<{ rolloutId: string; decision: 'promoted' | 'awaiting-approval' | 'paused' }>> {
    const rows = await this.db.session((sql) =>
      sql.rows<{ rollout_id: string; success_percent: number; approval: 'automatic' | 'manual'; canary: string; succeeded: string; finished: string }>(
        `SELECT c.rollout_id, c.canary_success_percent AS success_percent, c.canary_approval AS approval,
                count(*) AS canary, count(*) FILTER (WHERE ra.outcome IN ('updated', 'already-up-to-date')) AS succeeded,
                count(*) FILTER (WHERE ra.outcome IS NOT NULL) AS finished
           FROM rollout_control c JOIN rollout_canary k ON k.rollout_id = c.rollout_id
                LEFT JOIN rollout_agents ra ON ra.rollout_id = k.rollout_id AND ra.agent_id = k.agent_id
          WHERE c.phase = 'canary' AND c.state = 'running'
          GROUP BY c.rollout_id, c.canary_success_percent, c.canary_approval`,
      ),
    );
    const decided: Array<{ rolloutId: string; decision: 'promoted' | 'awaiting-approval' | 'paused' }> = [];
    for (const r of rows) {
      const counts = { succeeded: Number(r.succeeded), canary: Number(r.canary), successPercent: r.success_percent };
      if (canaryPassed(counts.succeeded, counts.canary, counts.successPercent)) {
        const result = r.approval === 'automatic' ? await this.control.promote(r.rollout_id, 'herald') : await this.control.passCanary(r.rollout_id, counts);
        if (!result.changed) continue;
        this.log.info({ rolloutId: r.rollout_id, ...counts }, r.approval === 'automatic' ? 'canary passed: rollout promoted' : 'canary passed: awaiting approval');
        decided.push({ rolloutId: r.rollout_id, decision: r.approval === 'automatic' ? 'promoted' : 'awaiting-approval' });
      } else if (Number(r.finished) === counts.canary && !(await this.pausedForCanaryBefore(r.rollout_id))) {
        const result = await this.control.pause(r.rollout_id, { by: 'herald', reason: 'canary-failed', note: null, ...counts });
        if (!result.changed) continue;
        this.log.warn({ rolloutId: r.rollout_id, ...counts }, 'rollout paused: its canary did not pass');
        decided.push({ rolloutId: r.rollout_id, decision: 'paused' });
      }
    }
    return decided;
  }

  /** A canary that failed pauses its rollout once: after a resume, the admin decides (promote, retry the failed, abort). */
  private async pausedForCanaryBefore(rolloutId: string): Promise<boolean> {
    const row = await this.db.session((sql) =>
      sql.one(`SELECT 1 FROM rollout_decisions WHERE rollout_id = $1 AND action = 'paused' AND details->>'trigger' = 'canary-failed' LIMIT 1`, [rolloutId]),
    );
    return row !== undefined && row !== null;
  }

  /** Pauses every rollout over the threshold now; returns those it paused. */
  async check(): Promise<Crossed[]> {
    const { rolloutErrorThresholdPercent: percent, rolloutErrorThresholdMinFinished: minFinished } = await this.settings.current();
    if (percent <= 0) return [];
    const crossed = await this.db.session((sql) =>
      sql.rows<{ rollout_id: string; failed: string; finished: string }>(
        `SELECT ra.rollout_id, count(*) FILTER (WHERE ra.outcome = 'failed') - coalesce(max(c.failed_base), 0) AS failed,
                count(*) FILTER (WHERE ra.outcome IS NOT NULL AND ra.outcome <> 'aborted') - coalesce(max(c.finished_base), 0) AS finished
           FROM rollout_agents ra LEFT JOIN rollout_control c USING (rollout_id)
          WHERE ra.targeted AND ra.rollout_id IN (SELECT DISTINCT rollout_id FROM rollout_agents WHERE targeted AND outcome IS NULL)
            AND coalesce(c.state, 'running') = 'running'
          GROUP BY ra.rollout_id`,
      ),
    );
    const paused: Crossed[] = [];
    for (const r of crossed) {
      const failed = Number(r.failed);
      const finished = Number(r.finished);
      if (finished < minFinished || failed * 100 <= percent * finished) continue;
      const result = await this.control.pause(r.rollout_id, { by: 'herald', reason: 'error-threshold', note: null, failed, finished, thresholdPercent: percent });
      if (!result.changed) continue;
      this.log.warn({ rolloutId: r.rollout_id, failed, finished, thresholdPercent: percent }, 'rollout paused: its failures crossed the error threshold');
      paused.push({ rolloutId: r.rollout_id, failed, finished });
    }
    return paused;
  }
}
