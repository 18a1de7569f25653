import { runService } from '@herald/platform';
import { AgentPresenceModule } from './app.module';
import { AgentPresenceConfig } from './config';

void runService({
  name: 'agent-presence',
  description: 'Agents, their online/offline/independent status, reported component versions and privileges.',
  configSchema: AgentPresenceConfig,
  port: (config) => config.AGENT_PRESENCE_PORT,
  module: AgentPresenceModule,
});
