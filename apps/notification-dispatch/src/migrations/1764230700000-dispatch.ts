import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Dispatch1764230700000 implements MigrationInterface {
  name = 'Dispatch1764230700000';

  async up(q: QueryRunner): Promise<void> {
    // Reference copies of other services' facts, kept from their integration events.
    await q.query(`
      CREATE TABLE directory_agents (
        agent_id              text        PRIMARY KEY,
        online                boolean     NOT NULL,
        independent_mode      boolean     NOT NULL,
        independent_privilege boolean     NOT NULL,
        components            jsonb       NOT NULL,
        sequence              integer     NOT NULL,
        updated_at            timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`
      CREATE TABLE catalog (
        component_type text        PRIMARY KEY,
        version_key    integer[]   NOT NULL,
        target         jsonb       NOT NULL,
        updated_at     timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE catalog, directory_agents`);
  }
}
