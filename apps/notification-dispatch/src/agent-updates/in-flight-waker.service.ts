import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker, chunks } from '@herald/common';
import { CommandHandler, EventStore } from '@herald/event-store';
import { ServiceConfig } from '@herald/platform';
import type { NotificationDispatchConfig } from '../config';
import { SettingsService } from '../settings/settings.service';
import { InFlightSlots } from './in-flight-slots';
import { NOTIFY_CHUNK, workItem } from './work-messages';

/**
 * R6 waves: every DISPATCH_WAVE_DELAY_MS, hands as many waiting attempts back to the work queue
 * as there are free slots, longest-waiting first. Each instance runs one; the advisory lock in
 * InFlightSlots keeps them from handing out the same slots twice.
 */
@Injectable()
export class InFlightWaker extends BackgroundWorker {
  /** Waiting attempts this instance handed back; for metrics. */
  woken = 0;

  constructor(
    @Inject(ServiceConfig) config: NotificationDispatchConfig,
    private readonly commands: CommandHandler,
    private readonly store: EventStore,
    private readonly slots: InFlightSlots,
    private readonly settings: SettingsService,
    log: PinoLogger,
  ) {
    super({ name: 'in-flight-waker', idleMs: config.DISPATCH_WAVE_DELAY_MS, logger: log });
    log.setContext('in-flight-waker');
  }

  protected async pass(): Promise<boolean> {
    await this.wave();
    return false;
  }

  /** One wave: returns how many waiting attempts were handed back. */
  async wave(): Promise<number> {
    const { maxInFlight } = await this.settings.current();
    const woken = await this.commands.transaction(async (tx) => {
      const attempts = await this.slots.wake(tx, maxInFlight);
      // One message per flow and chunk: the woken attempts are then sent hundreds per transaction.
      const byFlow = new Map<string | null, typeof attempts>();
      for (const a of attempts) byFlow.set(a.correlationId, [...(byFlow.get(a.correlationId) ?? []), a]);
      await this.store.enqueue(
        tx,
        [...byFlow].flatMap(([correlationId, woken]) =>
          chunks(woken, NOTIFY_CHUNK).map((group) =>
            workItem(
              { kind: 'send-attempts', attempts: group.map(({ agentId, notificationId, attempt }) => ({ agentId, notificationId, attempt })) },
              { correlationId: correlationId ?? undefined },
            ),
          ),
        ),
      );
      return attempts.length;
    });
    this.woken += woken;
    return woken;
  }
}
