import { PollingLoop } from './polling-loop';

/** What a background worker reports a failed pass to; a pino logger satisfies it. */
export interface WorkerLogger {
  warn(obj: object, msg?: string): void;
}

export interface BackgroundWorkerOptions {
  /** Names the worker in logs. */
  name: string;
  /** Pause after a pass that found nothing more to do. */
  idleMs: number;
  /** Pause after a pass that failed (default: idleMs). */
  errorBackoffMs?: number;
  /** Where a failed pass is reported; the worker carries on after the pause. */
  logger?: WorkerLogger;
  /** False: start() does nothing (a worker switched off by a setting). */
  enabled?: boolean;
  /**
   * Subscribes `wake` to what signals new work (a committed write, say), while the worker runs;
   * returns the unsubscribe. Without it the worker only polls.
   */
  wakeOn?: (wake: () => void) => () => void;
}

/**
 * Work a service repeats in the background from start-up to shutdown: a pass, then a pause that
 * wake() cuts short; never two passes at once, and stop() waits for the pass in progress. A
 * service never starts or stops its workers itself: the platform finds every provider that is a
 * BackgroundWorker, starts them all once the application is up and stops them all, after the
 * message consumers have drained, on shutdown.
 */
export abstract class BackgroundWorker {
  readonly workerName: string;
  private readonly loop: PollingLoop;
  private readonly enabled: boolean;
  private readonly wakeOn: BackgroundWorkerOptions['wakeOn'];
  private unsubscribe: (() => void) | null = null;

  protected constructor(options: BackgroundWorkerOptions) {
    this.workerName = options.name;
    this.enabled = options.enabled ?? true;
    this.wakeOn = options.wakeOn;
    this.loop = new PollingLoop(() => this.pass(), {
      idleMs: options.idleMs,
      errorBackoffMs: options.errorBackoffMs ?? options.idleMs,
      onError: (err) => options.logger?.warn({ worker: options.name, err: err.message }, 'background pass failed; trying again after a pause'),
    });
  }

  /** One pass; true when there may be more to do at once (no pause before the next). */
  protected abstract pass(): Promise<boolean>;

  start(): void {
    if (!this.enabled) return;
    this.unsubscribe ??= this.wakeOn?.(() => this.wake()) ?? null;
    this.loop.start();
  }

  /** Stops after the pass in progress, if any. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = null;
    await this.loop.stop();
  }

  /** Runs the next pass now instead of after the pause. */
  wake(): void {
    this.loop.wake();
  }
}
