import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * dispatch's copy of each agent keeps its labels (as admins see them), so a bulk "update now" and
 * a rollout's canary group select agents by label the way agent-presence's list does. Rows from
 * before learn them from the agent's next fact.
 */
export class DirectoryLabels1765000000000 implements MigrationInterface {
  name = 'DirectoryLabels1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE directory_agents ADD COLUMN labels jsonb NOT NULL DEFAULT '{}'`);
    await q.query(`CREATE INDEX directory_agents_labels ON directory_agents USING gin (labels jsonb_path_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX directory_agents_labels`);
    await q.query(`ALTER TABLE directory_agents DROP COLUMN labels`);
  }
}
