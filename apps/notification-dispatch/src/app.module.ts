import { Module } from '@nestjs/common';
import { HeraldServiceModule, agentDoorSettings } from '@herald/platform';
import { AgentUpdatesModule } from './agent-updates/agent-updates.module';
import type { NotificationDispatchConfig } from './config';
import { DirectoryModule } from './directory/directory.module';
import { DispatchMetrics } from './dispatch-metrics';
import { DISPATCH_MIGRATIONS } from './migrations';
import { rolloutProgressProjection } from './rollouts/rollout-progress.projection';
import { RolloutsModule } from './rollouts/rollouts.module';
import { ComplianceModule } from './compliance/compliance.module';
import { SettingsModule } from './settings/settings.module';
import { DispatchQueues } from './topology';
import { TriggersModule } from './triggers/triggers.module';
import { WebhooksModule } from './webhooks/webhooks.module';

@Module({
  imports: [
    HeraldServiceModule.forRoot<NotificationDispatchConfig>({
      service: 'notification-dispatch',
      schema: 'notification_dispatch',
      migrations: DISPATCH_MIGRATIONS,
      asyncProjections: [rolloutProgressProjection],
      queues: (config) => [DispatchQueues.integration, DispatchQueues.agentInbound, DispatchQueues.work.withConsume({ prefetch: config.DISPATCH_WORK_PREFETCH })],
      agentDoor: agentDoorSettings,
    }),
    SettingsModule,
    DirectoryModule,
    AgentUpdatesModule,
    TriggersModule,
    RolloutsModule,
    ComplianceModule,
    WebhooksModule,
  ],
  providers: [DispatchMetrics],
})
export class NotificationDispatchModule {}
