import { Module, type OnModuleInit } from '@nestjs/common';
import { ServiceMetrics } from '@herald/platform';
import { ComplianceController } from './compliance.controller';
import { ComplianceViews } from './compliance-views';

/** Compliance views and their metric: agents behind the newest version, per component. */
@Module({ controllers: [ComplianceController], providers: [ComplianceViews] })
export class ComplianceModule implements OnModuleInit {
  constructor(
    private readonly views: ComplianceViews,
    private readonly metrics: ServiceMetrics,
  ) {}

  onModuleInit(): void {
    this.metrics.gauge('herald_agents_behind', 'Agents on an older version than the newest, per component type', ['component_type'], async (g) => {
      const counts = await this.views.behindCounts();
      g.reset();
      for (const c of counts) g.set({ component_type: c.componentType }, c.agents);
    });
  }
}
