import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_GUARD, APP_PIPE } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import { ZodValidationPipe } from 'nestjs-zod';
import { AmqpClient } from '@herald/messaging';
import { CommandHandler, Database, EventStore } from '@herald/event-store';
import { TokenGuard } from './auth';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { WhoAmIController } from './whoami.controller';
import { ServiceRuntime } from './runtime';
import { ServiceMetrics } from './metrics';
import { CONFIG, RUNTIME } from './tokens';

/**
 * Makes the opened ServiceRuntime injectable everywhere in a service (the runtime, its config,
 * event store, command handler, broker client, metrics), and adds what every service has:
 * GET /health and /health/ready, GET /metrics, bearer-token access control, zod validation
 * of request bodies and queries, JSON logging.
 */
@Global()
@Module({})
export class RuntimeModule {
  static forRoot(runtime: ServiceRuntime): DynamicModule {
    return {
      module: RuntimeModule,
      imports: [
        TerminusModule.forRoot({ logger: false }),
        LoggerModule.forRoot({
          pinoHttp: {
            logger: runtime.logger,
            // Tokens never reach the log.
            redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
            // Probes every few seconds would drown the log.
            autoLogging: { ignore: (req) => /^\/(health|metrics)\b/.test(req.url ?? '') },
          },
        }),
      ],
      controllers: [HealthController, MetricsController, WhoAmIController],
      providers: [
        // Request bodies and queries declared with zod DTOs are validated; a 400 names the fields.
        { provide: APP_PIPE, useClass: ZodValidationPipe },
        { provide: APP_GUARD, useClass: TokenGuard },
        { provide: RUNTIME, useValue: runtime },
        { provide: CONFIG, useValue: runtime.config },
        { provide: ServiceRuntime, useValue: runtime },
        { provide: ServiceMetrics, useValue: runtime.metrics },
        { provide: Database, useValue: runtime.db },
        { provide: EventStore, useValue: runtime.store },
        { provide: CommandHandler, useValue: runtime.commands },
        { provide: AmqpClient, useValue: runtime.amqp },
      ],
      exports: [RUNTIME, CONFIG, ServiceRuntime, ServiceMetrics, Database, EventStore, CommandHandler, AmqpClient],
    };
  }
}
