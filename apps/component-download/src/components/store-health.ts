import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import type { Counter } from 'prom-client';
import type { Logger } from 'pino';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { ReadinessIndicator, type ReadinessState, ServiceConfig, ServiceMetrics } from '@herald/platform';
import type { ComponentDownloadConfig } from '../config';
import { BlobStore } from './blob-store';
import { type StorageFaultError, type StorageFaultKind, asStorageFault } from './storage-faults';

/** What uses the store, as the `operation` label of herald_storage_faults_total. */
export type StoreOperation = 'check' | 'download' | 'patches' | 'collect' | 'probe' | 'startup';

export interface StoreState {
  writable: boolean;
  /** Why not, while not writable. */
  fault?: StorageFaultKind;
  message?: string;
  /** When the store last became writable or stopped being so. */
  since: string;
  checkedAt: string | null;
  freeBytes: number | null;
}

/** Kinds that say the store as a whole is in trouble (a probe then runs at once), not one file. */
const STORE_WIDE: ReadonlySet<StorageFaultKind> = new Set(['read-only', 'full', 'permission', 'io']);

/**
 * Whether the component store takes writes, kept up to date: a small file is written and removed
 * every STORE_PROBE_INTERVAL_MS, and at once when a check, a download or a patch pass meets a
 * fault of the store. Every fault is counted (herald_storage_faults_total, by kind and
 * operation) and logged; the state is /health/ready's `componentStore`. When a probe succeeds
 * again after failing, the service recovers by itself: what waits for the disk (patch building)
 * is resumed by the listeners of `onRecovered`.
 */
@Injectable()
export class StoreHealth extends BackgroundWorker implements OnModuleInit {
  private readonly log: Logger;
  private current: StoreState = { writable: true, since: new Date().toISOString(), checkedAt: null, freeBytes: null };
  private running: Promise<StoreState> | null = null;
  private readonly recovered: Array<() => void> = [];
  private faults!: Counter<'kind' | 'operation'>;

  constructor(
    @Inject(ServiceConfig) config: ComponentDownloadConfig,
    private readonly blobs: BlobStore,
    private readonly metrics: ServiceMetrics,
    log: PinoLogger,
  ) {
    super({ name: 'component-store-probe', idleMs: config.STORE_PROBE_INTERVAL_MS, logger: log.logger });
    this.log = log.logger.child({ component: 'component-store' });
  }

  onModuleInit(): void {
    this.faults = this.metrics.counter('herald_storage_faults_total', 'Faults of the component store met, by kind (read-only, full, permission, io, missing, corrupt) and operation', [
      'kind',
      'operation',
    ]);
    this.metrics.gauge('herald_component_store_writable', '1 while the component store takes writes (the last probe succeeded)', [], async (g) => g.set(this.current.writable ? 1 : 0));
    this.metrics.gauge('herald_component_store_free_bytes', 'Bytes free in the component store at the last probe', [], async (g) => {
      if (this.current.freeBytes !== null) g.set(this.current.freeBytes);
    });
  }

  get state(): StoreState {
    return this.current;
  }

  get writable(): boolean {
    return this.current.writable;
  }

  /** Called after a probe finds the store writable again. */
  onRecovered(listener: () => void): void {
    this.recovered.push(listener);
  }

  /**
   * Counts and logs a fault met by `operation`; returns it as a StorageFaultError, or null when
   * `err` is not a fault of the store (then nothing is counted). A store-wide fault probes now.
   */
  fault(operation: StoreOperation, err: unknown, doing: string = operation, writing = false): StorageFaultError | null {
    const fault = asStorageFault(err, doing, writing);
    if (!fault) return null;
    this.faults.inc({ kind: fault.kind, operation });
    this.log.warn({ operation, fault: fault.kind, code: fault.code, err: fault.message }, 'component store fault');
    if (STORE_WIDE.has(fault.kind)) this.wake();
    return fault;
  }

  /** Tests the store now (joins a test already running). */
  probe(): Promise<StoreState> {
    this.running ??= this.runProbe().finally(() => (this.running = null));
    return this.running;
  }

  protected async pass(): Promise<boolean> {
    await this.probe();
    return false;
  }

  private async runProbe(): Promise<StoreState> {
    const now = new Date().toISOString();
    const was = this.current;
    try {
      const { freeBytes } = await this.blobs.probe();
      this.current = { writable: true, since: was.writable ? was.since : now, checkedAt: now, freeBytes };
      if (!was.writable) {
        this.log.info({ down: was.fault, sinceDown: was.since, freeBytes }, 'component store writable again');
        for (const listener of this.recovered) listener();
      }
    } catch (err) {
      const fault = asStorageFault(err, 'writing a probe file', true);
      const kind = fault?.kind ?? 'io';
      const message = fault?.message ?? `the component store could not be tested: ${(err as Error).message}`;
      const freeBytes = await this.blobs.freeBytes().catch(() => null);
      if (was.writable || was.fault !== kind) {
        this.faults.inc({ kind, operation: 'probe' });
        this.log.error({ fault: kind, err: message, freeBytes }, 'component store does not take writes: checks fail and /health/ready is down until it does');
      }
      this.current = { writable: false, fault: kind, message, since: was.writable ? now : was.since, checkedAt: now, freeBytes };
    }
    return this.current;
  }
}

/** /health/ready's `componentStore`: down, with the reason, while the store does not take writes. */
@Injectable()
export class StoreReadiness extends ReadinessIndicator {
  readonly indicatorName = 'componentStore';

  constructor(private readonly store: StoreHealth) {
    super();
  }

  readiness(): ReadinessState {
    const s = this.store.state;
    const data = { writable: s.writable, freeBytes: s.freeBytes, checkedAt: s.checkedAt, since: s.since };
    return s.writable ? { up: true, data } : { up: false, data: { ...data, fault: s.fault, message: s.message } };
  }
}
