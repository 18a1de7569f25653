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

/** The most labels an agent may report, and the most an admin may add to one agent. */
export const MAX_LABELS = 32;
export const LabelKey = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'a label key is 1 to 63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit')
  .meta({ description: 'A label key: 1 to 63 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit (e.g. "site", "os", "ring").' });
export const LabelValue = z
  .string()
  // eslint-disable-next-line no-control-regex -- control characters are what the pattern keeps out
  .regex(/^[^\u0000-\u001f\u007f]{1,128}$/, 'a label value is 1 to 128 characters, no control characters')
  .meta({ description: 'A label value: 1 to 128 characters, no control characters (e.g. "paris", "windows-11").' });
export const Labels = z
  .record(LabelKey, LabelValue)
  .refine((l) => Object.keys(l).length <= MAX_LABELS, { message: `at most ${MAX_LABELS} labels` })
  .meta({ description: `Labels, key to value (at most ${MAX_LABELS}).` });
export type Labels = z.infer<typeof Labels>;

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

export const COMPONENT_STATEMENT_PAYLOAD_TYPE = 'application/vnd.herald.component-statement+json';
export const MANIFEST_PAYLOAD_TYPE = 'application/vnd.herald.upstream-manifest+json';

/**
 * The longest statement payload carried (base64 characters). A per-version statement is about
 * 200; a whole manifest stands in for one only up to this, since the statement travels in every
 * update command and in the events of every agent it is sent to.
 */
export const MAX_STATEMENT_PAYLOAD = 8_192;

/**
 * The upstream's signed statement about a component version, passed on unchanged from the
 * upstream to the agent so that the agent need not trust the Herald server (docs/asyncapi.yaml,
 * "Signed components"). A DSSE envelope: Ed25519 signatures over the pre-authentication
 * encoding of the payload bytes. Its payload is either a component statement
 * (`{"type","version","sha256","size"}`) or, from an upstream that signs no per-version
 * statements, the whole upstream manifest that lists the version.
 */
export const SignedStatement = z
  .strictObject({
    payloadType: z.enum([COMPONENT_STATEMENT_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE]).meta({
      description: `What the payload is: \`${COMPONENT_STATEMENT_PAYLOAD_TYPE}\` (a JSON object {type, version, sha256, size}) or \`${MANIFEST_PAYLOAD_TYPE}\` (the upstream manifest that lists this version).`,
    }),
    payload: z
      .string()
      .min(1)
      .max(MAX_STATEMENT_PAYLOAD)
      .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'standard base64')
      .meta({ description: 'Standard base64 (with padding) of the exact payload bytes the upstream signed.' }),
    signatures: z
      .array(
        z.strictObject({
          keyid: z.string().max(128).optional().meta({ description: 'Informative: the first 16 hex digits of the SHA-256 of the raw 32-byte public key.' }),
          sig: z.string().min(1).max(512).meta({ description: 'Standard base64 of the 64-byte Ed25519 signature over PAE(payloadType, payload bytes).' }),
        }),
      )
      .min(1)
      .max(16),
  })
  .meta({
    description:
      'The upstream\'s signed statement for this version, passed on unchanged: a DSSE envelope. Verify it with the upstream\'s public key before downloading (see "Signed components" in the description).',
  });
export type SignedStatement = z.infer<typeof SignedStatement>;

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
    url: z.url().meta({ description: 'Absolute URL of the download endpoint; GET it, adding the query parameters `from=<installed version>` (and `formats=`) to its query for a patch.' }),
    statement: SignedStatement.optional(),
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
