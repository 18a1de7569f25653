import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The version an admin pinned each component type to, with who and why (from ComponentPinned/Unpinned). */
export class ComponentPins1765100000000 implements MigrationInterface {
  name = 'ComponentPins1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE component_pins (
        component_type text PRIMARY KEY,
        version text NOT NULL,
        pinned_by text NOT NULL,
        reason text,
        pinned_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE component_pins`);
  }
}
