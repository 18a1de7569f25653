import type { z } from 'zod';
import { AgentDoorConfig, BaseConfig, configFields } from '@herald/platform';

export const AgentPresenceConfig = BaseConfig.extend({
  ...AgentDoorConfig.shape,
  AGENT_PRESENCE_PORT: configFields.port(3003),
  /** An agent not heard from for this long is offline (agents heartbeat every 30 s by default). */
  HEARTBEAT_TIMEOUT_MS: configFields.positiveMs(90_000),
  /** How often to look for agents whose heartbeats stopped. */
  OFFLINE_SWEEP_INTERVAL_MS: configFields.positiveMs(5_000),
});
export type AgentPresenceConfig = z.infer<typeof AgentPresenceConfig>;
