import { DynamicModule, Module } from '@nestjs/common';
import { RuntimeModule, ServiceRuntime } from '@herald/platform';
import type { NotificationDispatchConfig } from './config';
import { AgentRepliesConsumer } from './agent-updates/receive-agent-replies/agent-replies.consumer';
import { WorkConsumer } from './agent-updates/send-notifications/work.consumer';
import { AgentUpdates } from './agent-updates/agent-updates.service';
import { InFlightWaker } from './agent-updates/in-flight-waker.service';
import { InFlightReaper } from './agent-updates/in-flight-reaper.service';
import { InFlightSlots } from './agent-updates/in-flight-slots';
import { TimelineController } from './agent-updates/timeline/timeline.controller';
import { Directory } from './directory/directory';
import { DispatchMetrics } from './dispatch-metrics';
import { IntegrationEventsConsumer } from './rollouts/integration-events.consumer';
import { RolloutViews } from './rollouts/rollout-views';
import { RolloutsController } from './rollouts/rollouts.controller';
import { SettingsController } from './settings/settings.controller';
import { SettingsService } from './settings/settings.service';

@Module({})
export class NotificationDispatchModule {
  static forRoot(runtime: ServiceRuntime<NotificationDispatchConfig>): DynamicModule {
    return {
      module: NotificationDispatchModule,
      imports: [RuntimeModule.forRoot(runtime)],
      controllers: [SettingsController, TimelineController, RolloutsController],
      providers: [RolloutViews, Directory, SettingsService, InFlightSlots, InFlightReaper, InFlightWaker, AgentUpdates, IntegrationEventsConsumer, WorkConsumer, AgentRepliesConsumer, DispatchMetrics],
    };
  }
}
