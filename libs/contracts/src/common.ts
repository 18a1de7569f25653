import { z } from 'zod';
import { ComponentType, ComponentVersion } from './versions';

/**
 * Agent ids travel in routing keys, so they may not contain dots, '#' or '*':
 * letters, digits, '-' and '_', 1 to 64 characters.
 */
export const AgentId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'an agent id is 1 to 64 letters, digits, "-" or "_"')
  .meta({ description: 'The agent\'s id: 1 to 64 letters, digits, "-" or "_" (no dots: it travels in routing keys).' });

export const MessageId = z.uuid();
export const Timestamp = z.iso.datetime({ offset: true }).meta({ description: 'An RFC 3339 date-time with an offset, e.g. "2025-05-01T12:00:00.000Z".' });

/** What an agent has installed: one entry per component type. */
export const InstalledComponent = z
  .strictObject({
    type: ComponentType,
    version: ComponentVersion,
  })
  .meta({ description: 'A component the agent has installed, at its version.' });
export type InstalledComponent = z.infer<typeof InstalledComponent>;

/** A component version the server offers, with what an agent needs to fetch and verify it. */
export const ComponentTarget = z
  .strictObject({
    type: ComponentType,
    version: ComponentVersion,
    sha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256 digest')
      .meta({ description: 'Lower-case hex SHA-256 of the full file of this version: install only a file with this digest.' }),
    size: z.number().int().nonnegative().meta({ description: 'Bytes of the full file of this version.' }),
    url: z.url().meta({ description: 'Absolute URL of the download endpoint; GET it, with `?from=<installed version>` for a patch.' }),
  })
  .meta({ description: 'A component version to reach, with what the agent needs to fetch and verify it.' });
export type ComponentTarget = z.infer<typeof ComponentTarget>;

/** Fields every message carries, whatever its direction. */
export const envelope = {
  schemaVersion: z.literal(1).meta({ description: 'Version of the message schema; 1 is the only one.' }),
  messageId: MessageId.meta({
    description: 'Unique per message (a copy sent again keeps it): receivers de-duplicate by it. Equals the AMQP message-id property.',
  }),
};
