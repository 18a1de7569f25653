import { DeciderSpec } from '@herald/testing';
import { credentialSha256, parseAgentPassword, resourceAllowed, topicAllowed } from './broker-access';
import { AdmissionConflictError, type IdentityEvent, identityDecider } from './identity.decider';

const spec = DeciderSpec(identityDecider);
const now = new Date('2026-11-30T08:00:00.000Z');
const at = now.toISOString();
const agentId = 'pc-0042';
const enrolled: IdentityEvent = { type: 'AgentEnrolled', data: { agentId, credentialSha256: 'c1', enrolledWith: 'site-a', at } };
const accepted: IdentityEvent = { type: 'AgentAccepted', data: { agentId, by: 'alice', at } };

describe('agent identity decider', () => {
  const enrol = { type: 'Enrol', agentId, credentialSha256: 'c1', enrolledWith: 'site-a', autoAccept: false, now } as const;

  it('binds the first credential and waits for an admin, or accepts at once with auto-accept', () => {
    spec.given([]).when(enrol).then([enrolled]);
    spec.given([]).when({ ...enrol, autoAccept: true }).then([enrolled, { type: 'AgentAccepted', data: { agentId, by: 'auto-accept', at } }]);
  });

  it('never binds a second credential: a later enrolment, with any secret, changes nothing', () => {
    spec.given([enrolled]).when({ ...enrol, credentialSha256: 'c2' }).thenNothing();
    spec.given([enrolled, accepted]).when({ ...enrol, credentialSha256: 'c2', autoAccept: true }).thenNothing();
  });

  it('accepts, rejects, revokes and forgets as an admin says, recording who', () => {
    spec.given([enrolled]).when({ type: 'Accept', agentId, by: 'alice', now }).then([accepted]);
    spec.given([enrolled]).when({ type: 'Reject', agentId, by: 'alice', reason: 'unknown host', now }).then([{ type: 'AgentRejected', data: { agentId, by: 'alice', reason: 'unknown host', at } }]);
    spec.given([enrolled, accepted]).when({ type: 'Revoke', agentId, by: 'bob', reason: null, now }).then([{ type: 'AgentRevoked', data: { agentId, by: 'bob', reason: null, at } }]);
    const revoked: IdentityEvent = { type: 'AgentRevoked', data: { agentId, by: 'bob', reason: null, at } };
    spec.given([enrolled, accepted, revoked]).when({ type: 'Accept', agentId, by: 'alice', now }).then([accepted]);
    spec.given([enrolled, accepted]).when({ type: 'Forget', agentId, by: 'bob', now }).then([{ type: 'AgentIdentityForgotten', data: { agentId, by: 'bob', at } }]);
    // Forgotten: the id enrols again, with a new credential.
    const forgotten: IdentityEvent = { type: 'AgentIdentityForgotten', data: { agentId, by: 'bob', at } };
    spec.given([enrolled, accepted, forgotten]).when({ ...enrol, credentialSha256: 'c2' }).then([{ ...enrolled, data: { ...enrolled.data, credentialSha256: 'c2' } } as IdentityEvent]);
  });

  it('refuses decisions that do not fit the status, and repeats nothing', () => {
    expect(() => spec.given([]).when({ type: 'Accept', agentId, by: 'alice', now }).events()).toThrow(AdmissionConflictError);
    expect(() => spec.given([enrolled, accepted]).when({ type: 'Reject', agentId, by: 'alice', reason: null, now }).events()).toThrow(AdmissionConflictError);
    expect(() => spec.given([enrolled]).when({ type: 'Revoke', agentId, by: 'alice', reason: null, now }).events()).toThrow(AdmissionConflictError);
    spec.given([enrolled, accepted]).when({ type: 'Accept', agentId, by: 'alice', now }).thenNothing();
    spec.given([]).when({ type: 'Forget', agentId, by: 'alice', now }).thenNothing();
  });
});

describe('what an agent identity may do on the broker', () => {
  const r = (resource: string, name: string, permission: string) => resourceAllowed(agentId, { resource, name, permission });
  const t = (name: string, permission: string, routingKey: string) => topicAllowed(agentId, { resource: 'topic', name, permission, routingKey });

  it('its own queue, fully; the outbound exchange to read (bind) and the inbound one to write; nothing else', () => {
    for (const p of ['configure', 'write', 'read']) expect(r('queue', 'herald.agent.pc-0042', p)).toBe(true);
    expect(r('queue', 'herald.agent.pc-0043', 'read')).toBe(false);
    expect(r('queue', 'herald.presence.agent-inbound', 'read')).toBe(false);
    expect(r('queue', 'herald.presence.agent-inbound', 'configure')).toBe(false);
    expect(r('exchange', 'herald.agent.outbound', 'read')).toBe(true);
    expect(r('exchange', 'herald.agent.outbound', 'write')).toBe(false);
    expect(r('exchange', 'herald.agent.inbound', 'write')).toBe(true);
    expect(r('exchange', 'herald.agent.inbound', 'configure')).toBe(false);
    expect(r('exchange', 'herald.agent.commands', 'read')).toBe(false);
    expect(r('exchange', 'herald.events', 'write')).toBe(false);
    expect(r('exchange', 'amq.default', 'write')).toBe(false);
    expect(resourceAllowed('not an id', { resource: 'queue', name: 'herald.agent.not an id', permission: 'read' })).toBe(false);
  });

  it('binds only its own id, publishes only its own routing keys', () => {
    expect(t('herald.agent.outbound', 'read', 'pc-0042')).toBe(true);
    for (const key of ['pc-0043', '#', '*', 'pc-0042.#', '']) expect(t('herald.agent.outbound', 'read', key)).toBe(false);
    expect(t('herald.agent.inbound', 'write', 'agent.pc-0042.hello')).toBe(true);
    expect(t('herald.agent.inbound', 'write', 'agent.pc-0042.some-new-type')).toBe(true); // parked by the server, not refused here
    for (const key of ['agent.pc-0043.hello', 'agent.pc-0042', 'agent.pc-0042.hello.x', 'agent.*.hello', 'agent.pc-00421.hello'])
      expect(t('herald.agent.inbound', 'write', key)).toBe(false);
    expect(t('herald.agent.inbound', 'read', 'agent.pc-0042.hello')).toBe(false);
    expect(t('herald.events', 'write', 'agent.pc-0042.hello')).toBe(false);
  });

  it('reads its password as token and secret, the secret long enough', () => {
    const secret = 'x'.repeat(43);
    expect(parseAgentPassword(`enrol-me:${secret}`)).toEqual({ enrolmentToken: 'enrol-me', secret });
    expect(parseAgentPassword(`a:b:${secret}`)).toEqual({ enrolmentToken: 'a:b', secret });
    expect(parseAgentPassword(secret)).toEqual({ enrolmentToken: null, secret });
    expect(parseAgentPassword('token:short')).toBeNull();
    expect(credentialSha256(secret)).toMatch(/^[0-9a-f]{64}$/);
  });
});
