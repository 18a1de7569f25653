import { DynamicModule, Module } from '@nestjs/common';
import { RuntimeModule, ServiceRuntime } from '@herald/platform';
import type { NotificationDispatchConfig } from './config';
import { AgentRepliesConsumer } from './agent-updates/receive-agent-replies/agent-replies.consumer';
import { WorkConsumer } from './agent-updates/send-notifications/work.consumer';
import { TimelineController } from './agent-updates/timeline/timeline.controller';
import { Directory } from './directory/directory';
import { IntegrationEventsConsumer } from './rollouts/integration-events.consumer';
import { SettingsController } from './settings/settings.controller';
import { SettingsService } from './settings/settings.service';

@Module({})
export class NotificationDispatchModule {
  static forRoot(runtime: ServiceRuntime<NotificationDispatchConfig>): DynamicModule {
    return {
      module: NotificationDispatchModule,
      imports: [RuntimeModule.forRoot(runtime)],
      controllers: [SettingsController, TimelineController],
      providers: [Directory, SettingsService, IntegrationEventsConsumer, WorkConsumer, AgentRepliesConsumer],
    };
  }
}
