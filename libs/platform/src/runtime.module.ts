import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_PIPE } from '@nestjs/core';
import { ZodValidationPipe } from 'nestjs-zod';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';
import { AmqpClient } from '@herald/messaging';
import { CommandHandler, Database, EventStore } from '@herald/event-store';
import { HealthController } from './health.controller';
import { ServiceRuntime } from './runtime';
import { CONFIG, RUNTIME } from './tokens';

/**
 * Makes the opened ServiceRuntime injectable everywhere in a service (the runtime, its config,
 * event store, command handler, broker client), adds GET /health and JSON logging.
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
            // Health probes every few seconds would drown the log.
            autoLogging: { ignore: (req) => req.url?.startsWith('/health') ?? false },
          },
        }),
      ],
      controllers: [HealthController],
      providers: [
        // Request bodies and queries declared with zod DTOs are validated; a 400 names the fields.
        { provide: APP_PIPE, useClass: ZodValidationPipe },
        { provide: RUNTIME, useValue: runtime },
        { provide: CONFIG, useValue: runtime.config },
        { provide: ServiceRuntime, useValue: runtime },
        { provide: Database, useValue: runtime.db },
        { provide: EventStore, useValue: runtime.store },
        { provide: CommandHandler, useValue: runtime.commands },
        { provide: AmqpClient, useValue: runtime.amqp },
      ],
      exports: [RUNTIME, CONFIG, ServiceRuntime, Database, EventStore, CommandHandler, AmqpClient],
    };
  }
}
