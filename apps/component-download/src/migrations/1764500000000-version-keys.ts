import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Version keys become versionKey() of @herald/contracts: always four parts, so "1.0" and
 * "1.0.0" compare equal in SQL as in TypeScript. Pads the keys stored before, and gives patches
 * keys of their own so they are sorted by them rather than by parsing text in every query.
 */
export class VersionKeys1764500000000 implements MigrationInterface {
  name = 'VersionKeys1764500000000';

  async up(q: QueryRunner): Promise<void> {
    const padded = (key: string) => `${key} || array_fill(0, ARRAY[4 - cardinality(${key})])`;
    await q.query(`UPDATE component_versions SET version_key = ${padded('version_key')} WHERE cardinality(version_key) < 4`);
    await q.query(`ALTER TABLE component_patches ADD COLUMN from_version_key integer[], ADD COLUMN to_version_key integer[]`);
    // A one-off backfill from the text; rows written from now on get versionKey() from the code.
    await q.query(`
      UPDATE component_patches
         SET from_version_key = ${padded("string_to_array(from_version, '.')::integer[]")},
             to_version_key = ${padded("string_to_array(to_version, '.')::integer[]")}`);
    await q.query(`ALTER TABLE component_patches ALTER COLUMN from_version_key SET NOT NULL, ALTER COLUMN to_version_key SET NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE component_patches DROP COLUMN from_version_key, DROP COLUMN to_version_key`);
  }
}
