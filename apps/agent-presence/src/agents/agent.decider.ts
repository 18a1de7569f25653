import { type InstalledComponent, type Labels, MAX_LABELS } from '@herald/contracts';
import { type Decider, type Event, unreachable } from '@herald/domain';

/*
 * One stream per agent ("agent-<id>"): what the agent told us about itself (hello, goodbye,
 * components), when it went offline, and the privileges an admin gave it. Heartbeats are not
 * events: they only move last_seen_at in the read model.
 */

export type AgentConnected = Event<
  'AgentConnected',
  {
    agentId: string;
    bootId: string;
    hostname: string;
    agentVersion: string;
    independentMode: boolean;
    components: InstalledComponent[];
    /** The labels the agent reported in its (last) hello; absent in events from before labels. */
    labels?: Labels;
    /** The patch formats the agent declared in its (last) hello; null or absent: none declared (herald-delta-1 only, protocol before 1.3). */
    patchFormats?: string[] | null;
    /** hello: the agent said hello; heartbeat: an agent we had timed out is heard from again. */
    via: 'hello' | 'heartbeat';
    /** The agent process restarted since we last saw it (its boot id changed). */
    restarted: boolean;
    returning: boolean;
    at: string;
  }
>;

export type AgentDisconnected = Event<'AgentDisconnected', { agentId: string; reason: 'goodbye' | 'heartbeat-timeout'; at: string }>;

export type AgentComponentsReported = Event<'AgentComponentsReported', { agentId: string; components: InstalledComponent[]; at: string }>;

export type IndependentPrivilegeChanged = Event<'IndependentPrivilegeChanged', { agentId: string; granted: boolean; by: string; at: string }>;

/** An admin set or removed labels of their own on the agent (`set` wins over what the agent reports). */
export type AgentLabelsChanged = Event<'AgentLabelsChanged', { agentId: string; set: Labels; removed: string[]; by: string; at: string }>;

export type AgentEvent = AgentConnected | AgentDisconnected | AgentComponentsReported | IndependentPrivilegeChanged | AgentLabelsChanged;

export interface AgentState {
  known: boolean;
  online: boolean;
  bootId: string | null;
  hostname: string;
  independentMode: boolean;
  independentPrivilege: boolean;
  components: InstalledComponent[];
  /** What the agent reported in its last hello. */
  reportedLabels: Labels;
  /** What admins set; a key here hides the same key reported by the agent. */
  adminLabels: Labels;
  /** The patch formats declared in the last hello (null: none declared). */
  patchFormats: string[] | null;
  /** The boot (bootId) said goodbye: that process has ended, and nothing of it brings the agent back. */
  saidGoodbye: boolean;
}

export type AgentCommand =
  | {
      type: 'RecordHello';
      agentId: string;
      bootId: string;
      hostname: string;
      agentVersion: string;
      independentMode: boolean;
      components: InstalledComponent[];
      labels: Labels;
      patchFormats: string[] | null;
      now: Date;
    }
  | { type: 'RecordHeartbeat'; agentId: string; bootId: string; now: Date }
  | { type: 'RecordGoodbye'; agentId: string; bootId: string; now: Date }
  | { type: 'RecordInstalledComponents'; agentId: string; components: InstalledComponent[]; now: Date }
  | { type: 'MarkTimedOut'; agentId: string; now: Date }
  | { type: 'SetIndependentPrivilege'; agentId: string; granted: boolean; by: string; now: Date }
  | { type: 'SetLabels'; agentId: string; set: Labels; remove: readonly string[]; by: string; now: Date };

export const agentStreamId = (agentId: string): string => `agent-${agentId}`;

const sameComponents = (a: readonly InstalledComponent[], b: readonly InstalledComponent[]): boolean =>
  a.length === b.length && a.every((c) => b.some((d) => d.type === c.type && d.version === c.version));

export const agentDecider: Decider<AgentState, AgentCommand, AgentEvent> = {
  initialState: () => ({
    known: false,
    online: false,
    bootId: null,
    hostname: '',
    independentMode: false,
    independentPrivilege: false,
    components: [],
    reportedLabels: {},
    adminLabels: {},
    patchFormats: null,
    saidGoodbye: false,
  }),

  evolve(state, event) {
    switch (event.type) {
      case 'AgentConnected':
        return {
          ...state,
          known: true,
          online: true,
          bootId: event.data.bootId,
          hostname: event.data.hostname,
          independentMode: event.data.independentMode,
          components: event.data.components,
          reportedLabels: event.data.labels ?? {},
          patchFormats: event.data.patchFormats ?? null,
          saidGoodbye: false,
        };
      case 'AgentDisconnected':
        return { ...state, online: false, saidGoodbye: event.data.reason === 'goodbye' };
      case 'AgentComponentsReported':
        return { ...state, components: event.data.components };
      case 'IndependentPrivilegeChanged':
        return { ...state, independentPrivilege: event.data.granted };
      case 'AgentLabelsChanged':
        return { ...state, adminLabels: applyLabelChange(state.adminLabels, event.data.set, event.data.removed) };
      default:
        return unreachable(event, 'event');
    }
  },

  decide,
};

type Command<T extends AgentCommand['type']> = Extract<AgentCommand, { type: T }>;

function decide(command: AgentCommand, state: AgentState): AgentEvent[] {
  switch (command.type) {
    case 'RecordHello':
      return recordHello(command, state);
    case 'RecordHeartbeat':
      return recordHeartbeat(command, state);
    case 'RecordGoodbye':
      return recordGoodbye(command, state);
    case 'MarkTimedOut':
      return markTimedOut(command, state);
    case 'RecordInstalledComponents':
      return recordInstalledComponents(command, state);
    case 'SetIndependentPrivilege':
      return setIndependentPrivilege(command, state);
    case 'SetLabels':
      return setLabels(command, state);
    default:
      return unreachable(command, 'command');
  }
}

/** Every hello connects the agent; `restarted` when its boot id changed since we last saw it. */
function recordHello(command: Command<'RecordHello'>, state: AgentState): AgentEvent[] {
  const { agentId, bootId, hostname, agentVersion, independentMode, components, labels, patchFormats } = command;
  const data = { agentId, bootId, hostname, agentVersion, independentMode, components, labels, patchFormats, via: 'hello' as const, restarted: state.known && state.bootId !== bootId, returning: state.known };
  return [{ type: 'AgentConnected', data: { ...data, at: command.now.toISOString() } }];
}

/**
 * Only news when we had given the agent up; otherwise a heartbeat just moves last_seen_at. A
 * heartbeat of a boot that said goodbye was sent before the goodbye and handled after it
 * (heartbeats have a queue of their own): that process has ended, so it brings nothing back.
 */
function recordHeartbeat(command: Command<'RecordHeartbeat'>, state: AgentState): AgentEvent[] {
  if (!state.known || state.online) return [];
  if (state.saidGoodbye && state.bootId === command.bootId) return [];
  const { agentId, bootId } = command;
  const { hostname, independentMode, components, reportedLabels: labels, patchFormats } = state;
  const data = { agentId, bootId, hostname, agentVersion: '', independentMode, components, labels, patchFormats, via: 'heartbeat' as const, restarted: state.bootId !== bootId, returning: true };
  return [{ type: 'AgentConnected', data: { ...data, at: command.now.toISOString() } }];
}

/** A goodbye from an earlier boot arriving after the new hello must not take the agent offline. */
function recordGoodbye(command: Command<'RecordGoodbye'>, state: AgentState): AgentEvent[] {
  if (!state.online || state.bootId !== command.bootId) return [];
  return [{ type: 'AgentDisconnected', data: { agentId: command.agentId, reason: 'goodbye', at: command.now.toISOString() } }];
}

function markTimedOut(command: Command<'MarkTimedOut'>, state: AgentState): AgentEvent[] {
  if (!state.online) return [];
  return [{ type: 'AgentDisconnected', data: { agentId: command.agentId, reason: 'heartbeat-timeout', at: command.now.toISOString() } }];
}

function recordInstalledComponents(command: Command<'RecordInstalledComponents'>, state: AgentState): AgentEvent[] {
  if (!state.known || sameComponents(state.components, command.components)) return [];
  return [{ type: 'AgentComponentsReported', data: { agentId: command.agentId, components: command.components, at: command.now.toISOString() } }];
}

/** R8: an admin grants or revokes the Independent privilege. */
function setIndependentPrivilege(command: Command<'SetIndependentPrivilege'>, state: AgentState): AgentEvent[] {
  if (state.independentPrivilege === command.granted) return [];
  return [{ type: 'IndependentPrivilegeChanged', data: { agentId: command.agentId, granted: command.granted, by: command.by, at: command.now.toISOString() } }];
}

/**
 * An admin's labels: `set` added or replaced, then `remove` taken away. No event when nothing
 * changes, nor when the agent would end with more than MAX_LABELS labels of admins (the API
 * refuses a single agent's such change; a bulk change leaves such agents as they are).
 */
function setLabels(command: Command<'SetLabels'>, state: AgentState): AgentEvent[] {
  const set = Object.fromEntries(Object.entries(command.set).filter(([k, v]) => state.adminLabels[k] !== v));
  const removed = command.remove.filter((k) => k in state.adminLabels && !(k in command.set));
  if (Object.keys(set).length === 0 && removed.length === 0) return [];
  if (Object.keys(applyLabelChange(state.adminLabels, set, removed)).length > MAX_LABELS) return [];
  return [{ type: 'AgentLabelsChanged', data: { agentId: command.agentId, set, removed, by: command.by, at: command.now.toISOString() } }];
}

export function applyLabelChange(labels: Labels, set: Labels, removed: readonly string[]): Labels {
  const out: Labels = { ...labels, ...set };
  for (const k of removed) delete out[k];
  return out;
}

/** The labels admins see and filter by: the agent's own, with admins' over them. */
export function labelsOf(state: Pick<AgentState, 'reportedLabels' | 'adminLabels'>): Labels {
  return { ...state.reportedLabels, ...state.adminLabels };
}

/** online / offline / independent, as admins see it. */
export function statusOf(state: Pick<AgentState, 'online' | 'independentMode'>): 'online' | 'offline' | 'independent' {
  if (!state.online) return 'offline';
  return state.independentMode ? 'independent' : 'online';
}
