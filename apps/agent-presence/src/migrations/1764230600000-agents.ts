import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Agents1764230600000 implements MigrationInterface {
  name = 'Agents1764230600000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE agents (
        agent_id              text        PRIMARY KEY,
        hostname              text        NOT NULL,
        agent_version         text        NOT NULL,
        boot_id               text        NOT NULL,
        online                boolean     NOT NULL,
        independent_mode      boolean     NOT NULL,
        independent_privilege boolean     NOT NULL DEFAULT false,
        first_seen_at         timestamptz NOT NULL,
        last_connected_at     timestamptz NOT NULL,
        last_disconnected_at  timestamptz,
        disconnect_reason     text,
        -- moved by heartbeats, not by events: telemetry, not history
        last_seen_at          timestamptz NOT NULL,
        sequence              integer     NOT NULL
      )`);
    await q.query(`CREATE INDEX agents_online_last_seen ON agents (last_seen_at) WHERE online`);
    await q.query(`
      CREATE TABLE agent_components (
        agent_id       text      NOT NULL REFERENCES agents ON DELETE CASCADE,
        component_type text      NOT NULL,
        version        text      NOT NULL,
        version_key    integer[] NOT NULL,
        PRIMARY KEY (agent_id, component_type)
      )`);
    await q.query(`
      CREATE TABLE latest_components (
        component_type text      PRIMARY KEY,
        version        text      NOT NULL,
        version_key    integer[] NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE latest_components, agent_components, agents`);
  }
}
