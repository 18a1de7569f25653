import { z } from 'zod';
import { AgentId, ComponentTarget, InstalledComponent, Labels, MAX_LABELS, Timestamp, envelope } from './common';
import { ComponentType, ComponentVersion } from './versions';

/*
 * The agent protocol: what agents and the server say to each other over RabbitMQ.
 * docs/asyncapi.yaml documents the same shapes for agent authors; a test keeps the two in step.
 */

const fromAgent = { ...envelope, agentId: AgentId, sentAt: Timestamp };

/** A patch format's name, as in hello's patchFormats and the download's `formats=` (lower-case letters, digits, dots and dashes). */
export const PatchFormatName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,39}$/, 'a patch format name: lower-case letters, digits, dots and dashes, at most 40')
  .meta({ description: 'A patch format name, e.g. `bsdiff40`.' });

/** The patch formats this server builds and serves (docs/asyncapi.yaml section 6a). */
export const SERVED_PATCH_FORMATS = ['herald-delta-1', 'bsdiff40', 'zstd-patch-from'] as const;

const bootId = () => z.string().min(1).max(64).meta({ description: 'Changes every time the agent process starts (a UUID will do); the same for every message of one run.' });
const commandIdOf = (what: string) => z.uuid().meta({ description: `The commandId of the ${what} command this answers.` });

/** Sent by an agent on every (re)connect, after its command queue is consuming. */
export const Hello = z
  .strictObject({
    type: z.literal('hello'),
    ...fromAgent,
    bootId: bootId(),
    hostname: z.string().min(1).max(255),
    agentVersion: z.string().min(1).max(64).meta({ description: "The agent software's own version." }),
    independentMode: z.boolean().meta({ description: 'The agent runs in Independent mode (R8): the server does not update it unless R1a includes Independent agents, or an admin asks for an update of this agent now.' }),
    components: z.array(InstalledComponent).max(64).meta({ description: 'Every component installed, one entry per type. The server updates only types listed here.' }),
    labels: Labels.optional().meta({
      maxProperties: MAX_LABELS,
      description:
        'Optional: what the agent knows about its host, key to value, at most 32 (e.g. {"site": "paris", "os": "windows-11"}), for admins to filter by and to pick canary groups. Each hello replaces the labels the agent reported before (absent: none); labels an admin set on the agent take precedence over these.',
    }),
    patchFormats: z
      .array(PatchFormatName)
      .max(16)
      .optional()
      .meta({
        description:
          'Optional (protocol 1.3): the patch formats this agent applies, in no particular order: `herald-delta-1`, `bsdiff40`, `zstd-patch-from` (section 6a); names the server does not know are kept but never served. Send the same list with every download (`formats=`). Absent: `herald-delta-1` only (agents before 1.3); empty: none, the agent always takes full files.',
      }),
  })
  .meta({ description: 'Sent on every (re)connect, once the command queue is consuming.' });

export const Heartbeat = z
  .strictObject({
    type: z.literal('heartbeat'),
    ...fromAgent,
    bootId: bootId(),
  })
  .meta({ description: 'Sent at a fixed interval while connected, so the server knows the agent is alive.' });

/** Sent on clean shutdown, so the server marks the agent offline at once. */
export const Goodbye = z
  .strictObject({
    type: z.literal('goodbye'),
    ...fromAgent,
    bootId: bootId(),
  })
  .meta({ description: 'Sent on a clean shutdown, so the server marks the agent offline at once.' });

/** The agent received an update command and will act on it. Only this counts as delivery. */
export const Ack = z
  .strictObject({
    type: z.literal('ack'),
    ...fromAgent,
    commandId: commandIdOf('update'),
    notificationId: z.uuid().meta({ description: 'The notificationId of the update command.' }),
    attempt: z.number().int().positive().meta({ description: 'The attempt of the update command.' }),
  })
  .meta({ description: 'The agent received an update command and will carry it out. Only this counts as delivered (R4).' });

export const AppliedComponent = z
  .strictObject({
    type: ComponentType,
    fromVersion: ComponentVersion.nullable().meta({ description: 'The version installed before; null if none was.' }),
    toVersion: ComponentVersion,
    mode: z.enum(['full', 'incremental', 'none']).meta({ description: 'full: the whole file was downloaded; incremental: a patch; none: already at or past the target, nothing downloaded.' }),
    bytes: z.number().int().nonnegative().meta({ description: 'Bytes downloaded for this component (the patch or the file); 0 for none.' }),
  })
  .meta({ description: 'What the agent did about one component of the command; toVersion is the version installed now (for mode none, the one that was already there).' });
export type AppliedComponent = z.infer<typeof AppliedComponent>;

export const UpdateResult = z
  .strictObject({
    type: z.literal('update-result'),
    ...fromAgent,
    commandId: commandIdOf('update'),
    notificationId: z.uuid().meta({ description: 'The notificationId of the update command.' }),
    outcome: z.enum(['completed', 'failed']),
    components: z.array(AppliedComponent).max(64).meta({ description: 'One entry per component handled, in the order handled; after a failure, those done before it.' }),
    installed: z.array(InstalledComponent).max(64).meta({ description: 'Everything installed now, after the update (or the failed attempt), one entry per type.' }),
    error: z.string().max(2000).optional().meta({ description: 'With outcome failed: what went wrong.' }),
  })
  .meta({ description: 'The agent finished carrying out an update command.' });

export const ScanResult = z
  .strictObject({
    type: z.literal('scan-result'),
    ...fromAgent,
    commandId: commandIdOf('scan'),
    scanId: z.uuid().meta({ description: 'The scanId of the scan command.' }),
    outcome: z.enum(['clean', 'threats-found', 'failed']),
    threatsFound: z.number().int().nonnegative(),
    error: z.string().max(2000).optional().meta({ description: 'With outcome failed: what went wrong.' }),
  })
  .meta({ description: 'The agent ran the Scan Now a scan command asked for.' });

export const AgentMessage = z.discriminatedUnion('type', [Hello, Heartbeat, Goodbye, Ack, UpdateResult, ScanResult]);
export type AgentMessage = z.infer<typeof AgentMessage>;
export type Hello = z.infer<typeof Hello>;
export type Heartbeat = z.infer<typeof Heartbeat>;
export type Goodbye = z.infer<typeof Goodbye>;
export type Ack = z.infer<typeof Ack>;
export type UpdateResult = z.infer<typeof UpdateResult>;
export type ScanResult = z.infer<typeof ScanResult>;
export type AgentMessageType = AgentMessage['type'];

const toAgent = {
  ...envelope,
  commandId: z.uuid().meta({ description: 'Identifies this command; a copy of the same command carries the same one (de-duplicate by it). Equals the AMQP message-id.' }),
  agentId: AgentId,
  issuedAt: Timestamp,
};

/** Tells an agent to bring the listed components up to these versions. */
export const UpdateCommand = z
  .strictObject({
    type: z.literal('update'),
    ...toAgent,
    notificationId: z.uuid().meta({ description: 'The notification this attempt belongs to; every resend of it carries the same one.' }),
    attempt: z.number().int().positive().meta({ description: '1 for the first send, counting up on every resend of the same notification.' }),
    components: z
      .array(ComponentTarget)
      .min(1)
      .max(64)
      .meta({ description: 'The versions to reach, one per component type: the latest the server has (R7), or the version an admin pinned the type to.' }),
    downgrade: z
      .array(ComponentType)
      .min(1)
      .max(64)
      .optional()
      .meta({
        description:
          'Component types an admin pinned to the listed version (a rollback): install exactly that version even when the installed one is newer, from the full file (no `?from=`). Absent when there is none; without it, never install a version older than the installed one.',
      }),
  })
  .meta({ description: 'Bring the listed components to these versions.' });
export type UpdateCommand = z.infer<typeof UpdateCommand>;

/** Tells an agent to run Scan Now. */
export const ScanCommand = z
  .strictObject({
    type: z.literal('scan'),
    ...toAgent,
    scanId: z.uuid().meta({ description: 'Identifies this scan; the scan-result names it.' }),
    notificationId: z.uuid().meta({ description: 'The notification whose completed update this scan follows (R3).' }),
  })
  .meta({ description: 'Run Scan Now (R3: after an update the server started).' });
export type ScanCommand = z.infer<typeof ScanCommand>;

/**
 * Why the server refused an agent's message, as message-refused tells it (docs/asyncapi.yaml
 * section 2). Rate-limited messages are dropped without a word, and the server's own failures
 * are not the agent's business: neither is here.
 */
export const REFUSAL_REASONS = [
  'too-large',
  'not-json',
  'unknown-type',
  'unsupported-schema-version',
  'invalid',
  'agent-id-mismatch',
  'stale',
  'from-the-future',
  'unknown-agent',
  'unroutable',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** The longest `detail` of a message-refused. */
export const MAX_REFUSAL_DETAIL = 500;

/** Tells an agent that the server refused (parked) one of its messages; best effort, rate-limited. */
export const MessageRefusedCommand = z
  .strictObject({
    type: z.literal('message-refused'),
    ...toAgent,
    refusedMessageId: z
      .string()
      .min(1)
      .max(255)
      .nullable()
      .meta({ description: "The refused message's `messageId` as its body gave it, else its AMQP `message_id` property; null when neither could be read (a body that is not JSON, or too large to be read, published without `message_id`)." }),
    refusedType: z
      .string()
      .min(1)
      .max(255)
      .nullable()
      .meta({ description: "The refused message's `type` as its body gave it, else the last part of its routing key; null when neither is known." }),
    reason: z.enum(REFUSAL_REASONS).meta({ description: 'Why it was refused: the check of section 2 it failed.' }),
    detail: z
      .string()
      .max(MAX_REFUSAL_DETAIL)
      .meta({ description: 'What was wrong, for the agent\'s log (never the message\'s body): e.g. which field is invalid, or how old `sentAt` was.' }),
    suppressed: z
      .number()
      .int()
      .nonnegative()
      .meta({ description: 'How many more of your messages this server service refused, and did not tell you about, since its previous message-refused to you (it tells each agent at most once per interval).' }),
  })
  .meta({ description: 'The server refused (parked) a message you sent; nothing to answer. Best effort: not every refusal is told.' });
export type MessageRefusedCommand = z.infer<typeof MessageRefusedCommand>;

export const AgentCommand = z.discriminatedUnion('type', [UpdateCommand, ScanCommand, MessageRefusedCommand]);
export type AgentCommand = z.infer<typeof AgentCommand>;
