import { Injectable, OnModuleInit } from '@nestjs/common';
import { ServiceMetrics } from '@herald/platform';
import { AgentDirectory } from './agent-directory';

/** Agents by status and outdated agents, read from the agents read model at scrape time. */
@Injectable()
export class PresenceMetrics implements OnModuleInit {
  constructor(
    private readonly metrics: ServiceMetrics,
    private readonly directory: AgentDirectory,
  ) {}

  onModuleInit(): void {
    this.metrics.gauge('herald_agents', 'Known agents by status (online, offline, independent)', ['status'], async (g) => {
      const s = await this.directory.summary();
      for (const status of ['online', 'offline', 'independent'] as const) g.set({ status }, s[status]);
    });
    this.metrics.gauge('herald_agents_outdated', 'Agents with at least one component older than the latest', [], async (g) => {
      g.set((await this.directory.summary()).outdated);
    });
  }
}
