import { Controller, Get } from '@nestjs/common';
import { DiscoveryService } from '@nestjs/core';
import { ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { Database, OutboxRelay } from '@herald/event-store';
import { AmqpClient } from '@herald/messaging';
import { Public } from './auth';
import { ServiceConfig } from './config';
import { ReadinessIndicator } from './readiness';

/**
 * GET /health: 200 only while the database answers and the broker connection is up (what a
 * container health check and `depends_on: service_healthy` need).
 * GET /health/ready: also that the outbox is keeping up, so a load balancer stops sending work
 * to an instance whose events are not getting out, and every ReadinessIndicator the service
 * provides (component-download: its component store is writable).
 */
@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly db: Database,
    private readonly amqp: AmqpClient,
    private readonly relay: OutboxRelay,
    private readonly config: ServiceConfig,
    private readonly discovery: DiscoveryService,
  ) {}

  private extra: ReadinessIndicator[] | null = null;

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.database(), () => this.broker()]);
  }

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.database(), () => this.broker(), () => this.outbox(), ...this.serviceIndicators().map((i) => () => this.serviceIndicator(i))]);
  }

  /** The service's own indicators, found once (providers are all created before the first request). */
  private serviceIndicators(): ReadinessIndicator[] {
    this.extra ??= [
      ...new Set(
        this.discovery
          .getProviders()
          .filter((w) => w.isDependencyTreeStatic())
          .map((w) => w.instance as unknown)
          .filter((i): i is ReadinessIndicator => i instanceof ReadinessIndicator),
      ),
    ];
    return this.extra;
  }

  private async serviceIndicator(indicator: ReadinessIndicator) {
    const check = this.indicators.check(indicator.indicatorName);
    try {
      const state = await indicator.readiness();
      return state.up ? check.up(state.data) : check.down(state.data);
    } catch (err) {
      return check.down({ message: `unknown: ${(err as Error).message}` });
    }
  }

  private async database() {
    const db = this.indicators.check('database');
    return (await this.db.isHealthy()) ? db.up() : db.down({ message: 'PostgreSQL does not answer' });
  }

  private broker() {
    const broker = this.indicators.check('broker');
    const node = this.amqp.connectedNode;
    return node ? broker.up({ node }) : broker.down({ message: 'not connected to RabbitMQ' });
  }

  private async outbox() {
    const outbox = this.indicators.check('outbox');
    const bound = this.config.READY_MAX_OUTBOX_LAG_MS;
    try {
      const lag = await this.relay.lag();
      const data = { pending: lag.pending, oldestAgeMs: lag.oldestAgeMs, boundMs: bound };
      return lag.oldestAgeMs <= bound ? outbox.up(data) : outbox.down({ ...data, message: 'outbox messages are not getting out' });
    } catch {
      return outbox.down({ message: 'outbox lag unknown' });
    }
  }
}
