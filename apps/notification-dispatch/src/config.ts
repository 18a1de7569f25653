import { z } from 'zod';
import { AgentDoorConfig, BaseConfig, configFields } from '@herald/platform';

export const NotificationDispatchConfig = BaseConfig.extend({
  ...AgentDoorConfig.shape,
  NOTIFICATION_DISPATCH_PORT: configFields.port(3002),
  /** Messages of the internal work queue handled at once per instance. */
  DISPATCH_WORK_PREFETCH: z.coerce.number().int().min(1).max(1000).default(64),
  /** R6: when every in-flight slot is taken, an attempt waits this long before trying again (the next wave). */
  DISPATCH_WAVE_DELAY_MS: configFields.positiveMs(2_000),
  /** R4: how often to look for attempts not acknowledged, and updates not reported, in time. */
  DISPATCH_DEADLINE_SWEEP_MS: configFields.positiveMs(1_000),
  /**
   * How long an agent's update history is kept (timeline, its part of rollouts rebuilt from
   * zero); older events of updates that are over are deleted. 0 keeps everything. Default 180 days.
   */
  AGENT_HISTORY_RETENTION_MS: z.coerce.number().int().min(0).default(180 * 24 * 3600_000),
  /**
   * A notification with an attempt to send and no way forward (no slot, not waiting for one, not
   * held) for this long is sent again by the deadline sweeper: a safety net, logged and counted.
   */
  DISPATCH_STUCK_SEND_AFTER_MS: configFields.positiveMs(30_000),
  /** How often running rollouts are checked against the error threshold (settings: rolloutErrorThresholdPercent). */
  ROLLOUT_GUARD_INTERVAL_MS: configFields.positiveMs(5_000),
  /** How often the retention pass runs. */
  AGENT_HISTORY_PRUNE_INTERVAL_MS: configFields.positiveMs(3600_000),
  /** Webhooks: how long a receiver has to answer an attempt. */
  WEBHOOK_TIMEOUT_MS: configFields.positiveMs(10_000),
  /** Webhooks: attempts per delivery in all before it is failed. */
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(50).default(8),
  /** Webhooks: the wait after a failed attempt, doubling with each (plus up to a fifth at random), at most an hour. */
  WEBHOOK_RETRY_DELAY_MS: configFields.positiveMs(10_000),
  /** Webhooks: how often due deliveries are looked for. */
  WEBHOOK_POLL_INTERVAL_MS: configFields.positiveMs(1_000),
});
export type NotificationDispatchConfig = z.infer<typeof NotificationDispatchConfig>;
