import { z } from 'zod';
import { ComponentType, ComponentVersion } from './versions';

/**
 * Agent ids travel in routing keys, so they may not contain dots, '#' or '*':
 * letters, digits, '-' and '_', 1 to 64 characters.
 */
export const AgentId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'an agent id is 1 to 64 letters, digits, "-" or "_"');

export const MessageId = z.uuid();
export const Timestamp = z.iso.datetime({ offset: true });

/** What an agent has installed: one entry per component type. */
export const InstalledComponent = z.strictObject({
  type: ComponentType,
  version: ComponentVersion,
});
export type InstalledComponent = z.infer<typeof InstalledComponent>;

/** A component version the server offers, with what an agent needs to fetch and verify it. */
export const ComponentTarget = z.strictObject({
  type: ComponentType,
  version: ComponentVersion,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256 digest'),
  size: z.number().int().nonnegative(),
  /** Absolute URL of the download endpoint; the agent adds `?from=<its version>` for a patch. */
  url: z.url(),
});
export type ComponentTarget = z.infer<typeof ComponentTarget>;

/** Fields every message carries, whatever its direction. */
export const envelope = {
  schemaVersion: z.literal(1),
  messageId: MessageId,
};
