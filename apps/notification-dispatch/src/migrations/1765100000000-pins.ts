import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pinning. The catalog keeps each type's pin beside its newest version: the pinned target (null:
 * follow the newest), the position in component-download's history it was set at (events arrive
 * out of order; the highest wins) and the rollout that moves agents to it. A rollout says what
 * started it: a new version, a pin (rollback) or an unpin, with who and why.
 */
export class Pins1765100000000 implements MigrationInterface {
  name = 'Pins1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE catalog ADD COLUMN pin jsonb, ADD COLUMN pin_sequence bigint NOT NULL DEFAULT 0, ADD COLUMN pin_rollout_id uuid`);
    await q.query(`ALTER TABLE rollouts ADD COLUMN pinned boolean NOT NULL DEFAULT false, ADD COLUMN cause jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE rollouts DROP COLUMN pinned, DROP COLUMN cause`);
    await q.query(`ALTER TABLE catalog DROP COLUMN pin, DROP COLUMN pin_sequence, DROP COLUMN pin_rollout_id`);
  }
}
