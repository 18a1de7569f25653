import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Progress over time: when each agent of a rollout was first sent its notification, first
 * acknowledged it, and reached its outcome (cleared while it is in progress again). Rows written
 * before count from their last change. A rollout's agents are listed in natural id order
 * (sim-2 before sim-10), as presence lists agents.
 */
export class RolloutTimes1765100002000 implements MigrationInterface {
  name = 'RolloutTimes1765100002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE rollout_agents
        ADD COLUMN sent_at timestamptz,
        ADD COLUMN acknowledged_at timestamptz,
        ADD COLUMN outcome_at timestamptz`);
    await q.query(`
      UPDATE rollout_agents SET
        sent_at = CASE WHEN attempts > 0 THEN last_change_at END,
        acknowledged_at = CASE WHEN acknowledged THEN last_change_at END,
        outcome_at = CASE WHEN outcome IS NOT NULL THEN last_change_at END
       WHERE attempts > 0 OR acknowledged OR outcome IS NOT NULL`);
    await q.query(`CREATE COLLATION IF NOT EXISTS herald_natural (provider = icu, locale = 'und-u-kn-true')`);
    await q.query(`CREATE INDEX rollout_agents_natural ON rollout_agents (rollout_id, agent_id COLLATE herald_natural)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX rollout_agents_natural`);
    await q.query(`ALTER TABLE rollout_agents DROP COLUMN sent_at, DROP COLUMN acknowledged_at, DROP COLUMN outcome_at`);
  }
}
