import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The tables every service's schema has: events, outbox, inbox and projection checkpoints. */
export class EventStore1764230400000 implements MigrationInterface {
  name = 'EventStore1764230400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE events (
        global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
        stream_id       text        NOT NULL,
        stream_position integer     NOT NULL CHECK (stream_position > 0),
        event_id        uuid        NOT NULL UNIQUE,
        type            text        NOT NULL,
        schema_version  smallint    NOT NULL DEFAULT 1,
        data            jsonb       NOT NULL,
        metadata        jsonb       NOT NULL DEFAULT '{}',
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT events_stream_position_unique UNIQUE (stream_id, stream_position)
      )`);
    await q.query(`CREATE INDEX events_global_order ON events (transaction_id, global_position)`);
    await q.query(`
      CREATE TABLE outbox (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id      uuid        NOT NULL UNIQUE,
        exchange        text        NOT NULL,
        routing_key     text        NOT NULL,
        delay_ms        integer     CHECK (delay_ms IS NULL OR delay_ms > 0),
        type            text        NOT NULL,
        correlation_id  text,
        headers         jsonb       NOT NULL DEFAULT '{}',
        payload         jsonb       NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        attempts        integer     NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_error      text,
        published_at    timestamptz
      )`);
    await q.query(`CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE published_at IS NULL`);
    await q.query(`CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL`);
    await q.query(`
      CREATE TABLE inbox (
        consumer     text        NOT NULL,
        message_id   text        NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, message_id)
      )`);
    await q.query(`CREATE INDEX inbox_age ON inbox (processed_at)`);
    await q.query(`
      CREATE TABLE checkpoints (
        name            text        PRIMARY KEY,
        transaction_id  xid8        NOT NULL DEFAULT '0',
        global_position bigint      NOT NULL DEFAULT 0,
        updated_at      timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE checkpoints, inbox, outbox, events`);
  }
}
