import type { Projection, Tx } from '@herald/event-store';
import type { IdentityEvent } from './identity.decider';

/**
 * agent_identities: each enrolled agent's credential digest and admission status, read by every
 * broker login. Inline, so a login right after an admin's decision sees it. Enrolments and
 * decisions are rare (one per agent, not per message): a statement per event is fine.
 */
export const identitiesProjection: Projection<IdentityEvent> = {
  name: 'agent-identities',
  eventTypes: ['AgentEnrolled', 'AgentAccepted', 'AgentRejected', 'AgentRevoked', 'AgentIdentityForgotten'],
  async apply(tx, events) {
    for (const e of events) await applyOne(tx, e);
  },
  async reset(tx: Tx) {
    await tx.exec('TRUNCATE agent_identities');
  },
};

async function applyOne(tx: Tx, e: IdentityEvent): Promise<void> {
  switch (e.type) {
    case 'AgentEnrolled':
      await tx.exec(
        `INSERT INTO agent_identities (agent_id, status, credential_sha256, enrolled_with, enrolled_at)
         VALUES ($1, 'pending', $2, $3, $4)
         ON CONFLICT (agent_id) DO UPDATE SET status = 'pending', credential_sha256 = EXCLUDED.credential_sha256,
           enrolled_with = EXCLUDED.enrolled_with, enrolled_at = EXCLUDED.enrolled_at, decided_at = NULL, decided_by = NULL, reason = NULL`,
        [e.data.agentId, e.data.credentialSha256, e.data.enrolledWith, e.data.at],
      );
      return;
    case 'AgentAccepted':
      await tx.exec(`UPDATE agent_identities SET status = 'accepted', decided_at = $2, decided_by = $3, reason = NULL WHERE agent_id = $1`, [e.data.agentId, e.data.at, e.data.by]);
      return;
    case 'AgentRejected':
    case 'AgentRevoked':
      await tx.exec(`UPDATE agent_identities SET status = $4, decided_at = $2, decided_by = $3, reason = $5 WHERE agent_id = $1`, [
        e.data.agentId,
        e.data.at,
        e.data.by,
        e.type === 'AgentRejected' ? 'rejected' : 'revoked',
        e.data.reason,
      ]);
      return;
    case 'AgentIdentityForgotten':
      await tx.exec(`DELETE FROM agent_identities WHERE agent_id = $1`, [e.data.agentId]);
      return;
  }
}
