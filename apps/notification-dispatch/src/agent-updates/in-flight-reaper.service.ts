import { Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { Database } from '@herald/event-store';
import { SettingsService } from '../settings/settings.service';
import { InFlightSlots } from './in-flight-slots';

/**
 * Gives back R6 slots that no decision released: one taken just before a crash, whose attempt
 * was then superseded. Anything held past the acknowledgement plus report timeouts is stale.
 */
@Injectable()
export class InFlightReaper extends BackgroundWorker {
  constructor(
    private readonly db: Database,
    private readonly slots: InFlightSlots,
    private readonly settings: SettingsService,
    private readonly log: PinoLogger,
  ) {
    super({ name: 'in-flight-reaper', idleMs: 60_000, logger: log });
    log.setContext('in-flight-reaper');
  }

  protected async pass(): Promise<boolean> {
    await this.reap();
    return false;
  }

  async reap(): Promise<number> {
    const s = await this.settings.current();
    const freed = await this.db.session((sql) => this.slots.reap(sql, s.ackTimeoutSeconds + s.reportTimeoutSeconds + 300));
    if (freed > 0) this.log.warn({ freed }, 'freed in-flight slots nobody released');
    return freed;
  }
}
