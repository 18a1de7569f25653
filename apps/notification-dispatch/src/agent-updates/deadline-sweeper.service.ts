import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { CommandHandler } from '@herald/event-store';
import { ServiceConfig } from '@herald/platform';
import type { NotificationDispatchConfig } from '../config';
import { agentUpdatesStreamId } from './agent-updates.decider';
import { AgentUpdates } from './agent-updates.service';
import { OpenNotifications } from './open-notifications';

const BATCH = 500;

/**
 * R4 and the report timeout: every DISPATCH_DEADLINE_SWEEP_MS, one query finds the attempts not
 * acknowledged in time and the updates not reported in time, and they fail in one transaction
 * per batch (with their resends scheduled). Instances sweep side by side: a deadline is locked
 * by the one deciding it.
 */
@Injectable()
export class DeadlineSweeper extends BackgroundWorker {
  constructor(
    @Inject(ServiceConfig) config: NotificationDispatchConfig,
    private readonly commands: CommandHandler,
    private readonly updates: AgentUpdates,
    private readonly open: OpenNotifications,
    log: PinoLogger,
  ) {
    super({ name: 'deadline-sweeper', idleMs: config.DISPATCH_DEADLINE_SWEEP_MS, logger: log });
    log.setContext('deadline-sweeper');
  }

  protected async pass(): Promise<boolean> {
    return (await this.sweep()) === BATCH;
  }

  /** Fails up to a batch of attempts and updates whose deadline passed; returns how many. */
  async sweep(): Promise<number> {
    return this.commands.transaction(async (tx) => {
      const deadlines = await this.open.passed(tx, BATCH);
      if (deadlines.length === 0) return 0;
      const now = new Date();
      await this.updates.batch(tx, deadlines.map((d) => d.agentId), (b) => {
        for (const { kind, agentId, notificationId, attempt } of deadlines) {
          const type = kind === 'ack' ? ('AckDeadlinePassed' as const) : ('ReportDeadlinePassed' as const);
          b.decide(agentUpdatesStreamId(agentId), { type, agentId, notificationId, attempt, now });
        }
      });
      return deadlines.length;
    });
  }
}
