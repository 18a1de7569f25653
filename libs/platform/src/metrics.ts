import { Injectable, type OnModuleInit } from '@nestjs/common';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { AmqpClient } from '@herald/messaging';
import { OutboxRelay, ProjectionRunner } from '@herald/event-store';

/** The code of a reason written "<code>: <detail>", safe as a metric label. */
export function reasonCode(reason: string): string {
  const code = reason.split(':')[0]!.trim();
  return /^[a-z][a-z-]{0,39}$/.test(code) ? code : 'other';
}

/**
 * A service's Prometheus registry: Node process metrics, messaging and outbox metrics every
 * service has, and whatever the service adds with counter()/gauge(). Gauges that need a query
 * run it when Prometheus scrapes, not on a timer.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  private readonly collectFailures: Counter<'metric'>;

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    this.collectFailures = this.counter('herald_metric_collect_failures_total', 'Scrapes where a gauge could not be computed (e.g. PostgreSQL away), by gauge', ['metric']);
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  /**
   * A gauge; with `collect`, its value is computed at scrape time. A `collect` that fails (its
   * query cannot reach PostgreSQL) does not fail the scrape, when metrics matter most: the gauge
   * reads NaN (or has no series, when it has labels) and the failure is counted.
   */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (g: Gauge<L>) => Promise<void>): Gauge<L> {
    const failures = this.collectFailures;
    return new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      ...(collect
        ? {
            async collect(this: Gauge<L>) {
              try {
                await collect(this);
              } catch {
                failures.inc({ metric: name });
                this.reset();
                if (labelNames.length === 0) (this as Gauge).set(Number.NaN);
              }
            },
          }
        : {}),
    });
  }
}

/** Metrics every service has: the broker connection, the outbox and the projections. */
@Injectable()
export class InfrastructureMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: ServiceMetrics,
    private readonly amqp: AmqpClient,
    private readonly relay: OutboxRelay,
    private readonly projections: ProjectionRunner,
  ) {}

  onModuleInit(): void {
    const { metrics: m, amqp, relay, projections } = this;
    const parked = m.counter('herald_messages_parked_total', 'Messages moved to a parking queue, by queue and reason code', ['queue', 'reason']);
    const dropped = m.counter(
      'herald_messages_dropped_total',
      'Messages gone without being kept, by queue and reason code: rate-limited (an agent over its rate), parking-full (the oldest message of a full parking queue)',
      ['queue', 'reason'],
    );
    const retried = m.counter('herald_messages_retried_total', 'Messages sent to a delayed-retry queue', ['queue']);
    const returned = m.counter('herald_messages_returned_total', 'Mandatory publishes no queue took', ['exchange']);
    const reconnects = m.counter('herald_broker_reconnects_total', 'Times the broker connection was re-established');
    amqp.on('parked', (queue, reason) => parked.inc({ queue, reason: reasonCode(reason) }));
    amqp.on('dropped', (queue, reason) => dropped.inc({ queue, reason: reasonCode(reason) }));
    amqp.on('retried', (queue) => retried.inc({ queue }));
    amqp.on('returned', (exchange) => returned.inc({ exchange: exchange || '(default)' }));
    amqp.on('connected', () => amqp.stats.reconnects > 0 && reconnects.inc());
    m.gauge('herald_broker_connected', '1 while connected to RabbitMQ', [], async (g) => g.set(amqp.isConnected ? 1 : 0));
    m.gauge('herald_broker_node', 'The RabbitMQ node (host:port) connected to: 1 on its series, none while disconnected', ['node'], async (g) => {
      g.reset();
      const node = amqp.connectedNode;
      if (node) g.set({ node }, 1);
    });
    m.gauge('herald_outbox_pending', 'Outbox messages not yet published', [], async (g) => g.set((await relay.lag()).pending));
    m.gauge('herald_outbox_lag_seconds', 'Age of the oldest unpublished outbox message', [], async (g) => g.set((await relay.lag()).oldestAgeMs / 1000));
    m.gauge('herald_projection_lag_events', 'Events an asynchronous projection has not applied yet', ['projection'], async (g) => {
      g.reset();
      for (const [projection, behind] of Object.entries(await projections.lag())) g.set({ projection }, behind);
    });
  }
}
