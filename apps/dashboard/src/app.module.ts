import { DynamicModule, Module } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { Logger } from 'pino';
import { HealthController } from './health.controller';
import { UPSTREAMS } from './tokens';
import type { Upstream } from './upstreams';

/** The dashboard's own routes: only GET /health. The page and the API proxy are Express middleware. */
@Module({})
export class DashboardModule {
  static forRoot(upstreams: readonly Upstream[], logger: Logger): DynamicModule {
    return {
      module: DashboardModule,
      // Nest's own messages as JSON lines like the services'; requests are not logged one by
      // one: the page polls every second or two.
      imports: [LoggerModule.forRoot({ pinoHttp: { logger, autoLogging: false } })],
      controllers: [HealthController],
      providers: [{ provide: UPSTREAMS, useValue: upstreams }],
    };
  }
}
