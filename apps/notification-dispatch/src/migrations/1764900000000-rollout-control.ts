import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Admins steer rollouts: pause, resume, abort, retry failed agents.
 * - rollout_control: where each steered rollout stands, written in the transaction of its
 *   decision (the send path reads it before every attempt, so it cannot lag like a read model),
 *   with the failed/finished counts at the last resume (the error threshold counts from there).
 * - rollout_decisions: who decided what and when, for the rollout's page.
 * - held_attempts: attempts that came due while a rollout of theirs was paused; a resume sends them.
 * - open_notifications.rollout_ids: the rollouts each open notification works for, so an abort
 *   finds them in one query (filled for notifications already open from the read model).
 * - rollout_agents.outcome may be "aborted"; an agent may come into a rollout through an admin's
 *   "update now" (via "admin").
 */
export class RolloutControl1764900000000 implements MigrationInterface {
  name = 'RolloutControl1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE rollout_control (
        rollout_id uuid PRIMARY KEY,
        state text NOT NULL CHECK (state IN ('running', 'paused', 'aborted')),
        failed_base int NOT NULL DEFAULT 0,
        finished_base int NOT NULL DEFAULT 0
      )`);
    await q.query(`
      CREATE TABLE rollout_decisions (
        rollout_id uuid NOT NULL,
        position bigint NOT NULL,
        action text NOT NULL,
        by text NOT NULL,
        reason text,
        details jsonb NOT NULL DEFAULT '{}',
        at timestamptz NOT NULL,
        PRIMARY KEY (rollout_id, position)
      )`);
    await q.query(`
      CREATE TABLE held_attempts (
        agent_id text PRIMARY KEY,
        notification_id uuid NOT NULL,
        attempt int NOT NULL,
        rollout_ids uuid[] NOT NULL,
        correlation_id text,
        held_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX held_attempts_rollouts ON held_attempts USING gin (rollout_ids)`);
    await q.query(`ALTER TABLE open_notifications ADD COLUMN rollout_ids uuid[] NOT NULL DEFAULT '{}'`);
    await q.query(`
      UPDATE open_notifications o SET rollout_ids = l.ids
        FROM (SELECT notification_id, array_agg(rollout_id) AS ids FROM rollout_notifications GROUP BY notification_id) l
       WHERE l.notification_id = o.notification_id`);
    await q.query(`CREATE INDEX open_notifications_rollouts ON open_notifications USING gin (rollout_ids)`);
    await q.query(`ALTER TABLE rollout_agents DROP CONSTRAINT rollout_agents_outcome_check`);
    await q.query(`ALTER TABLE rollout_agents ADD CONSTRAINT rollout_agents_outcome_check CHECK (outcome IN ('updated', 'failed', 'gave-up', 'already-up-to-date', 'superseded', 'aborted'))`);
    await q.query(`ALTER TABLE rollout_agents DROP CONSTRAINT rollout_agents_via_check`);
    await q.query(`ALTER TABLE rollout_agents ADD CONSTRAINT rollout_agents_via_check CHECK (via IN ('plan', 'reconnect', 'admin'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE rollout_agents SET via = 'reconnect' WHERE via = 'admin'`);
    await q.query(`ALTER TABLE rollout_agents DROP CONSTRAINT rollout_agents_via_check`);
    await q.query(`ALTER TABLE rollout_agents ADD CONSTRAINT rollout_agents_via_check CHECK (via IN ('plan', 'reconnect'))`);
    await q.query(`UPDATE rollout_agents SET outcome = 'superseded' WHERE outcome = 'aborted'`);
    await q.query(`ALTER TABLE rollout_agents DROP CONSTRAINT rollout_agents_outcome_check`);
    await q.query(`ALTER TABLE rollout_agents ADD CONSTRAINT rollout_agents_outcome_check CHECK (outcome IN ('updated', 'failed', 'gave-up', 'already-up-to-date', 'superseded'))`);
    await q.query(`ALTER TABLE open_notifications DROP COLUMN rollout_ids`);
    await q.query(`DROP TABLE held_attempts, rollout_decisions, rollout_control`);
  }
}
