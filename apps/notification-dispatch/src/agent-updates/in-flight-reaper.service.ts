import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Database } from '@herald/event-store';
import { RUNTIME, ServiceRuntime } from '@herald/platform';
import { SettingsService } from '../settings/settings.service';
import { InFlightSlots } from './in-flight-slots';

/**
 * Gives back R6 slots that no decision released: one taken just before a crash, whose attempt
 * was then superseded. Anything held past the acknowledgement plus report timeouts is stale.
 */
@Injectable()
export class InFlightReaper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime,
    private readonly db: Database,
    private readonly slots: InFlightSlots,
    private readonly settings: SettingsService,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.reap(), 60_000);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async reap(): Promise<number> {
    try {
      const s = await this.settings.current();
      const freed = await this.db.session((sql) => this.slots.reap(sql, s.ackTimeoutSeconds + s.reportTimeoutSeconds + 300));
      if (freed > 0) this.runtime.logger.warn({ freed }, 'freed in-flight slots nobody released');
      return freed;
    } catch (err) {
      this.runtime.logger.warn({ err: (err as Error).message }, 'in-flight reaper failed');
      return 0;
    }
  }
}
