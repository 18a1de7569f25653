import { Module } from '@nestjs/common';
import { HeraldServiceModule, agentDoorSettings } from '@herald/platform';
import { AgentsModule } from './agents/agents.module';
import { agentsProjection } from './agents/agents.projection';
import { CatalogModule } from './catalog/catalog.module';
import type { AgentPresenceConfig } from './config';
import { identitiesProjection } from './identities/identities.projection';
import { IdentitiesModule } from './identities/identities.module';
import { AgentIdentities1764800000000 } from './migrations/1764800000000-agent-identities';
import { AgentSearch1764900000000 } from './migrations/1764900000000-agent-search';
import { Agents1764230600000 } from './migrations/1764230600000-agents';
import { VersionKeys1764500000000 } from './migrations/1764500000000-version-keys';
import { PresenceQueues } from './topology';

@Module({
  imports: [
    HeraldServiceModule.forRoot<AgentPresenceConfig>({
      service: 'agent-presence',
      schema: 'agent_presence',
      migrations: [Agents1764230600000, VersionKeys1764500000000, AgentIdentities1764800000000, AgentSearch1764900000000],
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
