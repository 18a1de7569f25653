import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { type ComponentVersionAvailable, versionKey } from '@herald/contracts';
import { Database } from '@herald/event-store';
import { Outcome } from '@herald/messaging';
import { PresenceQueues } from '../topology';

/**
 * Keeps the latest version of each component type, to tell outdated agents apart. A reference
 * copy of component-download's facts, not presence's own history, so a plain idempotent upsert
 * (an older version never overwrites a newer one) rather than events.
 */
@Controller()
export class ComponentCatalogController {
  constructor(private readonly db: Database) {}

  @EventPattern(PresenceQueues.components.pattern('component.version-available'))
  async onVersionAvailable(@Payload() event: ComponentVersionAvailable): Promise<Outcome> {
    await this.db.session(async (sql) => {
      for (const c of event.catalog.length > 0 ? event.catalog : [event.component]) {
        await sql.exec(
          `INSERT INTO latest_components (component_type, version, version_key)
           VALUES ($1, $2, $3::integer[])
           ON CONFLICT (component_type) DO UPDATE SET version = EXCLUDED.version, version_key = EXCLUDED.version_key
           WHERE latest_components.version_key < EXCLUDED.version_key`,
          [c.type, c.version, versionKey(c.version)],
        );
      }
    });
    return Outcome.ack();
  }
}
