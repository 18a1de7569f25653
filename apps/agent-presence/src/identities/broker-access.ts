import { createHash } from 'node:crypto';
import { AgentId, Exchanges, agentCommandQueue } from '@herald/contracts';

/*
 * What an agent logged in with its own identity may do on the broker, as rabbitmq_auth_backend_http
 * asks it: consume its own command queue (declare it, bind it to the outbound exchange with its
 * own id, read it) and publish to the inbound exchange with routing keys of its own id. Nothing
 * else: no other queue (not even a passive declare of a server queue), no other exchange, no
 * binding with another agent's id or a wildcard, no routing key of another agent.
 */

export type Permission = 'configure' | 'write' | 'read';

export interface ResourceQuery {
  resource: string;
  name: string;
  permission: string;
}

export interface TopicQuery extends ResourceQuery {
  routingKey: string;
}

/** May this agent use this queue or exchange in this way? */
export function resourceAllowed(agentId: string, q: ResourceQuery): boolean {
  if (!AgentId.safeParse(agentId).success) return false;
  if (q.resource === 'queue') return q.name === agentCommandQueue(agentId) && ['configure', 'write', 'read'].includes(q.permission);
  if (q.resource === 'exchange') {
    // read on the outbound exchange lets it bind its queue there; topicAllowed holds the binding to its own id.
    if (q.name === Exchanges.agentOutbound) return q.permission === 'read';
    // write lets it publish; topicAllowed holds the routing key to its own id.
    if (q.name === Exchanges.agentInbound) return q.permission === 'write';
  }
  return false;
}

/** Topic authorisation: the binding key of its queue, the routing key of what it publishes. */
export function topicAllowed(agentId: string, q: TopicQuery): boolean {
  if (!AgentId.safeParse(agentId).success || q.resource !== 'topic') return false;
  if (q.name === Exchanges.agentOutbound) return q.permission === 'read' && q.routingKey === agentId;
  if (q.name === Exchanges.agentInbound) return q.permission === 'write' && new RegExp(`^agent\\.${agentId}\\.[a-z][a-z0-9-]{0,39}$`).test(q.routingKey);
  return false;
}

/**
 * The password an agent logs in with: `<enrolment token>:<secret>`, or only `<secret>` once it is
 * enrolled. The secret is the agent's own (random, at least 32 characters, no ":"); the token is
 * needed only for the first login, which binds the secret to the agent's id.
 */
export function parseAgentPassword(password: string): { enrolmentToken: string | null; secret: string } | null {
  const at = password.lastIndexOf(':');
  const secret = at < 0 ? password : password.slice(at + 1);
  if (secret.length < 32 || secret.length > 256) return null;
  return { enrolmentToken: at < 0 ? null : password.slice(0, at), secret };
}

/** Secrets are random and long: a plain SHA-256 is enough, and keeps a fleet's logins cheap. */
export const credentialSha256 = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');
