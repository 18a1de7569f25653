import { ConfigurableModuleBuilder, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { WorkerLogger } from '@herald/common';
import { CommandHandler } from './command-handler';
import { Database, type DatabaseOptions } from './database';
import { EventStore, type EventStoreOptions } from './event-store';
import { Housekeeper, type HousekeepingOptions } from './housekeeping';
import { OutboxRelay } from './outbox';
import type { OutboxPublisher } from './outbox-message';
import { type AnyProjection, ProjectionRunner } from './projection';

export interface EventStoreModuleOptions {
  /** The service's database and schema, migrated at start-up. */
  database: DatabaseOptions;
  eventStore?: EventStoreOptions;
  /** Read models updated in the same transaction as the events. */
  inlineProjections?: AnyProjection[];
  /** Read models updated asynchronously from the global event order. */
  asyncProjections?: AnyProjection[];
  /** Where the outbox relay publishes: the broker client. */
  publisher: OutboxPublisher;
  outboxPollIntervalMs?: number;
  housekeeping?: HousekeepingOptions;
  /** For the relay, the projection runner and housekeeping to report failed passes. */
  logger?: WorkerLogger;
}

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = new ConfigurableModuleBuilder<EventStoreModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ global: true }, (definition, extras) => ({ ...definition, global: extras.global }))
  .build();

type Options = EventStoreModuleOptions;

/**
 * A service's event store: its database (opened and migrated at start-up, or start-up fails with
 * one clear line), the store, the command handler with the inline projections, and three
 * background workers (outbox relay, asynchronous projections, housekeeping) that the platform
 * starts and stops. Closes the database when the application shuts down.
 *
 *   EventStoreModule.forRootAsync({ inject: [...], useFactory: (...) => ({ database, publisher, ... }) })
 */
@Module({
  providers: [
    { provide: Database, inject: [MODULE_OPTIONS_TOKEN], useFactory: (o: Options) => Database.open(o.database) },
    { provide: EventStore, inject: [Database, MODULE_OPTIONS_TOKEN], useFactory: (db: Database, o: Options) => new EventStore(db, o.eventStore) },
    { provide: CommandHandler, inject: [EventStore, MODULE_OPTIONS_TOKEN], useFactory: (store: EventStore, o: Options) => new CommandHandler(store, o.inlineProjections ?? []) },
    {
      provide: OutboxRelay,
      inject: [EventStore, MODULE_OPTIONS_TOKEN],
      useFactory: (store: EventStore, o: Options) => new OutboxRelay(store, o.publisher, { pollIntervalMs: o.outboxPollIntervalMs, logger: o.logger }),
    },
    {
      provide: ProjectionRunner,
      inject: [EventStore, MODULE_OPTIONS_TOKEN],
      useFactory: (store: EventStore, o: Options) => new ProjectionRunner(store, o.asyncProjections ?? [], { logger: o.logger }),
    },
    { provide: Housekeeper, inject: [EventStore, MODULE_OPTIONS_TOKEN], useFactory: (store: EventStore, o: Options) => new Housekeeper(store, { logger: o.logger, ...o.housekeeping }) },
  ],
  exports: [Database, EventStore, CommandHandler, OutboxRelay, ProjectionRunner],
})
export class EventStoreModule extends ConfigurableModuleClass implements OnApplicationShutdown {
  constructor(@Inject(Database) private readonly db: Database) {
    super();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}
