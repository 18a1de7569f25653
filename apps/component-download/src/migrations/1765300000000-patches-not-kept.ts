import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pairs whose patch in a format was built and found not smaller than the file (from
 * ComponentPatchNotKept), so a download can tell "being built" from "built, and no patch is worth
 * sending" and stop asking agents to wait. Events recorded before this table existed are not
 * replayed into it: they concern versions older than PATCH_WAIT_MS, for which nobody waits anyway.
 */
export class PatchesNotKept1765300000000 implements MigrationInterface {
  name = 'PatchesNotKept1765300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE component_patches_not_kept (
        component_type text        NOT NULL,
        from_version   text        NOT NULL,
        to_version     text        NOT NULL,
        format         text        NOT NULL,
        size           bigint      NOT NULL,
        at             timestamptz NOT NULL,
        PRIMARY KEY (component_type, from_version, to_version, format)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE component_patches_not_kept`);
  }
}
