import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The patch formats each agent declared in its last hello (NULL: it declared none, so herald-delta-1 only, as before protocol 1.3). */
export class AgentPatchFormats1765200000000 implements MigrationInterface {
  name = 'AgentPatchFormats1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents ADD COLUMN patch_formats text[]`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE agents DROP COLUMN patch_formats`);
  }
}
