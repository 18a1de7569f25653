import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { RUNTIME, ServiceRuntime } from '@herald/platform';
import type { ComponentDownloadConfig } from '../../config';
import { UpstreamChecker } from './upstream-checker';

/**
 * Checks upstream every UPSTREAM_CHECK_INTERVAL_MS. A plain interval is enough here: a missed
 * tick loses nothing (the next check sees the same manifest), unlike a per-agent resend.
 */
@Injectable()
export class ScheduledCheckService implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime<ComponentDownloadConfig>,
    private readonly checker: UpstreamChecker,
  ) {}

  onApplicationBootstrap(): void {
    const every = this.runtime.config.UPSTREAM_CHECK_INTERVAL_MS;
    if (every === 0 || !this.runtime.config.UPSTREAM_MANIFEST_URL) return;
    const tick = () => void this.checker.check().catch((err: Error) => this.runtime.logger.warn({ err: err.message }, 'scheduled upstream check failed'));
    this.timer = setInterval(tick, every);
    setTimeout(tick, 1_000).unref();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
