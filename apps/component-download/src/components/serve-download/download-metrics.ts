import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { ServiceMetrics } from '@herald/platform';
import { DownloadSlots } from './download-slots';

/** R6 download slots (read at scrape time), downloads served by delivery, refusals. */
@Injectable()
export class DownloadMetrics implements OnModuleInit {
  served!: Counter<'delivery'>;
  refused!: Counter;
  bytes!: Counter<'delivery'>;
  abandoned!: Counter<'delivery'>;
  patches!: Counter<'format'>;
  coded!: Counter<'coding'>;

  constructor(
    private readonly metrics: ServiceMetrics,
    private readonly slots: DownloadSlots,
  ) {}

  onModuleInit(): void {
    this.metrics.gauge('herald_download_slots', 'Downloads this instance serves at once (DOWNLOAD_SLOTS)', [], async (g) => g.set(this.slots.size));
    this.metrics.gauge('herald_download_slots_in_use', 'Downloads being served now', [], async (g) => g.set(this.slots.stats().inUse));
    this.refused = this.metrics.counter('herald_downloads_refused_total', 'Download requests answered 503 because every slot was taken');
    this.served = this.metrics.counter('herald_downloads_served_total', 'Downloads started for agents, by delivery (full or incremental)', ['delivery']);
    this.bytes = this.metrics.counter('herald_download_bytes_total', 'Bytes sent to agents, by delivery (incremental patches or full files)', ['delivery']);
    this.patches = this.metrics.counter('herald_patches_served_total', 'Patches sent to agents, by patch format (the smallest kept one the agent applies)', ['format']);
    this.coded = this.metrics.counter('herald_full_downloads_coded_total', 'Full files sent compressed (HTTP content coding the agent accepts), by coding', ['coding']);
    this.abandoned = this.metrics.counter('herald_downloads_abandoned_total', 'Downloads the agent went away from before they were done (its timeout, a restart, a cut connection), by delivery', ['delivery']);
  }
}
