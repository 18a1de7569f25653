import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Incremental patches, retention, and manifest-level rejections (which name no component). */
export class PatchesAndRetention1764400000000 implements MigrationInterface {
  name = 'PatchesAndRetention1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE component_patches (
        component_type text        NOT NULL,
        from_version   text        NOT NULL,
        to_version     text        NOT NULL,
        sha256         text        NOT NULL,
        size           bigint      NOT NULL,
        method         text        NOT NULL,
        built_at       timestamptz NOT NULL,
        PRIMARY KEY (component_type, from_version, to_version)
      )`);
    await q.query(`ALTER TABLE component_versions ADD COLUMN patched_from text`);
    await q.query(`ALTER TABLE component_rejections ALTER COLUMN component_type DROP NOT NULL, ALTER COLUMN version DROP NOT NULL`);
    await q.query(`ALTER TABLE component_rejections ADD COLUMN scope text NOT NULL DEFAULT 'component', ADD COLUMN manifest_version integer`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM component_rejections WHERE scope <> 'component'`);
    await q.query(`ALTER TABLE component_rejections DROP COLUMN scope, DROP COLUMN manifest_version`);
    await q.query(`ALTER TABLE component_rejections ALTER COLUMN component_type SET NOT NULL, ALTER COLUMN version SET NOT NULL`);
    await q.query(`ALTER TABLE component_versions DROP COLUMN patched_from`);
    await q.query(`DROP TABLE component_patches`);
  }
}
