import { Controller, ForbiddenException, Get, Headers, Inject, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from './auth';
import { RUNTIME } from './tokens';
import type { ServiceRuntime } from './runtime';

/** GET /metrics in Prometheus text format; open unless METRICS_TOKEN is set. */
@ApiExcludeController()
@Controller('metrics')
export class MetricsController {
  constructor(@Inject(RUNTIME) private readonly runtime: ServiceRuntime) {}

  @Get()
  @Public()
  async metrics(@Headers('authorization') authorization: string | undefined, @Res() res: Response): Promise<void> {
    const required = this.runtime.config.METRICS_TOKEN;
    if (required && authorization !== `Bearer ${required}`) throw new ForbiddenException('GET /metrics needs METRICS_TOKEN as a bearer token');
    const registry = this.runtime.metrics.registry;
    res.setHeader('Content-Type', registry.contentType);
    res.send(await registry.metrics());
  }
}
