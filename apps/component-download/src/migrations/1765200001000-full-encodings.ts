import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Kept full files compressed for HTTP content coding (from ComponentFullEncoded; only those smaller than the file). */
export class FullEncodings1765200001000 implements MigrationInterface {
  name = 'FullEncodings1765200001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE component_encodings (
        component_type text        NOT NULL,
        version        text        NOT NULL,
        coding         text        NOT NULL,
        sha256         text        NOT NULL,
        size           bigint      NOT NULL,
        encoded_at     timestamptz NOT NULL,
        PRIMARY KEY (component_type, version, coding)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE component_encodings`);
  }
}
