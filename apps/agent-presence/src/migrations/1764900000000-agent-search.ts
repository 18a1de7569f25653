import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The agent list at fleet size: ids in natural order (sim-2 before sim-10: an ICU collation with
 * numeric ordering), paged from an index.
 */
export class AgentSearch1764900000000 implements MigrationInterface {
  name = 'AgentSearch1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE COLLATION IF NOT EXISTS herald_natural (provider = icu, locale = 'und-u-kn-true')`);
    await q.query(`CREATE INDEX agents_natural_order ON agents (agent_id COLLATE herald_natural)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX agents_natural_order`);
    await q.query(`DROP COLLATION herald_natural`);
  }
}
