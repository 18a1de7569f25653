import { Module } from '@nestjs/common';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { AgentUpdatesModule } from '../agent-updates/agent-updates.module';
import { DirectoryModule } from '../directory/directory.module';
import { SettingsModule } from '../settings/settings.module';
import { TriggersController } from './triggers.controller';

/** What starts notifications: a new version (R1) and an agent connecting (R2). */
@Module({
  imports: [SettingsModule, DirectoryModule, AgentUpdatesModule, WebhooksModule],
  controllers: [TriggersController],
})
export class TriggersModule {}
