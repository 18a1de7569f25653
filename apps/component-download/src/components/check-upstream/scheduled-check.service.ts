import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { ServiceConfig } from '@herald/platform';
import type { ComponentDownloadConfig } from '../../config';
import { UpstreamChecker } from './upstream-checker';

/**
 * Checks upstream at start-up and then every UPSTREAM_CHECK_INTERVAL_MS (0: never). A missed
 * check loses nothing (the next sees the same manifest), unlike a per-agent resend.
 */
@Injectable()
export class ScheduledCheckService extends BackgroundWorker {
  constructor(
    @Inject(ServiceConfig) config: ComponentDownloadConfig,
    private readonly checker: UpstreamChecker,
    log: PinoLogger,
  ) {
    const every = config.UPSTREAM_CHECK_INTERVAL_MS;
    super({ name: 'scheduled-upstream-check', idleMs: every, enabled: every > 0 && config.UPSTREAM_MANIFEST_URL !== undefined, logger: log });
    log.setContext('upstream');
  }

  protected async pass(): Promise<boolean> {
    await this.checker.check();
    return false;
  }
}
