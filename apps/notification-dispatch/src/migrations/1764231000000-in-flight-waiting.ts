import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InFlightWaiting1764231000000 implements MigrationInterface {
  name = 'InFlightWaiting1764231000000';

  async up(q: QueryRunner): Promise<void> {
    // R6: attempts that found every slot taken wait here, in arrival order, until a slot frees.
    // woken_at marks a waiting attempt handed to the work queue and not yet taken up.
    await q.query(`
      CREATE TABLE in_flight_waiting (
        agent_id        text        PRIMARY KEY,
        notification_id uuid        NOT NULL,
        attempt         integer     NOT NULL,
        correlation_id  text,
        queued_at       timestamptz NOT NULL DEFAULT now(),
        woken_at        timestamptz
      )`);
    await q.query(`CREATE INDEX in_flight_waiting_order ON in_flight_waiting (queued_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE in_flight_waiting`);
  }
}
