import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * When each open notification entered its phase, so the deadline sweeper can find one that is to
 * send an attempt and has been left with no way forward (no slot, not waiting for one, not held).
 */
export class OrphanedSends1764960000000 implements MigrationInterface {
  name = 'OrphanedSends1764960000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE open_notifications ADD COLUMN phase_since timestamptz NOT NULL DEFAULT now()`);
    await q.query(`CREATE INDEX open_notifications_sending ON open_notifications (phase_since) WHERE phase = 'sending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE open_notifications DROP COLUMN phase_since`);
  }
}
