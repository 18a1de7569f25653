import { z } from 'zod';
import { AgentId, ComponentTarget, InstalledComponent, MessageId, Timestamp, envelope } from './common';
import { ComponentType, ComponentVersion } from './versions';

/*
 * The agent protocol: what agents and the server say to each other over RabbitMQ.
 * docs/asyncapi.yaml documents the same shapes for agent authors; a test keeps the two in step.
 */

const fromAgent = { ...envelope, agentId: AgentId, sentAt: Timestamp };

/** Sent by an agent on every (re)connect, after its command queue is consuming. */
export const Hello = z.strictObject({
  type: z.literal('hello'),
  ...fromAgent,
  /** Changes every time the agent process starts; tells a restart from a reconnect. */
  bootId: z.string().min(1).max(64),
  hostname: z.string().min(1).max(255),
  agentVersion: z.string().min(1).max(64),
  /** The agent runs in Independent mode (it does not take updates from the server unless told to include it). */
  independentMode: z.boolean(),
  components: z.array(InstalledComponent).max(64),
});

export const Heartbeat = z.strictObject({
  type: z.literal('heartbeat'),
  ...fromAgent,
  bootId: z.string().min(1).max(64),
});

/** Sent on clean shutdown, so the server marks the agent offline at once. */
export const Goodbye = z.strictObject({
  type: z.literal('goodbye'),
  ...fromAgent,
  bootId: z.string().min(1).max(64),
});

/** The agent received an update command and will act on it. Only this counts as delivery. */
export const Ack = z.strictObject({
  type: z.literal('ack'),
  ...fromAgent,
  commandId: MessageId,
  notificationId: z.uuid(),
  attempt: z.number().int().positive(),
});

export const AppliedComponent = z.strictObject({
  type: ComponentType,
  fromVersion: ComponentVersion.nullable(),
  toVersion: ComponentVersion,
  /** full: whole file; incremental: a patch; none: already at or past the target. */
  mode: z.enum(['full', 'incremental', 'none']),
  bytes: z.number().int().nonnegative(),
});
export type AppliedComponent = z.infer<typeof AppliedComponent>;

export const UpdateResult = z.strictObject({
  type: z.literal('update-result'),
  ...fromAgent,
  commandId: MessageId,
  notificationId: z.uuid(),
  outcome: z.enum(['completed', 'failed']),
  components: z.array(AppliedComponent).max(64),
  /** What the agent has installed now, after the update (or the failed attempt). */
  installed: z.array(InstalledComponent).max(64),
  error: z.string().max(2000).optional(),
});

export const ScanResult = z.strictObject({
  type: z.literal('scan-result'),
  ...fromAgent,
  commandId: MessageId,
  scanId: z.uuid(),
  outcome: z.enum(['clean', 'threats-found', 'failed']),
  threatsFound: z.number().int().nonnegative(),
  error: z.string().max(2000).optional(),
});

export const AgentMessage = z.discriminatedUnion('type', [Hello, Heartbeat, Goodbye, Ack, UpdateResult, ScanResult]);
export type AgentMessage = z.infer<typeof AgentMessage>;
export type Hello = z.infer<typeof Hello>;
export type Heartbeat = z.infer<typeof Heartbeat>;
export type Goodbye = z.infer<typeof Goodbye>;
export type Ack = z.infer<typeof Ack>;
export type UpdateResult = z.infer<typeof UpdateResult>;
export type ScanResult = z.infer<typeof ScanResult>;
export type AgentMessageType = AgentMessage['type'];

const toAgent = { ...envelope, commandId: MessageId, agentId: AgentId, issuedAt: Timestamp };

/** Tells an agent to bring the listed components up to these versions. */
export const UpdateCommand = z.strictObject({
  type: z.literal('update'),
  ...toAgent,
  notificationId: z.uuid(),
  /** 1 for the first send, counting up on every resend of the same notification. */
  attempt: z.number().int().positive(),
  components: z.array(ComponentTarget).min(1).max(64),
});
export type UpdateCommand = z.infer<typeof UpdateCommand>;

/** Tells an agent to run Scan Now. */
export const ScanCommand = z.strictObject({
  type: z.literal('scan'),
  ...toAgent,
  scanId: z.uuid(),
  notificationId: z.uuid(),
});
export type ScanCommand = z.infer<typeof ScanCommand>;

export const AgentCommand = z.discriminatedUnion('type', [UpdateCommand, ScanCommand]);
export type AgentCommand = z.infer<typeof AgentCommand>;
