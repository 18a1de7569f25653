import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks: the subscriptions (from the `webhooks` stream, with who added them), their secrets
 * (kept out of the events, deleted with the subscription) and every delivery with its attempts.
 * Rollouts record when they completed (RolloutCompleted) and how many agents their plan targeted,
 * so completion is told apart from a plan whose facts are not all projected yet.
 */
export class Webhooks1765100001000 implements MigrationInterface {
  name = 'Webhooks1765100001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE rollouts ADD COLUMN completed_at timestamptz, ADD COLUMN planned_targets integer NOT NULL DEFAULT 0`);
    await q.query(`UPDATE rollouts r SET planned_targets = (SELECT count(*) FROM rollout_agents ra WHERE ra.rollout_id = r.rollout_id AND ra.targeted AND ra.via = 'plan')`);
    await q.query(`CREATE INDEX rollouts_not_completed ON rollouts (started_at) WHERE completed_at IS NULL`);
    await q.query(`
      CREATE TABLE webhooks (
        webhook_id  uuid        PRIMARY KEY,
        url         text        NOT NULL,
        events      text[]      NOT NULL,
        description text,
        created_by  text        NOT NULL,
        created_at  timestamptz NOT NULL,
        removed_at  timestamptz,
        removed_by  text
      )`);
    await q.query(`CREATE TABLE webhook_secrets (webhook_id uuid PRIMARY KEY REFERENCES webhooks (webhook_id), secret text NOT NULL)`);
    await q.query(`
      CREATE TABLE webhook_deliveries (
        delivery_id     bigserial   PRIMARY KEY,
        webhook_id      uuid        NOT NULL REFERENCES webhooks (webhook_id),
        event_id        uuid        NOT NULL,
        event_type      text        NOT NULL,
        rollout_id      uuid,
        payload         jsonb       NOT NULL,
        status          text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts        integer     NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_status     integer,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        delivered_at    timestamptz,
        UNIQUE (webhook_id, event_id)
      )`);
    await q.query(`CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending'`);
    await q.query(`CREATE INDEX webhook_deliveries_of ON webhook_deliveries (webhook_id, delivery_id DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_deliveries, webhook_secrets, webhooks`);
    await q.query(`DROP INDEX rollouts_not_completed`);
    await q.query(`ALTER TABLE rollouts DROP COLUMN completed_at, DROP COLUMN planned_targets`);
  }
}
