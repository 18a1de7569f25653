import type { InstalledComponent } from '@herald/contracts';
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

export type AgentEvent = AgentConnected | AgentDisconnected | AgentComponentsReported | IndependentPrivilegeChanged;

export interface AgentState {
  known: boolean;
  online: boolean;
  bootId: string | null;
  hostname: string;
  independentMode: boolean;
  independentPrivilege: boolean;
  components: InstalledComponent[];
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
      now: Date;
    }
  | { type: 'RecordHeartbeat'; agentId: string; bootId: string; now: Date }
  | { type: 'RecordGoodbye'; agentId: string; bootId: string; now: Date }
  | { type: 'RecordInstalledComponents'; agentId: string; components: InstalledComponent[]; now: Date }
  | { type: 'MarkTimedOut'; agentId: string; now: Date }
  | { type: 'SetIndependentPrivilege'; agentId: string; granted: boolean; by: string; now: Date };

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
          saidGoodbye: false,
        };
      case 'AgentDisconnected':
        return { ...state, online: false, saidGoodbye: event.data.reason === 'goodbye' };
      case 'AgentComponentsReported':
        return { ...state, components: event.data.components };
      case 'IndependentPrivilegeChanged':
        return { ...state, independentPrivilege: event.data.granted };
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
    default:
      return unreachable(command, 'command');
  }
}

/** Every hello connects the agent; `restarted` when its boot id changed since we last saw it. */
function recordHello(command: Command<'RecordHello'>, state: AgentState): AgentEvent[] {
  const { agentId, bootId, hostname, agentVersion, independentMode, components } = command;
  const data = { agentId, bootId, hostname, agentVersion, independentMode, components, via: 'hello' as const, restarted: state.known && state.bootId !== bootId, returning: state.known };
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
  const { hostname, independentMode, components } = state;
  const data = { agentId, bootId, hostname, agentVersion: '', independentMode, components, via: 'heartbeat' as const, restarted: state.bootId !== bootId, returning: true };
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

/** online / offline / independent, as admins see it. */
export function statusOf(state: Pick<AgentState, 'online' | 'independentMode'>): 'online' | 'offline' | 'independent' {
  if (!state.online) return 'offline';
  return state.independentMode ? 'independent' : 'online';
}
