import { Injectable, type OnModuleInit } from '@nestjs/common';
import type { Counter } from 'prom-client';
import { ServiceMetrics } from '@herald/platform';

/** Upstream downloads and manifests refused, by reason. */
@Injectable()
export class ComponentMetrics implements OnModuleInit {
  rejections!: Counter<'reason'>;

  constructor(private readonly metrics: ServiceMetrics) {}

  onModuleInit(): void {
    this.rejections = this.metrics.counter('herald_component_rejections_total', 'Upstream downloads and manifests refused, by reason (each time, not only the first recorded)', ['reason']);
  }
}
