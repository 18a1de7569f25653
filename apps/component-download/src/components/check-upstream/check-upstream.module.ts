import { Module } from '@nestjs/common';
import { ComponentsModule } from '../components.module';
import { KeepVersionsModule } from '../keep-versions/keep-versions.module';
import { CheckUpstreamController } from './check-upstream.controller';
import { ScheduledCheckService } from './scheduled-check.service';
import { UpstreamChecker } from './upstream-checker';

/** The upstream's signed manifest, checked on demand and on a schedule; new versions downloaded and verified. */
@Module({
  imports: [ComponentsModule, KeepVersionsModule],
  controllers: [CheckUpstreamController],
  providers: [UpstreamChecker, ScheduledCheckService],
})
export class CheckUpstreamModule {}
