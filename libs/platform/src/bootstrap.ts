import 'reflect-metadata';
import { Module, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger, PinoLogger } from 'nestjs-pino';
import { cleanupOpenApiDoc } from 'nestjs-zod';
import type { z } from 'zod';
import { BrokerUnavailableError, connectHeraldTransport } from '@herald/messaging';
import { DatabaseUnavailableError } from '@herald/event-store';
import { type BaseConfig, ConfigError, checkBrokerTls, loadConfig, secretMasker } from './config';
import { ServiceConfigModule } from './service.module';

export interface ServiceDefinition<C extends BaseConfig> {
  name: string;
  /** One paragraph for the OpenAPI document. */
  description: string;
  configSchema: z.ZodType<C>;
  port(config: C): number;
  /** The service's root module (it imports HeraldServiceModule.forRoot and its feature modules). */
  module: Type<unknown>;
}

export interface RunningService {
  app: NestExpressApplication;
  port: number;
  stop(): Promise<void>;
}

/** The root of every service's module tree: its settings, then its own root module. */
@Module({})
class ServiceHost {}

/**
 * Starts a service: validated settings, then its modules (database and broker connected, HTTP,
 * message handlers on Herald's transport, background workers). Anything that stops it from
 * starting is reported as one line on stderr, exit code 1. SIGTERM/SIGINT shut it down
 * gracefully: consumers drain, workers stop, HTTP closes, then the connections.
 */
export async function runService<C extends BaseConfig>(def: ServiceDefinition<C>): Promise<RunningService> {
  let app: NestExpressApplication | undefined;
  let loaded: C | undefined;
  let stop: (() => Promise<void>) | null = null;
  // From the first moment: a service told to stop while it still waits for the broker or the
  // database stops at once, cleanly (exit code 0), so a supervisor does not take it for a crash.
  // A signal repeated during the graceful stop (a terminal's Ctrl-C reaches both npm start's
  // supervisor and the service, which passes it on) does not cut the stop short: it is bounded
  // by SHUTDOWN_DRAIN_MS anyway.
  let signalled = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (signalled) return;
      signalled = true;
      if (!stop) {
        process.stderr.write(`${def.name}: stopped while starting (${signal})\n`);
        process.exit(0);
      }
      stop().then(
        () => process.exit(0),
        (err: Error) => {
          process.stderr.write(`${def.name}: shutdown failed: ${err.message}\n`);
          process.exit(1);
        },
      );
    });
  }
  try {
    const config = loadConfig(def.configSchema);
    loaded = config;
    checkBrokerTls(config);
    // Errors while the modules start are rethrown to the catch below, which prints one line;
    // Nest's own report of them (a stack trace) stays in the buffer that is never flushed.
    app = await NestFactory.create<NestExpressApplication>(
      { module: ServiceHost, imports: [ServiceConfigModule.forRoot(config), def.module] },
      { bufferLogs: true, autoFlushLogs: false, abortOnError: false },
    );
    app.useLogger(app.get(Logger));
    app.flushLogs();
    app.useBodyParser('json', { limit: '64kb' });
    setUpOpenApi(app, def, config);
    // Message handlers are @EventPattern handlers on HeraldTransport.
    connectHeraldTransport(app);
    await app.init();
    await app.startAllMicroservices();
    const port = def.port(config);
    // Nest hands its arguments to http.Server#listen(port, host, backlog), whose backlog its types leave out.
    const listen = app.listen.bind(app) as unknown as (port: number, host: string, backlog: number) => Promise<unknown>;
    await listen(port, config.HTTP_BIND_ADDRESS, config.HTTP_LISTEN_BACKLOG);
    const log = await app.resolve(PinoLogger);
    log.setContext(def.name);
    if (config.ADMIN_TOKENS.length === 0) log.warn('no ADMIN_TOKENS configured: every endpoint that changes something answers 401');
    log.info({ port, address: config.HTTP_BIND_ADDRESS }, `${def.name} started`);
    const started = app;
    let stopping: Promise<void> | null = null;
    const stopStarted = () =>
      (stopping ??= (async () => {
        log.info(`${def.name} shutting down`);
        await started.close();
      })());
    stop = stopStarted;
    return { app, port, stop: stopStarted };
  } catch (err) {
    const expected = err instanceof ConfigError || err instanceof BrokerUnavailableError || err instanceof DatabaseUnavailableError;
    // A driver's message or a stack may quote a URL or a setting: mask before printing.
    const masker = secretMasker(loaded ?? process.env);
    process.stderr.write(masker.mask(`${def.name}: ${expected ? (err as Error).message : `failed to start: ${(err as Error).stack}`}\n`));
    await app?.close().catch(() => undefined);
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
