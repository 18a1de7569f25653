import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Exact rollout counts. Each agent of a rollout ends in exactly one outcome, one column instead
 * of three flags that could disagree: updated, failed (after its retries), gave-up (R4),
 * already-up-to-date (it caught up on its own), superseded (replaced, R2, by a notification that
 * does not work for this rollout). NULL is in progress. update_retries counts the retries of
 * failed updates. Rows written before keep what their flags said.
 */
export class RolloutOutcomes1764700000000 implements MigrationInterface {
  name = 'RolloutOutcomes1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE rollout_agents
        ADD COLUMN outcome text CHECK (outcome IN ('updated', 'failed', 'gave-up', 'already-up-to-date', 'superseded')),
        ADD COLUMN update_retries integer NOT NULL DEFAULT 0`);
    await q.query(`
      UPDATE rollout_agents SET outcome = CASE WHEN updated THEN 'updated' WHEN failed THEN 'failed' WHEN gave_up THEN 'gave-up' END
       WHERE updated OR failed OR gave_up`);
    await q.query(`ALTER TABLE rollout_agents DROP COLUMN updated, DROP COLUMN failed, DROP COLUMN gave_up`);
    await q.query(`CREATE INDEX rollout_agents_in_progress ON rollout_agents (rollout_id) WHERE targeted AND outcome IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX rollout_agents_in_progress`);
    await q.query(`
      ALTER TABLE rollout_agents
        ADD COLUMN updated boolean NOT NULL DEFAULT false,
        ADD COLUMN failed  boolean NOT NULL DEFAULT false,
        ADD COLUMN gave_up boolean NOT NULL DEFAULT false`);
    await q.query(`UPDATE rollout_agents SET updated = outcome = 'updated', failed = outcome = 'failed', gave_up = outcome = 'gave-up' WHERE outcome IS NOT NULL`);
    await q.query(`ALTER TABLE rollout_agents DROP COLUMN outcome, DROP COLUMN update_retries`);
  }
}
