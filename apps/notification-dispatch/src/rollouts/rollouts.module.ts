import { Module } from '@nestjs/common';
import { RolloutViews } from './rollout-views';
import { RolloutsController } from './rollouts.controller';

/** Rollouts as admins read them: the rollout-progress read model and its API. */
@Module({ controllers: [RolloutsController], providers: [RolloutViews] })
export class RolloutsModule {}
