import { Module } from '@nestjs/common';
import { WebhooksModule } from '../webhooks/webhooks.module';
import { AgentUpdatesModule } from '../agent-updates/agent-updates.module';
import { SettingsModule } from '../settings/settings.module';
import { RolloutControl } from './rollout-control';
import { RolloutGuard } from './rollout-guard.service';
import { RolloutViews } from './rollout-views';
import { RolloutsController } from './rollouts.controller';

/** Rollouts as admins read and steer them: the rollout-progress read model, its API, pause/resume/abort/retry and the error threshold. */
@Module({ imports: [AgentUpdatesModule, SettingsModule, WebhooksModule], controllers: [RolloutsController], providers: [RolloutViews, RolloutControl, RolloutGuard], exports: [RolloutControl] })
export class RolloutsModule {}
