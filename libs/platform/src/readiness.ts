/**
 * Something a service adds to GET /health/ready beside the database, the broker and the outbox:
 * a provider that extends this class is found by the platform (like a BackgroundWorker) and
 * asked on every readiness probe. Keep `readiness()` cheap (report state kept up to date by a
 * background worker, not a fresh test). /health (liveness) never includes it: a restart would
 * not fix what it reports.
 */
export abstract class ReadinessIndicator {
  /** The key under which the result appears in the health answer. */
  abstract readonly indicatorName: string;

  abstract readiness(): Promise<ReadinessState> | ReadinessState;
}

export interface ReadinessState {
  up: boolean;
  /** Shown with the result; with `up: false`, say why in `message`. */
  data?: Record<string, unknown>;
}
