import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Kept files found missing or damaged in the store when an agent asked for them. */
export class StoredFileFaults1764600000000 implements MigrationInterface {
  name = 'StoredFileFaults1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE component_file_faults (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        component_type text        NOT NULL,
        version        text        NOT NULL,
        patch_from     text,
        sha256         text        NOT NULL,
        fault          text        NOT NULL,
        detail         text        NOT NULL,
        at             timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE component_file_faults`);
  }
}
