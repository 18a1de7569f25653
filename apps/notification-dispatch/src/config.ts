import { z } from 'zod';
import { BaseConfig, configFields } from '@herald/platform';

export const NotificationDispatchConfig = BaseConfig.extend({
  NOTIFICATION_DISPATCH_PORT: configFields.port(3002),
  /** Messages of the internal work queue handled at once per instance. */
  DISPATCH_WORK_PREFETCH: z.coerce.number().int().min(1).max(1000).default(64),
  /** R6: when every in-flight slot is taken, an attempt waits this long before trying again (the next wave). */
  DISPATCH_WAVE_DELAY_MS: configFields.positiveMs(2_000),
  /** R4: how often to look for attempts not acknowledged, and updates not reported, in time. */
  DISPATCH_DEADLINE_SWEEP_MS: configFields.positiveMs(1_000),
});
export type NotificationDispatchConfig = z.infer<typeof NotificationDispatchConfig>;
