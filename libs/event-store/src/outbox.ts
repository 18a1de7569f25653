import type { EventStore } from './event-store';
import type { OutboxPublisher } from './outbox-message';
import { BackgroundWorker, type WorkerLogger } from '@herald/common';

export type RelayLogger = WorkerLogger;

export interface OutboxRelayOptions {
  pollIntervalMs?: number;
  batchSize?: number;
  logger?: RelayLogger;
}

interface OutboxRow {
  id: string;
  message_id: string;
  exchange: string;
  routing_key: string;
  delay_ms: number | null;
  type: string;
  correlation_id: string | null;
  headers: Record<string, unknown>;
  payload: unknown;
  attempts: number;
}

/**
 * Publishes outbox rows with publisher confirms and marks them only after the broker confirmed.
 * Messages no queue takes are kept and retried with backoff, so an event published before its
 * consumer's queue exists (a first deployment) is delivered once the queue appears. A crash
 * between confirm and mark republishes the row: consumers de-duplicate by message id.
 * Several instances can relay one outbox: rows are claimed with FOR UPDATE SKIP LOCKED.
 */
export class OutboxRelay extends BackgroundWorker {
  private readonly batchSize: number;
  /** Rows published since start; for metrics. */
  published = 0;

  constructor(
    private readonly store: EventStore,
    private readonly publisher: OutboxPublisher,
    private readonly options: OutboxRelayOptions = {},
  ) {
    // A committed outbox write wakes the relay at once.
    super({ name: 'outbox-relay', idleMs: options.pollIntervalMs ?? 500, logger: options.logger, wakeOn: (wake) => store.onOutboxWrite(wake) });
    this.batchSize = options.batchSize ?? 100;
  }

  protected async pass(): Promise<boolean> {
    return (await this.relayOnce()) === this.batchSize;
  }


  /** Publishes one batch of due rows; returns how many were published. */
  async relayOnce(): Promise<number> {
    return this.store.db.transaction(async (tx) => {
      const rows = await tx.rows<OutboxRow>(
        `SELECT id, message_id, exchange, routing_key, delay_ms, type, correlation_id, headers, payload, attempts
           FROM outbox
          WHERE published_at IS NULL AND next_attempt_at <= now()
          ORDER BY id
          LIMIT $1
          FOR UPDATE SKIP LOCKED`,
        [this.batchSize],
      );
      if (rows.length === 0) return 0;
      // Publishes go out in row order on one channel; confirms are awaited together.
      const results = await Promise.allSettled(rows.map((r) => this.publishRow(r)));
      const done: string[] = [];
      for (const [i, result] of results.entries()) {
        const row = rows[i]!;
        if (result.status === 'fulfilled') {
          done.push(row.id);
          continue;
        }
        const reason = (result.reason as Error).message;
        const attempts = row.attempts + 1;
        if (attempts === 1 || attempts % 10 === 0) {
          this.options.logger?.warn({ messageId: row.message_id, type: row.type, attempts, err: reason }, 'outbox message not published yet; will retry');
        }
        await tx.exec(
          `UPDATE outbox SET attempts = $2, last_error = $3,
                  next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1`,
          [row.id, attempts, reason.slice(0, 1000), Math.min(30, 0.5 * 2 ** Math.min(attempts, 6))],
        );
      }
      if (done.length > 0) await tx.exec('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [done]);
      this.published += done.length;
      return done.length;
    });
  }

  private async publishRow(row: OutboxRow): Promise<void> {
    const body = Buffer.from(JSON.stringify(row.payload));
    const options = {
      messageId: row.message_id,
      type: row.type,
      correlationId: row.correlation_id ?? undefined,
      headers: row.headers,
    };
    if (row.delay_ms !== null) {
      await this.publisher.publishDelayed(row.routing_key, row.delay_ms, body, options);
      return;
    }
    const result = await this.publisher.publish(row.exchange, row.routing_key, body, { ...options, mandatory: true });
    if (!result.routed) throw new Error(`no queue is bound for ${row.exchange || '(default)'} / ${row.routing_key} yet`);
  }

  /** Unpublished rows and the age of the oldest, for health and metrics. */
  async lag(): Promise<{ pending: number; oldestAgeMs: number }> {
    const row = await this.store.db.session((sql) =>
      sql.one<{ pending: string; age_ms: number | null }>(
        `SELECT count(*) AS pending, extract(epoch FROM now() - min(created_at)) * 1000 AS age_ms
           FROM outbox WHERE published_at IS NULL`,
      ),
    );
    return { pending: Number(row?.pending ?? 0), oldestAgeMs: Math.round(Number(row?.age_ms ?? 0)) };
  }
}
