import { ServiceRuntime, runService } from '@herald/platform';
import { NotificationDispatchConfig } from './config';
import { Dispatch1764230700000 } from './migrations/1764230700000-dispatch';
import { NotificationDispatchModule } from './app.module';

void runService({
  name: 'notification-dispatch',
  configSchema: NotificationDispatchConfig,
  port: (config) => config.NOTIFICATION_DISPATCH_PORT,
  open: (config) =>
    ServiceRuntime.open({
      service: 'notification-dispatch',
      schema: 'notification_dispatch',
      config,
      migrations: [Dispatch1764230700000],
    }),
  module: (runtime) => NotificationDispatchModule.forRoot(runtime),
});
