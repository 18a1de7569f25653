import 'reflect-metadata';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Logger } from 'nestjs-pino';
import type { z } from 'zod';
import { BrokerUnavailableError } from '@herald/messaging';
import { DatabaseUnavailableError } from '@herald/event-store';
import { BaseConfig, ConfigError, loadConfig } from './config';
import type { ServiceRuntime } from './runtime';

export interface ServiceDefinition<C extends BaseConfig> {
  name: string;
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
    const port = def.port(config);
    await app.listen(port, '0.0.0.0');
    runtime.start();
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
