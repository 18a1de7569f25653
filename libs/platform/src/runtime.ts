import pino, { type Logger } from 'pino';
import { AmqpClient, declareExchanges } from '@herald/messaging';
import { Exchanges } from '@herald/contracts';
import type { EventStoreOptions, MigrationClass, Projection} from '@herald/event-store';
import { CommandHandler, Database, EventStore, Housekeeper, OutboxRelay, ProjectionRunner } from '@herald/event-store';
import type { BaseConfig } from './config';
import { ServiceMetrics } from './metrics';

export interface RuntimeOptions<C extends BaseConfig> {
  /** Service name, for logs and the broker connection name. */
  service: string;
  /** PostgreSQL schema the service owns. */
  schema: string;
  config: C;
  migrations?: MigrationClass[];
  /** Read models updated in the same transaction as the events. */
  inlineProjections?: Projection[];
  /** Read models updated asynchronously from the global event order. */
  asyncProjections?: Projection[];
  eventStore?: EventStoreOptions;
  logger?: Logger;
}

/**
 * Everything a Herald service talks to: its database and event store, the broker, the outbox
 * relay and projections. Opened before the HTTP server, so an unreachable dependency fails
 * start-up with one clear message.
 */
export class ServiceRuntime<C extends BaseConfig = BaseConfig> {
  readonly commands: CommandHandler;
  readonly relay: OutboxRelay;
  readonly projections: ProjectionRunner;
  readonly metrics: ServiceMetrics;
  private readonly housekeeper: Housekeeper;
  private stopped = false;

  private constructor(
    readonly service: string,
    readonly config: C,
    readonly logger: Logger,
    readonly db: Database,
    readonly store: EventStore,
    readonly amqp: AmqpClient,
    inline: Projection[],
    asyncProjections: Projection[],
  ) {
    this.commands = new CommandHandler(store, inline);
    this.relay = new OutboxRelay(store, amqp, { pollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS, logger: logger.child({ component: 'outbox' }) });
    this.projections = new ProjectionRunner(store, asyncProjections, { logger: logger.child({ component: 'projections' }) });
    this.housekeeper = new Housekeeper(store);
    this.metrics = new ServiceMetrics(service);
    this.metrics.observeInfrastructure(amqp, this.relay, this.projections);
  }

  static async open<C extends BaseConfig>(options: RuntimeOptions<C>): Promise<ServiceRuntime<C>> {
    const { config } = options;
    const logger = options.logger ?? pino({ name: options.service, level: config.LOG_LEVEL });
    const db = await Database.open({
      url: config.DATABASE_URL,
      schema: options.schema,
      migrations: options.migrations,
      connectTimeoutMs: config.STARTUP_TIMEOUT_MS,
      applicationName: options.service,
    });
    let amqp: AmqpClient;
    try {
      amqp = await AmqpClient.connect({
        url: config.RABBITMQ_URL,
        connectionName: options.service,
        initialConnectTimeoutMs: config.STARTUP_TIMEOUT_MS,
        logger: logger.child({ component: 'amqp' }),
      });
      // The shared exchanges: every service declares them, so start order does not matter.
      await amqp.addTopology((ch) =>
        declareExchanges(ch, [
          { name: Exchanges.events, type: 'topic' },
          { name: Exchanges.agentInbound, type: 'topic' },
          { name: Exchanges.agentCommands, type: 'direct' },
        ]),
      );
    } catch (err) {
      await db.close();
      throw err;
    }
    const store = new EventStore(db, options.eventStore);
    return new ServiceRuntime(options.service, config, logger, db, store, amqp, options.inlineProjections ?? [], options.asyncProjections ?? []);
  }

  /** Starts the background loops: outbox relay, projections, housekeeping. */
  start(): void {
    this.relay.start();
    this.projections.start();
    this.housekeeper.start();
  }

  /** Stops consuming (letting in-flight messages finish), then the loops, then the connections. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.amqp.stopConsuming(this.config.SHUTDOWN_DRAIN_MS);
    this.housekeeper.stop();
    await this.projections.stop();
    await this.relay.stop();
    await this.amqp.close(0);
    await this.db.close();
  }
}
