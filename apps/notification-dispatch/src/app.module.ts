import { Module } from '@nestjs/common';
import { HeraldServiceModule } from '@herald/platform';
import { AgentUpdatesModule } from './agent-updates/agent-updates.module';
import type { NotificationDispatchConfig } from './config';
import { DirectoryModule } from './directory/directory.module';
import { DispatchMetrics } from './dispatch-metrics';
import { Dispatch1764230700000 } from './migrations/1764230700000-dispatch';
import { InFlight1764230800000 } from './migrations/1764230800000-in-flight';
import { RolloutProgress1764230900000 } from './migrations/1764230900000-rollout-progress';
import { InFlightWaiting1764231000000 } from './migrations/1764231000000-in-flight-waiting';
import { VersionKeys1764500000000 } from './migrations/1764500000000-version-keys';
import { HotPath1764600000000 } from './migrations/1764600000000-hot-path';
import { rolloutProgressProjection } from './rollouts/rollout-progress.projection';
import { RolloutsModule } from './rollouts/rollouts.module';
import { SettingsModule } from './settings/settings.module';
import { DispatchQueues } from './topology';
import { TriggersModule } from './triggers/triggers.module';

@Module({
  imports: [
    HeraldServiceModule.forRoot<NotificationDispatchConfig>({
      service: 'notification-dispatch',
      schema: 'notification_dispatch',
      migrations: [Dispatch1764230700000, InFlight1764230800000, RolloutProgress1764230900000, InFlightWaiting1764231000000, VersionKeys1764500000000, HotPath1764600000000],
      asyncProjections: [rolloutProgressProjection],
      queues: (config) => [DispatchQueues.integration, DispatchQueues.agentInbound, DispatchQueues.work.withConsume({ prefetch: config.DISPATCH_WORK_PREFETCH })],
    }),
    SettingsModule,
    DirectoryModule,
    AgentUpdatesModule,
    TriggersModule,
    RolloutsModule,
  ],
  providers: [DispatchMetrics],
})
export class NotificationDispatchModule {}
