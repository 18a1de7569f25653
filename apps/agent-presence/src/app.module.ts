import { DynamicModule, Module } from '@nestjs/common';
import { RuntimeModule, ServiceRuntime } from '@herald/platform';
import type { AgentPresenceConfig } from './config';
import { AgentDirectory } from './agents/agent-directory';
import { PrivilegesController } from './agents/change-privileges/privileges.controller';
import { OfflineSweeper } from './agents/detect-offline/offline-sweeper.service';
import { AgentsController } from './agents/list-agents/agents.controller';
import { AgentInboundConsumer } from './agents/receive-agent-messages/agent-inbound.consumer';
import { ComponentCatalogConsumer } from './catalog/component-catalog.consumer';
import { PresenceMetrics } from './presence-metrics';

@Module({})
export class AgentPresenceModule {
  static forRoot(runtime: ServiceRuntime<AgentPresenceConfig>): DynamicModule {
    return {
      module: AgentPresenceModule,
      imports: [RuntimeModule.forRoot(runtime)],
      controllers: [AgentsController, PrivilegesController],
      providers: [AgentDirectory, AgentInboundConsumer, ComponentCatalogConsumer, OfflineSweeper, PresenceMetrics],
    };
  }
}
