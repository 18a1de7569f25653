import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Version keys become versionKey() of @herald/contracts: always four parts, so "1.0" and
 * "1.0.0" compare equal in SQL as in TypeScript. Pads the keys stored before.
 */
export class VersionKeys1764500000000 implements MigrationInterface {
  name = 'VersionKeys1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`UPDATE catalog SET version_key = version_key || array_fill(0, ARRAY[4 - cardinality(version_key)]) WHERE cardinality(version_key) < 4`);
  }

  async down(): Promise<void> {
    // Padded keys order the same way the old ones did for every version but "x" against "x.0".
  }
}
