import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Each kept version keeps the upstream's signed statement for it (a DSSE envelope, passed on to
 * agents in update commands so they need not trust this server). Versions kept before have none.
 */
export class SignedStatements1764600001000 implements MigrationInterface {
  name = 'SignedStatements1764600001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE component_versions ADD COLUMN statement jsonb`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE component_versions DROP COLUMN statement`);
  }
}
