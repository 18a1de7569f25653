import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RolloutProgress1764230900000 implements MigrationInterface {
  name = 'RolloutProgress1764230900000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE rollouts (
        rollout_id                      uuid        PRIMARY KEY,
        component_type                  text        NOT NULL,
        version                         text        NOT NULL,
        notify_on_download              boolean     NOT NULL,
        include_independent_and_offline boolean     NOT NULL,
        policy                          jsonb       NOT NULL,
        up_to_date                      integer     NOT NULL,
        correlation_id                  text,
        started_at                      timestamptz NOT NULL
      )`);
    await q.query(`
      CREATE TABLE rollout_agents (
        rollout_id      uuid    NOT NULL REFERENCES rollouts ON DELETE CASCADE,
        agent_id        text    NOT NULL,
        targeted        boolean NOT NULL DEFAULT false,
        skipped_reason  text,
        -- attempts published; returned ones found no queue; timed-out ones got no acknowledgement
        attempts           integer NOT NULL DEFAULT 0,
        returned_attempts  integer NOT NULL DEFAULT 0,
        timed_out_attempts integer NOT NULL DEFAULT 0,
        acknowledged    boolean NOT NULL DEFAULT false,
        updated         boolean NOT NULL DEFAULT false,
        failed          boolean NOT NULL DEFAULT false,
        gave_up         boolean NOT NULL DEFAULT false,
        scan_requested  boolean NOT NULL DEFAULT false,
        scanned         boolean NOT NULL DEFAULT false,
        last_change_at  timestamptz,
        PRIMARY KEY (rollout_id, agent_id)
      )`);
    await q.query(`CREATE INDEX rollout_agents_by_agent ON rollout_agents (agent_id)`);
    // Which rollouts a notification works for: the one that opened it, those that raised it (R7),
    // and, for an update R2 started on reconnect, the rollouts the agent had not caught up with.
    await q.query(`
      CREATE TABLE rollout_notifications (
        notification_id uuid NOT NULL,
        rollout_id      uuid NOT NULL,
        agent_id        text NOT NULL,
        PRIMARY KEY (notification_id, rollout_id)
      )`);
    await q.query(`CREATE TABLE rollout_scans (scan_id uuid PRIMARY KEY, notification_id uuid NOT NULL)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE rollout_scans, rollout_notifications, rollout_agents, rollouts`);
  }
}
