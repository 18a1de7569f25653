import { ServiceRuntime, runService } from '@herald/platform';
import { agentsProjection } from './agents/agents.projection';
import { AgentPresenceConfig } from './config';
import { Agents1764230600000 } from './migrations/1764230600000-agents';
import { VersionKeys1764500000000 } from './migrations/1764500000000-version-keys';
import { AgentPresenceModule } from './app.module';

void runService({
  name: 'agent-presence',
  description: 'Agents, their online/offline/independent status, reported component versions and privileges.',
  configSchema: AgentPresenceConfig,
  port: (config) => config.AGENT_PRESENCE_PORT,
  open: (config) =>
    ServiceRuntime.open({
      service: 'agent-presence',
      schema: 'agent_presence',
      config,
      migrations: [Agents1764230600000, VersionKeys1764500000000],
      inlineProjections: [agentsProjection],
    }),
  module: (runtime) => AgentPresenceModule.forRoot(runtime),
});
