import { z } from 'zod';
import { BaseConfig, configFields } from '@herald/platform';

export const NotificationDispatchConfig = BaseConfig.extend({
  NOTIFICATION_DISPATCH_PORT: configFields.port(3002),
  /** Messages of the internal work queue handled at once per instance. */
  DISPATCH_WORK_PREFETCH: z.coerce.number().int().min(1).max(1000).default(64),
});
export type NotificationDispatchConfig = z.infer<typeof NotificationDispatchConfig>;
