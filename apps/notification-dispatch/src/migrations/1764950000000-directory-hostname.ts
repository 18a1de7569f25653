import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * dispatch's copy of each agent keeps its hostname, so a bulk "update now" matches text the way
 * agent-presence's list does (id or hostname). Rows from before learn it from the agent's next fact.
 */
export class DirectoryHostname1764950000000 implements MigrationInterface {
  name = 'DirectoryHostname1764950000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE directory_agents ADD COLUMN hostname text NOT NULL DEFAULT ''`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE directory_agents DROP COLUMN hostname`);
  }
}
