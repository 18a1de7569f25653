import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Agents' broker identities: the digest of the secret each enrolled with, and its admission. */
export class AgentIdentities1764800000000 implements MigrationInterface {
  name = 'AgentIdentities1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE agent_identities (
        agent_id          text        PRIMARY KEY,
        status            text        NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected', 'revoked')),
        credential_sha256 text        NOT NULL,
        enrolled_with     text        NOT NULL,
        enrolled_at       timestamptz NOT NULL,
        decided_at        timestamptz,
        decided_by        text,
        reason            text
      )`);
    await q.query(`CREATE INDEX agent_identities_status ON agent_identities (status, enrolled_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE agent_identities`);
  }
}
