import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { CommandHandler, EventStore } from '@herald/event-store';
import { ServiceConfig } from '@herald/platform';
import type { NotificationDispatchConfig } from '../config';
import { agentUpdatesStreamId } from './agent-updates.decider';
import { AgentUpdates } from './agent-updates.service';
import { OpenNotifications } from './open-notifications';
import { NOTIFY_CHUNK, workItem } from './work-messages';

const BATCH = 500;

/**
 * R4 and the report timeout: every DISPATCH_DEADLINE_SWEEP_MS, one query finds the attempts not
 * acknowledged in time and the updates not reported in time, and they fail in one transaction
 * per batch (with their resends scheduled). Instances sweep side by side: a deadline is locked
 * by the one deciding it. It also sends again, as a safety net, an attempt that has had no way
 * forward for DISPATCH_STUCK_SEND_AFTER_MS (see OpenNotifications.orphanedSends).
 */
@Injectable()
export class DeadlineSweeper extends BackgroundWorker {
  /** Attempts this instance sent again because nothing else would have; for metrics. */
  revived = 0;
  private readonly stuckAfterSeconds: number;

  constructor(
    @Inject(ServiceConfig) config: NotificationDispatchConfig,
    private readonly commands: CommandHandler,
    private readonly store: EventStore,
    private readonly updates: AgentUpdates,
    private readonly open: OpenNotifications,
    private readonly log: PinoLogger,
  ) {
    super({ name: 'deadline-sweeper', idleMs: config.DISPATCH_DEADLINE_SWEEP_MS, logger: log });
    log.setContext('deadline-sweeper');
    this.stuckAfterSeconds = config.DISPATCH_STUCK_SEND_AFTER_MS / 1000;
  }

  protected async pass(): Promise<boolean> {
    const swept = await this.sweep();
    const revived = await this.revive();
    return swept === BATCH || revived === NOTIFY_CHUNK;
  }

  /** Sends again up to a chunk of attempts that nothing would send (one work message); returns how many. */
  async revive(): Promise<number> {
    const stuck = await this.commands.transaction(async (tx) => {
      const orphans = await this.open.orphanedSends(tx, this.stuckAfterSeconds, NOTIFY_CHUNK);
      if (orphans.length > 0) await this.store.enqueue(tx, [workItem({ kind: 'send-attempts', attempts: orphans })]);
      return orphans;
    });
    if (stuck.length > 0) {
      this.revived += stuck.length;
      this.log.warn({ attempts: stuck.length, agents: stuck.slice(0, 10).map((s) => s.agentId) }, 'attempts with no way forward sent again (a lost follow-up; please report)');
    }
    return stuck.length;
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
