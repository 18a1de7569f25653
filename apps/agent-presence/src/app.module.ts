import { Module } from '@nestjs/common';
import { HeraldServiceModule, agentDoorSettings } from '@herald/platform';
import { AgentsModule } from './agents/agents.module';
import { agentsProjection } from './agents/agents.projection';
import { CatalogModule } from './catalog/catalog.module';
import type { AgentPresenceConfig } from './config';
import { identitiesProjection } from './identities/identities.projection';
import { IdentitiesModule } from './identities/identities.module';
import { PresenceQueues } from './topology';
import { PRESENCE_MIGRATIONS } from './migrations';

@Module({
  imports: [
    HeraldServiceModule.forRoot<AgentPresenceConfig>({
      service: 'agent-presence',
      schema: 'agent_presence',
      migrations: PRESENCE_MIGRATIONS,
      inlineProjections: [agentsProjection, identitiesProjection],
      queues: () => [PresenceQueues.agentInbound, PresenceQueues.heartbeats, PresenceQueues.unroutable, PresenceQueues.components],
      agentDoor: agentDoorSettings,
    }),
    AgentsModule,
    CatalogModule,
    IdentitiesModule,
  ],
})
export class AgentPresenceModule {}
