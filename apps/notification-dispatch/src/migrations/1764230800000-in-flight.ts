import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InFlight1764230800000 implements MigrationInterface {
  name = 'InFlight1764230800000';

  async up(q: QueryRunner): Promise<void> {
    // R6: one row per agent between "notified" and "reported"; its row count is bounded by maxInFlight.
    await q.query(`
      CREATE TABLE in_flight (
        agent_id        text        PRIMARY KEY,
        notification_id uuid        NOT NULL,
        acquired_at     timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE in_flight`);
  }
}
