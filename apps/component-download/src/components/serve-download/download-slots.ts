import { Inject, Injectable } from '@nestjs/common';
import { ServiceConfig } from '@herald/platform';
import type { ComponentDownloadConfig } from '../../config';

/** Counters of the download endpoint, for GET /components/downloads and the tests of R6. */
export interface SlotStats {
  slots: number;
  inUse: number;
  /** The most transfers that ran at once since the process started. */
  peakInUse: number;
  served: number;
  refused: number;
}

/**
 * R6: a counting semaphore over the transfers this process serves. A caller either gets a slot
 * at once or is told to come back (503 + Retry-After): waiting in a queue would hold its
 * connection open, which is exactly what a storm must not do. The limit is per instance; N
 * instances serve N × DOWNLOAD_SLOTS.
 */
@Injectable()
export class DownloadSlots {
  readonly size: number;
  private inUse = 0;
  private peak = 0;
  private served = 0;
  private refused = 0;

  constructor(@Inject(ServiceConfig) config: Pick<ComponentDownloadConfig, 'DOWNLOAD_SLOTS'>) {
    this.size = config.DOWNLOAD_SLOTS;
  }

  /** A release function, or null when every slot is taken. Release is idempotent. */
  tryAcquire(): (() => void) | null {
    if (this.inUse >= this.size) {
      this.refused++;
      return null;
    }
    this.inUse++;
    this.peak = Math.max(this.peak, this.inUse);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      this.served++;
    };
  }

  stats(): SlotStats {
    return { slots: this.size, inUse: this.inUse, peakInUse: this.peak, served: this.served, refused: this.refused };
  }
}
