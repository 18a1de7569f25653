import { Controller, Get, Inject } from '@nestjs/common';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import { RUNTIME } from './tokens';
import type { ServiceRuntime } from './runtime';

/** GET /health: 200 only while the database answers and the broker connection is up. */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([
      async () => {
        const db = this.indicators.check('database');
        return (await this.runtime.db.isHealthy()) ? db.up() : db.down({ message: 'PostgreSQL does not answer' });
      },
      () => {
        const broker = this.indicators.check('broker');
        return this.runtime.amqp.isConnected ? broker.up() : broker.down({ message: 'not connected to RabbitMQ' });
      },
    ]);
  }
}
