import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { PollingLoop } from '@herald/common';
import { CommandHandler, EventStore } from '@herald/event-store';
import { RUNTIME, ServiceRuntime } from '@herald/platform';
import type { NotificationDispatchConfig } from '../config';
import { SettingsService } from '../settings/settings.service';
import { InFlightSlots } from './in-flight-slots';
import { workItem } from './work-messages';

/**
 * R6 waves: every DISPATCH_WAVE_DELAY_MS, hands as many waiting attempts back to the work queue
 * as there are free slots, longest-waiting first. Each instance runs one; the advisory lock in
 * InFlightSlots keeps them from handing out the same slots twice.
 */
@Injectable()
export class InFlightWaker implements OnApplicationBootstrap, OnApplicationShutdown {
  /** Waiting attempts this instance handed back; for metrics. */
  woken = 0;
  private readonly loop: PollingLoop;

  constructor(
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime<NotificationDispatchConfig>,
    private readonly commands: CommandHandler,
    private readonly store: EventStore,
    private readonly slots: InFlightSlots,
    private readonly settings: SettingsService,
  ) {
    this.loop = new PollingLoop(() => this.pass().then(() => false), {
      idleMs: this.runtime.config.DISPATCH_WAVE_DELAY_MS,
      errorBackoffMs: this.runtime.config.DISPATCH_WAVE_DELAY_MS,
      onError: (err) => this.runtime.logger.warn({ err: err.message }, 'could not wake attempts waiting for an R6 slot'),
    });
  }

  onApplicationBootstrap(): void {
    this.loop.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.loop.stop();
  }

  /** One wave: returns how many waiting attempts were handed back. */
  async pass(): Promise<number> {
    const { maxInFlight } = await this.settings.current();
    const woken = await this.commands.transaction(async (tx) => {
      const attempts = await this.slots.wake(tx, maxInFlight);
      await this.store.enqueue(
        tx,
        attempts.map((a) =>
          workItem({ kind: 'send-attempt', agentId: a.agentId, notificationId: a.notificationId, attempt: a.attempt }, { correlationId: a.correlationId ?? undefined }),
        ),
      );
      return attempts.length;
    });
    this.woken += woken;
    return woken;
  }
}
