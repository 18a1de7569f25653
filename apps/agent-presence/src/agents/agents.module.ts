import { Module } from '@nestjs/common';
import { AgentDirectory } from './agent-directory';
import { LabelsController } from './change-labels/labels.controller';
import { PrivilegesController } from './change-privileges/privileges.controller';
import { OfflineSweeper } from './detect-offline/offline-sweeper.service';
import { AgentsController } from './list-agents/agents.controller';
import { PresenceMetrics } from './presence-metrics';
import { AgentInboundController } from './receive-agent-messages/agent-inbound.controller';

/** Agents: what they say about themselves, their status, their privileges and labels, and the list admins read. */
@Module({
  controllers: [AgentInboundController, AgentsController, PrivilegesController, LabelsController],
  providers: [AgentDirectory, OfflineSweeper, PresenceMetrics],
})
export class AgentsModule {}
