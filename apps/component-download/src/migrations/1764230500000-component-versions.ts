import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ComponentVersions1764230500000 implements MigrationInterface {
  name = 'ComponentVersions1764230500000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE component_versions (
        component_type text        NOT NULL,
        version        text        NOT NULL,
        -- numeric parts of the version, so ORDER BY sorts 17.10 after 17.9
        version_key    integer[]   NOT NULL,
        sha256         text        NOT NULL,
        size           bigint      NOT NULL,
        source         text        NOT NULL,
        downloaded_at  timestamptz NOT NULL,
        PRIMARY KEY (component_type, version)
      )`);
    await q.query(`CREATE INDEX component_versions_latest ON component_versions (component_type, version_key DESC)`);
    await q.query(`
      CREATE TABLE component_rejections (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        component_type text        NOT NULL,
        version        text        NOT NULL,
        reason         text        NOT NULL,
        detail         text        NOT NULL,
        at             timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE component_rejections, component_versions`);
  }
}
