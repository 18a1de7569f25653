import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Fleet scale.
 * - open_notifications: every agent's open notification with its deadlines, kept in step with
 *   the agent's stream; one periodic query finds the acknowledgement and report deadlines that
 *   passed (instead of a delayed message per attempt). Notifications opened before keep the
 *   delayed deadline messages they already have.
 * - in_flight becomes R6 slot tokens: one row per slot, granted in bulk with SKIP LOCKED, so
 *   instances grant slots side by side without a global lock. Held slots are kept.
 * - AgentsSkipped facts are found by agent for the timeline.
 * - directory_agents keeps whether an agent is online with its own sequence, apart from its other
 *   facts: a disconnect handled before the connect it follows (they are consumed side by side)
 *   is no longer lost.
 */
export class HotPath1764600000000 implements MigrationInterface {
  name = 'HotPath1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE open_notifications (
        agent_id           text        PRIMARY KEY,
        notification_id    uuid        NOT NULL,
        phase              text        NOT NULL,
        attempt            integer     NOT NULL,
        ack_deadline_at    timestamptz,
        report_deadline_at timestamptz
      )`);
    await q.query(`CREATE INDEX open_notifications_ack_due ON open_notifications (ack_deadline_at) WHERE phase = 'awaiting-ack'`);
    await q.query(`CREATE INDEX open_notifications_report_due ON open_notifications (report_deadline_at) WHERE phase = 'updating'`);

    await q.query(`ALTER TABLE in_flight RENAME TO in_flight_before_slots`);
    await q.query(`
      CREATE TABLE in_flight (
        slot            integer     PRIMARY KEY,
        agent_id        text        UNIQUE,
        notification_id uuid,
        acquired_at     timestamptz
      )`);
    await q.query(`CREATE INDEX in_flight_free ON in_flight (slot) WHERE agent_id IS NULL`);
    await q.query(`
      INSERT INTO in_flight (slot, agent_id, notification_id, acquired_at)
      SELECT row_number() OVER (ORDER BY acquired_at), agent_id, notification_id, acquired_at FROM in_flight_before_slots`);
    await q.query(`DROP TABLE in_flight_before_slots`);

    await q.query(`CREATE INDEX events_agents_skipped ON events USING gin ((data -> 'agentIds')) WHERE type = 'AgentsSkipped'`);

    await q.query(`ALTER TABLE directory_agents ADD COLUMN online_sequence integer NOT NULL DEFAULT 0`);
    await q.query(`UPDATE directory_agents SET online_sequence = sequence`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE directory_agents DROP COLUMN online_sequence`);
    await q.query(`DROP INDEX events_agents_skipped`);
    await q.query(`ALTER TABLE in_flight RENAME TO in_flight_slots`);
    await q.query(`CREATE TABLE in_flight (agent_id text PRIMARY KEY, notification_id uuid NOT NULL, acquired_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`INSERT INTO in_flight SELECT agent_id, notification_id, acquired_at FROM in_flight_slots WHERE agent_id IS NOT NULL`);
    await q.query(`DROP TABLE in_flight_slots`);
    await q.query(`DROP TABLE open_notifications`);
  }
}
