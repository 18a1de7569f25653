import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { versionKey } from '@herald/contracts';
import { Database } from '@herald/event-store';
import { AmqpClient, Outcome, declareWorkQueue } from '@herald/messaging';
import { RUNTIME, ServiceRuntime, integrationEventHandler } from '@herald/platform';
import { PresenceQueues } from '../topology';

/**
 * Keeps the latest version of each component type, to tell outdated agents apart. A reference
 * copy of component-download's facts, not presence's own history, so a plain idempotent upsert
 * (an older version never overwrites a newer one) rather than events.
 */
@Injectable()
export class ComponentCatalogConsumer implements OnApplicationBootstrap {
  constructor(
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime,
    private readonly amqp: AmqpClient,
    private readonly db: Database,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.amqp.addTopology((ch) => declareWorkQueue(ch, PresenceQueues.components));
    const log = this.runtime.logger.child({ component: 'catalog' });
    await this.amqp.consume(
      PresenceQueues.components.name,
      integrationEventHandler(log, async (event) => {
        if (event.type !== 'component.version-available') return Outcome.park(`unexpected-type: ${event.type} on the components queue`);
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
      }),
    );
  }
}
