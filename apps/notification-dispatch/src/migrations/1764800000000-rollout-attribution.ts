import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Every update belongs to a rollout. The catalog remembers which rollout brought each newest
 * version, so an update R2 starts on reconnect names the rollouts of the versions it brings;
 * versions kept before this take their rollout from the read model. A rollout's agents say how
 * they came into it: R1's plan, or a reconnect (R2 updated it, or left it alone as Independent),
 * which also adds agents the plan never knew (they registered after the release).
 */
export class RolloutAttribution1764800000000 implements MigrationInterface {
  name = 'RolloutAttribution1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE catalog ADD COLUMN rollout_id uuid`);
    await q.query(`
      UPDATE catalog c SET rollout_id = r.rollout_id
        FROM (SELECT DISTINCT ON (component_type, version) rollout_id, component_type, version FROM rollouts ORDER BY component_type, version, started_at) r
       WHERE r.component_type = c.component_type AND r.version = c.target->>'version'`);
    await q.query(`ALTER TABLE rollout_agents ADD COLUMN via text NOT NULL DEFAULT 'plan' CHECK (via IN ('plan', 'reconnect'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE rollout_agents DROP COLUMN via`);
    await q.query(`ALTER TABLE catalog DROP COLUMN rollout_id`);
  }
}
