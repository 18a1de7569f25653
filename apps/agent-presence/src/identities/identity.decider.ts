import { type Decider, type Event, unreachable } from '@herald/domain';

/*
 * One stream per agent identity ("agent-identity-<id>"): the credential an agent enrolled with
 * and what admins decided about it. An agent logs in to the broker as its id with that credential;
 * the broker asks agent-presence (rabbitmq_auth_backend_http), which allows only an accepted
 * identity with the credential it enrolled with.
 */

export type AdmissionStatus = 'pending' | 'accepted' | 'rejected' | 'revoked';

/** First login with a valid enrolment token: the agent's credential is bound to its id; `enrolledWith` names the token (never the token itself). */
export type AgentEnrolled = Event<'AgentEnrolled', { agentId: string; credentialSha256: string; enrolledWith: string; at: string }>;
/** An admin (or the auto-accept setting, by "auto-accept") let the agent in. */
export type AgentAccepted = Event<'AgentAccepted', { agentId: string; by: string; at: string }>;
/** An admin refused a pending agent. */
export type AgentRejected = Event<'AgentRejected', { agentId: string; by: string; reason: string | null; at: string }>;
/** An admin took an accepted agent's access away. */
export type AgentRevoked = Event<'AgentRevoked', { agentId: string; by: string; reason: string | null; at: string }>;
/** An admin dropped the identity: the id may enrol again, with a new credential (a reinstalled agent). */
export type AgentIdentityForgotten = Event<'AgentIdentityForgotten', { agentId: string; by: string; at: string }>;

export type IdentityEvent = AgentEnrolled | AgentAccepted | AgentRejected | AgentRevoked | AgentIdentityForgotten;

export interface IdentityState {
  status: AdmissionStatus | null;
  credentialSha256: string | null;
}

export type IdentityCommand =
  | { type: 'Enrol'; agentId: string; credentialSha256: string; enrolledWith: string; autoAccept: boolean; now: Date }
  | { type: 'Accept'; agentId: string; by: string; now: Date }
  | { type: 'Reject'; agentId: string; by: string; reason: string | null; now: Date }
  | { type: 'Revoke'; agentId: string; by: string; reason: string | null; now: Date }
  | { type: 'Forget'; agentId: string; by: string; now: Date };

export const identityStreamId = (agentId: string): string => `agent-identity-${agentId}`;

/** What an admin asked for cannot be done from the identity's status (409 at the API). */
export class AdmissionConflictError extends Error {
  override name = 'AdmissionConflictError';
}

export const identityDecider: Decider<IdentityState, IdentityCommand, IdentityEvent> = {
  initialState: () => ({ status: null, credentialSha256: null }),

  evolve(state, event) {
    switch (event.type) {
      case 'AgentEnrolled':
        return { status: 'pending', credentialSha256: event.data.credentialSha256 };
      case 'AgentAccepted':
        return { ...state, status: 'accepted' };
      case 'AgentRejected':
        return { ...state, status: 'rejected' };
      case 'AgentRevoked':
        return { ...state, status: 'revoked' };
      case 'AgentIdentityForgotten':
        return { status: null, credentialSha256: null };
      default:
        return unreachable(event, 'event');
    }
  },

  decide(command, state) {
    const at = command.now.toISOString();
    const { agentId } = command;
    switch (command.type) {
      case 'Enrol': {
        // Only the first enrolment binds a credential; a second login (or two at once) changes nothing.
        if (state.status !== null) return [];
        const enrolled: IdentityEvent = { type: 'AgentEnrolled', data: { agentId, credentialSha256: command.credentialSha256, enrolledWith: command.enrolledWith, at } };
        return command.autoAccept ? [enrolled, { type: 'AgentAccepted', data: { agentId, by: 'auto-accept', at } }] : [enrolled];
      }
      case 'Accept':
        if (state.status === 'accepted') return [];
        if (state.status === null) throw new AdmissionConflictError(`agent ${agentId} has not enrolled`);
        return [{ type: 'AgentAccepted', data: { agentId, by: command.by, at } }];
      case 'Reject':
        if (state.status === 'rejected') return [];
        if (state.status !== 'pending') throw new AdmissionConflictError(`agent ${agentId} is ${state.status ?? 'not enrolled'}: only a pending agent can be rejected (revoke an accepted one)`);
        return [{ type: 'AgentRejected', data: { agentId, by: command.by, reason: command.reason, at } }];
      case 'Revoke':
        if (state.status === 'revoked') return [];
        if (state.status !== 'accepted') throw new AdmissionConflictError(`agent ${agentId} is ${state.status ?? 'not enrolled'}: only an accepted agent can be revoked`);
        return [{ type: 'AgentRevoked', data: { agentId, by: command.by, reason: command.reason, at } }];
      case 'Forget':
        if (state.status === null) return [];
        return [{ type: 'AgentIdentityForgotten', data: { agentId, by: command.by, at } }];
      default:
        return unreachable(command, 'command');
    }
  },
};
