import type { z } from 'zod';
import { AgentDoorConfig, BaseConfig, configFields } from '@herald/platform';

export const AgentPresenceConfig = BaseConfig.extend({
  ...AgentDoorConfig.shape,
  AGENT_PRESENCE_PORT: configFields.port(3003),
  /** An agent not heard from for this long is offline (agents heartbeat every 30 s by default). */
  HEARTBEAT_TIMEOUT_MS: configFields.positiveMs(90_000),
  /** How often to look for agents whose heartbeats stopped. */
  OFFLINE_SWEEP_INTERVAL_MS: configFields.positiveMs(5_000),
  /**
   * Tokens an agent may enrol with (its first broker login with its own identity), comma-separated,
   * each optionally named like ADMIN_TOKENS ("site-a:…"); the name is recorded with the enrolment.
   * Empty: no agent can enrol (agents with identities already enrolled still log in).
   */
  AGENT_ENROLMENT_TOKENS: configFields.tokens(),
  /** Accept enrolled agents at once, without an admin (for trusted networks only). */
  AGENT_AUTO_ACCEPT: configFields.flag(false),
});
export type AgentPresenceConfig = z.infer<typeof AgentPresenceConfig>;
