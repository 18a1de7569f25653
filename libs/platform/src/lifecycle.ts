import { type BeforeApplicationShutdown, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { HeraldTransport } from '@herald/messaging';

/**
 * The one place a service's background work starts and stops. Every provider that is a
 * BackgroundWorker (the outbox relay, the projection runner, housekeeping, and each service's
 * own: sweepers, reapers, wakers, scheduled checks) is started once the application is up.
 * On shutdown the message consumers stop first and their handlers in flight finish (they still
 * need the workers' tables and the connections), then every worker stops after its pass in
 * progress; the event store and messaging modules close the database and the broker last.
 */
@Injectable()
export class ServiceLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private workers: BackgroundWorker[] = [];

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly transport: HeraldTransport,
    private readonly log: PinoLogger,
  ) {
    log.setContext('lifecycle');
  }

  onApplicationBootstrap(): void {
    const found = this.discovery
      .getProviders()
      .filter((w) => w.isDependencyTreeStatic())
      .map((w) => w.instance as unknown)
      .filter((i): i is BackgroundWorker => i instanceof BackgroundWorker);
    this.workers = [...new Set(found)];
    for (const w of this.workers) w.start();
    this.log.debug({ workers: this.workers.map((w) => w.workerName) }, 'background workers started');
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.transport.close();
    await Promise.all(this.workers.map((w) => w.stop()));
  }
}
