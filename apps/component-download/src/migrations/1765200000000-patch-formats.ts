import type { MigrationInterface, QueryRunner } from 'typeorm';

/** A patch per format (herald-delta-1, bsdiff40, zstd-patch-from) for each pair of versions; the rows kept so far are herald-delta-1. */
export class PatchFormats1765200000000 implements MigrationInterface {
  name = 'PatchFormats1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE component_patches ADD COLUMN format text NOT NULL DEFAULT 'herald-delta-1'`);
    await q.query(`ALTER TABLE component_patches ALTER COLUMN format DROP DEFAULT`);
    await q.query(`ALTER TABLE component_patches DROP CONSTRAINT component_patches_pkey, ADD PRIMARY KEY (component_type, from_version, to_version, format)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM component_patches WHERE format <> 'herald-delta-1'`);
    await q.query(`ALTER TABLE component_patches DROP CONSTRAINT component_patches_pkey, ADD PRIMARY KEY (component_type, from_version, to_version)`);
    await q.query(`ALTER TABLE component_patches DROP COLUMN format`);
  }
}
