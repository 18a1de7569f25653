import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { Database } from '@herald/event-store';
import { ServiceConfig } from '@herald/platform';
import type { NotificationDispatchConfig } from '../config';
import { SettingsService } from '../settings/settings.service';
import { RolloutControl } from './rollout-control';

/** A running rollout whose failures crossed the threshold. */
export interface Crossed {
  rolloutId: string;
  failed: number;
  finished: number;
}

/**
 * The error threshold: every ROLLOUT_GUARD_INTERVAL_MS, the rollouts still in progress and not
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
    return false;
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
