import type { InstalledComponent } from '@herald/contracts';
import type { Decider, Event } from '@herald/domain';

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
        };
      case 'AgentDisconnected':
        return { ...state, online: false };
      case 'AgentComponentsReported':
        return { ...state, components: event.data.components };
      case 'IndependentPrivilegeChanged':
        return { ...state, independentPrivilege: event.data.granted };
      default: {
        const unknown: never = event;
        throw new Error(`unknown event ${JSON.stringify(unknown)}`);
      }
    }
  },

  decide(command, state) {
    const at = command.now.toISOString();
    switch (command.type) {
      case 'RecordHello':
        return [
          {
            type: 'AgentConnected',
            data: {
              agentId: command.agentId,
              bootId: command.bootId,
              hostname: command.hostname,
              agentVersion: command.agentVersion,
              independentMode: command.independentMode,
              components: command.components,
              via: 'hello',
              restarted: state.known && state.bootId !== command.bootId,
              returning: state.known,
              at,
            },
          },
        ];
      case 'RecordHeartbeat':
        // Only news when we had given the agent up; otherwise it just moves last_seen_at.
        if (!state.known || state.online) return [];
        return [
          {
            type: 'AgentConnected',
            data: {
              agentId: command.agentId,
              bootId: command.bootId,
              hostname: state.hostname,
              agentVersion: '',
              independentMode: state.independentMode,
              components: state.components,
              via: 'heartbeat',
              restarted: state.bootId !== command.bootId,
              returning: true,
              at,
            },
          },
        ];
      case 'RecordGoodbye':
        // A goodbye from an earlier boot arriving after the new hello must not take the agent offline.
        if (!state.online || state.bootId !== command.bootId) return [];
        return [{ type: 'AgentDisconnected', data: { agentId: command.agentId, reason: 'goodbye', at } }];
      case 'MarkTimedOut':
        if (!state.online) return [];
        return [{ type: 'AgentDisconnected', data: { agentId: command.agentId, reason: 'heartbeat-timeout', at } }];
      case 'RecordInstalledComponents':
        if (!state.known || sameComponents(state.components, command.components)) return [];
        return [{ type: 'AgentComponentsReported', data: { agentId: command.agentId, components: command.components, at } }];
      case 'SetIndependentPrivilege':
        if (state.independentPrivilege === command.granted) return [];
        return [{ type: 'IndependentPrivilegeChanged', data: { agentId: command.agentId, granted: command.granted, by: command.by, at } }];
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },
};

/** online / offline / independent, as admins see it. */
export function statusOf(state: Pick<AgentState, 'online' | 'independentMode'>): 'online' | 'offline' | 'independent' {
  if (!state.online) return 'offline';
  return state.independentMode ? 'independent' : 'online';
}
