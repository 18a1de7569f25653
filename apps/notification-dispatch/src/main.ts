import { runService } from '@herald/platform';
import { NotificationDispatchModule } from './app.module';
import { NotificationDispatchConfig } from './config';

void runService({
  name: 'notification-dispatch',
  description: "The event-triggered update settings and rules: rollouts, notifications, resends, Scan Now, and every agent's timeline.",
  configSchema: NotificationDispatchConfig,
  port: (config) => config.NOTIFICATION_DISPATCH_PORT,
  module: NotificationDispatchModule,
});
