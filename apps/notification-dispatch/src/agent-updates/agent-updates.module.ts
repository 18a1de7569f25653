import { Module } from '@nestjs/common';
import { DirectoryModule } from '../directory/directory.module';
import { SettingsModule } from '../settings/settings.module';
import { AgentHistoryRetention } from './agent-history-retention.service';
import { AgentUpdates } from './agent-updates.service';
import { DeadlineSweeper } from './deadline-sweeper.service';
import { InFlightReaper } from './in-flight-reaper.service';
import { HeldAttempts } from './held-attempts';
import { InFlightSlots } from './in-flight-slots';
import { InFlightWaker } from './in-flight-waker.service';
import { OpenNotifications } from './open-notifications';
import { AgentRepliesController } from './receive-agent-replies/agent-replies.controller';
import { NotificationSender } from './send-notifications/notification-sender';
import { WorkController } from './send-notifications/work.controller';
import { TimelineController } from './timeline/timeline.controller';
import { UpdateNow } from './update-now/update-now';
import { UpdateNowController } from './update-now/update-now.controller';

/**
 * One agent's notifications (R1–R4, R6–R8): the decisions, the commands sent, the agent's
 * replies, resends and deadlines, the R6 slots, and the timeline admins read.
 */
@Module({
  imports: [SettingsModule, DirectoryModule],
  controllers: [WorkController, AgentRepliesController, TimelineController, UpdateNowController],
  providers: [AgentUpdates, NotificationSender, HeldAttempts, UpdateNow, InFlightSlots, OpenNotifications, InFlightWaker, InFlightReaper, DeadlineSweeper, AgentHistoryRetention],
  exports: [AgentUpdates, NotificationSender, HeldAttempts, OpenNotifications, DeadlineSweeper],
})
export class AgentUpdatesModule {}
