import { type ArgumentsHost, Catch, Injectable } from '@nestjs/common';
import { BaseExceptionFilter, HttpAdapterHost } from '@nestjs/core';
import type { Response } from 'express';
import type { Counter } from 'prom-client';
import { PinoLogger } from 'nestjs-pino';
import { isDatabaseUnavailable } from '@herald/event-store';
import { ServiceMetrics } from './metrics';

/** Seconds a client is told to wait when PostgreSQL is away: about how long a restart takes. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * An HTTP request that failed because PostgreSQL is away (restarting, failing over, out of
 * connections) answers 503 with Retry-After instead of 500: the service is fine and the request
 * can be repeated, which is what an agent's download loop and an admin's script do with a 503.
 * Counted, and logged as one warning line without a stack. Everything else goes to Nest's own
 * handling.
 */
@Catch()
@Injectable()
export class DatabaseUnavailableFilter extends BaseExceptionFilter {
  private readonly refused: Counter<'method'>;

  constructor(
    adapterHost: HttpAdapterHost,
    metrics: ServiceMetrics,
    private readonly log: PinoLogger,
  ) {
    super(adapterHost.httpAdapter);
    this.refused = metrics.counter('herald_http_database_unavailable_total', 'HTTP requests answered 503 because PostgreSQL was unavailable', ['method']);
    this.log.setContext('http');
  }

  override catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http' || !isDatabaseUnavailable(exception)) return super.catch(exception, host);
    const req = host.switchToHttp().getRequest<{ method: string; url: string }>();
    const res = host.switchToHttp().getResponse<Response>();
    this.refused.inc({ method: req.method });
    this.log.warn({ method: req.method, url: req.url, err: (exception as Error).message }, 'PostgreSQL is unavailable: answered 503');
    res
      .status(503)
      .setHeader('Retry-After', String(DATABASE_RETRY_AFTER_SECONDS))
      .json({ statusCode: 503, error: 'Service Unavailable', message: `the database is unavailable; try again in ${DATABASE_RETRY_AFTER_SECONDS} s` });
  }
}
