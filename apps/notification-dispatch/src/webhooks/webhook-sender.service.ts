import { createHmac } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import type { Counter } from 'prom-client';
import { BackgroundWorker, redactUrl } from '@herald/common';
import { Database } from '@herald/event-store';
import { ServiceConfig, ServiceMetrics } from '@herald/platform';
import type { NotificationDispatchConfig } from '../config';

/** Deliveries claimed per pass (sent side by side). */
const BATCH = 20;
/** The longest wait between two attempts of a delivery. */
const MAX_DELAY_MS = 3600_000;

interface Due {
  delivery_id: string;
  event_id: string;
  event_type: string;
  attempts: number;
  payload: unknown;
  url: string;
  secret: string;
}

/** The signature header's value: HMAC-SHA256 of `<timestamp>.<body>` with the webhook's secret (docs/webhooks.md). */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** The wait before attempt n + 1 after attempt n failed: the delay doubling, plus up to a fifth of it at random. */
export function webhookRetryDelayMs(baseMs: number, attempt: number, random = Math.random()): number {
  const delay = Math.min(MAX_DELAY_MS, baseMs * 2 ** (attempt - 1));
  return Math.round(delay * (1 + 0.2 * random));
}

/**
 * Sends the webhooks' deliveries: each pass claims the due ones (FOR UPDATE SKIP LOCKED, and a
 * lease, so instances side by side never send one twice at once), POSTs them signed, and records
 * the outcome. A 2xx answer delivers; anything else (an error status, no answer in
 * WEBHOOK_TIMEOUT_MS, a refused connection) is tried again after WEBHOOK_RETRY_DELAY_MS doubling,
 * up to WEBHOOK_MAX_ATTEMPTS, then the delivery is failed. Every attempt's outcome is kept.
 */
@Injectable()
export class WebhookSender extends BackgroundWorker {
  private readonly outcomes: Counter<'outcome'>;

  constructor(
    @Inject(ServiceConfig) private readonly config: NotificationDispatchConfig,
    private readonly db: Database,
    metrics: ServiceMetrics,
    private readonly log: PinoLogger,
  ) {
    super({ name: 'webhook-sender', idleMs: config.WEBHOOK_POLL_INTERVAL_MS, logger: log });
    log.setContext('webhooks');
    this.outcomes = metrics.counter('herald_webhook_attempts_total', 'Webhook delivery attempts, by outcome: delivered, retry (failed, to be tried again), failed (the last attempt failed)', ['outcome']);
    metrics.gauge('herald_webhook_deliveries_pending', 'Webhook deliveries not delivered yet (waiting for their next attempt)', [], async (g) => {
      const row = await this.db.session((sql) => sql.one<{ n: string }>(`SELECT count(*) AS n FROM webhook_deliveries WHERE status = 'pending'`));
      g.set(Number(row?.n ?? 0));
    });
  }

  protected async pass(): Promise<boolean> {
    const leaseSeconds = Math.ceil(this.config.WEBHOOK_TIMEOUT_MS / 1000) + 30;
    const due = await this.db.transaction((tx) =>
      tx.rows<Due>(
        `UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
           FROM webhooks w, webhook_secrets s
          WHERE d.delivery_id IN (SELECT delivery_id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= now()
                                   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            AND w.webhook_id = d.webhook_id AND s.webhook_id = d.webhook_id
          RETURNING d.delivery_id, d.event_id, d.event_type, d.attempts, d.payload, w.url, s.secret`,
        [BATCH, leaseSeconds],
      ),
    );
    await Promise.all(due.map((d) => this.send(d)));
    return due.length === BATCH;
  }

  private async send(d: Due): Promise<void> {
    const body = JSON.stringify(d.payload);
    const timestamp = Math.floor(Date.now() / 1000);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        redirect: 'manual',
        signal: AbortSignal.timeout(this.config.WEBHOOK_TIMEOUT_MS),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Herald-Webhooks/1',
          'x-herald-event': d.event_type,
          'x-herald-delivery': d.event_id,
          'x-herald-timestamp': String(timestamp),
          'x-herald-signature': webhookSignature(d.secret, timestamp, body),
        },
        body,
      });
      status = res.status;
      await res.body?.cancel();
      if (status < 200 || status > 299) error = `HTTP ${status}`;
    } catch (err) {
      const e = err as Error & { cause?: Error };
      error = e.name === 'TimeoutError' ? `no answer within ${this.config.WEBHOOK_TIMEOUT_MS} ms` : (e.cause?.message ?? e.message);
    }
    if (!error) {
      await this.db.session((sql) =>
        sql.exec(`UPDATE webhook_deliveries SET status = 'delivered', last_status = $2, last_error = NULL, delivered_at = now() WHERE delivery_id = $1`, [d.delivery_id, status]),
      );
      this.outcomes.inc({ outcome: 'delivered' });
      return;
    }
    const last = d.attempts >= this.config.WEBHOOK_MAX_ATTEMPTS;
    await this.db.session((sql) =>
      sql.exec(
        `UPDATE webhook_deliveries SET status = $2, last_status = $3, last_error = $4, next_attempt_at = now() + make_interval(secs => $5) WHERE delivery_id = $1`,
        [d.delivery_id, last ? 'failed' : 'pending', status, error, webhookRetryDelayMs(this.config.WEBHOOK_RETRY_DELAY_MS, d.attempts) / 1000],
      ),
    );
    this.outcomes.inc({ outcome: last ? 'failed' : 'retry' });
    this.log.warn({ url: redactUrl(d.url), event: d.event_type, deliveryId: d.delivery_id, attempt: d.attempts, error }, last ? 'webhook delivery failed for good' : 'webhook delivery failed; trying again later');
  }
}
