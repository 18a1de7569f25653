import 'reflect-metadata';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { cleanupOpenApiDoc } from 'nestjs-zod';
import type { z } from 'zod';
import { BrokerUnavailableError } from '@herald/messaging';
import { DatabaseUnavailableError } from '@herald/event-store';
import type { BaseConfig} from './config';
import { ConfigError, loadConfig } from './config';
import type { ServiceRuntime } from './runtime';

export interface ServiceDefinition<C extends BaseConfig> {
  name: string;
  /** One paragraph for the OpenAPI document. */
  description: string;
  configSchema: z.ZodType<C>;
  port(config: C): number;
  open(config: C): Promise<ServiceRuntime<C>>;
  module(runtime: ServiceRuntime<C>): DynamicModule;
}

export interface RunningService<C extends BaseConfig> {
  runtime: ServiceRuntime<C>;
  app: NestExpressApplication;
  port: number;
  stop(): Promise<void>;
}

/**
 * Starts a service: validated config, database and broker, HTTP, then the background loops.
 * Anything that stops it from starting is reported as one line on stderr, exit code 1.
 * SIGTERM/SIGINT shut it down gracefully: HTTP stops, in-flight messages finish, loops stop.
 */
export async function runService<C extends BaseConfig>(def: ServiceDefinition<C>): Promise<RunningService<C>> {
  let runtime: ServiceRuntime<C> | undefined;
  try {
    const config = loadConfig(def.configSchema);
    runtime = await def.open(config);
    const app = await NestFactory.create<NestExpressApplication>(def.module(runtime), { bufferLogs: true });
    app.useLogger(app.get(Logger));
    app.useBodyParser('json', { limit: '64kb' });
    setUpOpenApi(app, def, runtime.config);
    const port = def.port(config);
    await app.listen(port, '0.0.0.0');
    runtime.start();
    if (config.ADMIN_TOKENS.length === 0) {
      runtime.logger.warn('no ADMIN_TOKENS configured: every endpoint that changes something answers 401');
    }
    runtime.logger.info({ port }, `${def.name} started`);
    const started = runtime;
    let stopping: Promise<void> | null = null;
    const stop = () =>
      (stopping ??= (async () => {
        started.logger.info(`${def.name} shutting down`);
        await app.close();
        await started.stop();
      })());
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        stop().then(
          () => process.exit(0),
          (err: Error) => {
            process.stderr.write(`${def.name}: shutdown failed: ${err.message}\n`);
            process.exit(1);
          },
        );
      });
    }
    return { runtime, app, port, stop };
  } catch (err) {
    const expected = err instanceof ConfigError || err instanceof BrokerUnavailableError || err instanceof DatabaseUnavailableError;
    process.stderr.write(`${def.name}: ${expected ? (err as Error).message : `failed to start: ${(err as Error).stack}`}\n`);
    await runtime?.stop().catch(() => undefined);
    process.exit(1);
  }
}

/** Swagger UI at /docs, the OpenAPI document at /docs-json; both open, like /health. */
function setUpOpenApi<C extends BaseConfig>(app: NestExpressApplication, def: ServiceDefinition<C>, config: C): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle(`Herald ${def.name}`)
      .setDescription(
        `${def.description}\n\nAccess: GET endpoints need a read or admin bearer token (READ_TOKENS, ADMIN_TOKENS); ` +
          'others need an admin token. /health, /health/ready, /docs and agent downloads are open; ' +
          `/metrics is ${config.METRICS_TOKEN ? 'protected by METRICS_TOKEN' : 'open'}.`,
      )
      .setVersion('1')
      .addBearerAuth()
      .addSecurityRequirements('bearer')
      .build(),
  );
  SwaggerModule.setup('docs', app, cleanupOpenApiDoc(document), { jsonDocumentUrl: 'docs-json' });
}
