import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rollouts in phases: which of a rollout's agents are its canary group (rollout_canary), and where each rollout
 * with a canary stands (canary, awaiting-approval, all) with what it needs to pass. The send path
 * reads the phase (under the rollout-control lock) to hold the attempts of agents outside the
 * group until the rollout is promoted.
 */
export class Canary1765000001000 implements MigrationInterface {
  name = 'Canary1765000001000';

  async up(q: QueryRunner): Promise<void> {
    // Written with the plan, in its transaction: the send path must know the group before any attempt.
    await q.query(`
      CREATE TABLE rollout_canary (
        rollout_id uuid NOT NULL,
        agent_id text NOT NULL,
        PRIMARY KEY (rollout_id, agent_id)
      )`);
    await q.query(`
      ALTER TABLE rollout_control
        ADD COLUMN phase text NOT NULL DEFAULT 'all' CHECK (phase IN ('canary', 'awaiting-approval', 'all')),
        ADD COLUMN canary_success_percent int,
        ADD COLUMN canary_approval text CHECK (canary_approval IN ('automatic', 'manual'))`);
    await q.query(`CREATE INDEX rollout_control_canary ON rollout_control (rollout_id) WHERE phase <> 'all'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX rollout_control_canary`);
    await q.query(`ALTER TABLE rollout_control DROP COLUMN canary_approval, DROP COLUMN canary_success_percent, DROP COLUMN phase`);
    await q.query(`DROP TABLE rollout_canary`);
  }
}
