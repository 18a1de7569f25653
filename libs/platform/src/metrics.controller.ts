import { Controller, ForbiddenException, Get, Headers, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from './auth';
import { ServiceConfig } from './config';
import { ServiceMetrics } from './metrics';

/** GET /metrics in Prometheus text format; open unless METRICS_TOKEN is set. */
@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly config: ServiceConfig,
    private readonly metrics: ServiceMetrics,
  ) {}

  @Get()
  @Public()
  async scrape(@Headers('authorization') authorization: string | undefined, @Res() res: Response): Promise<void> {
    const required = this.config.METRICS_TOKEN;
    if (required && authorization !== `Bearer ${required}`) throw new ForbiddenException('GET /metrics needs METRICS_TOKEN as a bearer token');
    const registry = this.metrics.registry;
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  }
}
