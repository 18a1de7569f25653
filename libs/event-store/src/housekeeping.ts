import { BackgroundWorker, type WorkerLogger } from '@herald/common';
import type { EventStore } from './event-store';

export interface HousekeepingOptions {
  /** Keep published outbox rows this long (for inspection), then delete them. */
  outboxRetentionMs?: number;
  /**
   * Remember handled message ids this long. Must outlast any redelivery: the longest retry
   * chain of any consumer, with margin.
   */
  inboxRetentionMs?: number;
  intervalMs?: number;
  logger?: WorkerLogger;
}

/** Deletes published outbox rows and old inbox entries, so neither table grows for ever. */
export class Housekeeper extends BackgroundWorker {
  constructor(
    private readonly store: EventStore,
    private readonly options: HousekeepingOptions = {},
  ) {
    super({ name: 'housekeeping', idleMs: options.intervalMs ?? 60_000, logger: options.logger });
  }

  protected async pass(): Promise<boolean> {
    await this.runOnce();
    return false;
  }

  async runOnce(): Promise<{ outbox: number; inbox: number }> {
    const outboxMs = this.options.outboxRetentionMs ?? 24 * 3600_000;
    const inboxMs = this.options.inboxRetentionMs ?? 7 * 24 * 3600_000;
    return this.store.db.session(async (sql) => ({
      outbox: await sql.exec(`DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)`, [outboxMs / 1000]),
      inbox: await sql.exec(`DELETE FROM inbox WHERE processed_at < now() - make_interval(secs => $1)`, [inboxMs / 1000]),
    }));
  }
}
