import { z } from 'zod';
import { AgentId, ComponentTarget, InstalledComponent, Timestamp, envelope } from './common';

/*
 * Integration events: what one Herald service tells the others. Each service's domain events
 * stay inside it; these are the published facts, routed on the events exchange by their type.
 */

const event = { ...envelope, occurredAt: Timestamp, correlationId: z.string().max(128).optional() };

/**
 * Whether a component type is pinned, as of a position in its history at component-download.
 * Events about one type can arrive out of order; a consumer keeps the pin of the highest sequence.
 */
export const PinState = z.strictObject({
  sequence: z.number().int().positive(),
  /** The version an admin pinned the type to (kept by component-download while pinned); null: not pinned, agents follow the latest. */
  pinned: ComponentTarget.nullable(),
});
export type PinState = z.infer<typeof PinState>;

/** component-download has downloaded and verified a new version; the trigger for rule R1. */
export const ComponentVersionAvailable = z.strictObject({
  type: z.literal('component.version-available'),
  ...event,
  component: ComponentTarget,
  previousVersion: z.string().nullable(),
  /** The latest verified version of every component type, this one included. */
  catalog: z.array(ComponentTarget),
  /** The type's pin as of this version (absent in events written before pinning existed). A pinned type gets no rollout of the new version. */
  pin: PinState.optional(),
});
export type ComponentVersionAvailable = z.infer<typeof ComponentVersionAvailable>;

/** An admin pinned a component type to a kept version (or moved the pin): agents on any other version go to it. */
export const ComponentPinned = z.strictObject({
  type: z.literal('component.pinned'),
  ...event,
  componentType: z.string(),
  pin: PinState.extend({ pinned: ComponentTarget }),
  /** The latest version kept, which agents return to when the type is unpinned. */
  latest: ComponentTarget,
  by: z.string(),
  reason: z.string().nullable(),
});
export type ComponentPinned = z.infer<typeof ComponentPinned>;

/** An admin removed the pin: agents follow the latest version again. */
export const ComponentUnpinned = z.strictObject({
  type: z.literal('component.unpinned'),
  ...event,
  componentType: z.string(),
  pin: PinState.extend({ pinned: z.null() }),
  /** The version that was pinned. */
  pinnedVersion: z.string(),
  latest: ComponentTarget,
  by: z.string(),
});
export type ComponentUnpinned = z.infer<typeof ComponentUnpinned>;

const agentFacts = {
  agentId: AgentId,
  /**
   * Position of this fact in the agent's history at agent-presence. Events can arrive out of
   * order (competing consumers, relay retries); a consumer ignores one older than what it has.
   */
  sequence: z.number().int().positive(),
  hostname: z.string(),
  independentMode: z.boolean(),
  independentPrivilege: z.boolean(),
  components: z.array(InstalledComponent),
  /** The agent's labels as admins see them: those it reported, overridden by those an admin set. Absent in events written before labels existed. */
  labels: z.record(z.string(), z.string()).default({}),
};

/** An agent said hello (or came back after a heartbeat timeout). The trigger for rule R2. */
export const AgentConnected = z.strictObject({
  type: z.literal('agent.connected'),
  ...event,
  ...agentFacts,
  bootId: z.string(),
  /** True when the agent was seen before (restart or reconnect), false on its first hello ever. */
  returning: z.boolean(),
  /**
   * hello: the agent said hello, so it (re)connected and a notification it had open was
   * interrupted. heartbeat: presence had timed the agent out and heard it again; its connection
   * may never have dropped, and it still has in hand what it was doing. Absent in events written
   * before it existed, which were all hellos.
   */
  via: z.enum(['hello', 'heartbeat']).default('hello'),
});
export type AgentConnected = z.infer<typeof AgentConnected>;

export const AgentDisconnected = z.strictObject({
  type: z.literal('agent.disconnected'),
  ...event,
  agentId: AgentId,
  sequence: z.number().int().positive(),
  reason: z.enum(['goodbye', 'heartbeat-timeout']),
});
export type AgentDisconnected = z.infer<typeof AgentDisconnected>;

/** Anything else about an agent changed: its privilege, its mode or its reported components. */
export const AgentChanged = z.strictObject({
  type: z.literal('agent.changed'),
  ...event,
  ...agentFacts,
  online: z.boolean(),
});
export type AgentChanged = z.infer<typeof AgentChanged>;

export const IntegrationEvent = z.discriminatedUnion('type', [
  ComponentVersionAvailable,
  ComponentPinned,
  ComponentUnpinned,
  AgentConnected,
  AgentDisconnected,
  AgentChanged,
]);
export type IntegrationEvent = z.infer<typeof IntegrationEvent>;
export type IntegrationEventType = IntegrationEvent['type'];
