import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Agent labels: those the agent reported in its last hello, those admins set, and the two merged
 * (the admins' win), which is what the list filters on (a GIN index answers `labels @> {...}`).
 */
export class AgentLabels1765000000000 implements MigrationInterface {
  name = 'AgentLabels1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE agents
        ADD COLUMN reported_labels jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN admin_labels    jsonb NOT NULL DEFAULT '{}',
        ADD COLUMN labels          jsonb NOT NULL DEFAULT '{}'`);
    await q.query(`CREATE INDEX agents_labels ON agents USING gin (labels jsonb_path_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX agents_labels`);
    await q.query(`ALTER TABLE agents DROP COLUMN labels, DROP COLUMN admin_labels, DROP COLUMN reported_labels`);
  }
}
