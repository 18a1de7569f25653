import { ServiceRuntime, runService } from '@herald/platform';
import { NotificationDispatchConfig } from './config';
import { Dispatch1764230700000 } from './migrations/1764230700000-dispatch';
import { InFlight1764230800000 } from './migrations/1764230800000-in-flight';
import { InFlightWaiting1764231000000 } from './migrations/1764231000000-in-flight-waiting';
import { RolloutProgress1764230900000 } from './migrations/1764230900000-rollout-progress';
import { VersionKeys1764500000000 } from './migrations/1764500000000-version-keys';
import { rolloutProgressProjection } from './rollouts/rollout-progress.projection';
import { NotificationDispatchModule } from './app.module';

void runService({
  name: 'notification-dispatch',
  description: 'The event-triggered update settings and rules: rollouts, notifications, resends, Scan Now, and every agent\'s timeline.',
  configSchema: NotificationDispatchConfig,
  port: (config) => config.NOTIFICATION_DISPATCH_PORT,
  open: (config) =>
    ServiceRuntime.open({
      service: 'notification-dispatch',
      schema: 'notification_dispatch',
      config,
      migrations: [Dispatch1764230700000, InFlight1764230800000, RolloutProgress1764230900000, InFlightWaiting1764231000000, VersionKeys1764500000000],
      asyncProjections: [rolloutProgressProjection],
    }),
  module: (runtime) => NotificationDispatchModule.forRoot(runtime),
});
