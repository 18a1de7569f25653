import type { Channel } from 'amqplib';
import { ConfigurableModuleBuilder, Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AmqpClient, type AmqpClientOptions } from '../amqp-client';
import { type ExchangeSpec, type ParkingLimits, type TopologyContext, declareExchanges } from '../topology';
import { HandlerOutcomeInterceptor } from './handler-outcome.interceptor';
import { HeraldTransport } from './herald-transport';
import type { QueueDefinition } from './queue-definition';

export interface MessagingModuleOptions extends AmqpClientOptions {
  /** Declared on every (re)connection, before any queue: the exchanges the services share. */
  exchanges?: ExchangeSpec[];
  /** The queues this service may consume; its handlers name theirs with queue.pattern(type). */
  queues?: readonly QueueDefinition[];
  /** On shutdown, how long message handlers in flight may take to finish. */
  shutdownDrainMs?: number;
  /** Bounds of every parking queue (default DEFAULT_PARKING_LIMITS). */
  parking?: ParkingLimits;
}

const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN } = new ConfigurableModuleBuilder<MessagingModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras({ global: true }, (definition, extras) => ({ ...definition, global: extras.global }))
  .build();

/**
 * The broker for a service: an AmqpClient connected at start-up (or start-up fails with one
 * clear line), the shared exchanges, and HeraldTransport, the @nestjs/microservices strategy its
 * @EventPattern handlers run on. Closes the connection when the application shuts down, after
 * the platform has drained the consumers.
 *
 *   MessagingModule.forRootAsync({ inject: [...], useFactory: (...) => ({ url, connectionName, queues }) })
 */
@Module({
  providers: [
    {
      provide: AmqpClient,
      inject: [MODULE_OPTIONS_TOKEN],
      useFactory: async (options: MessagingModuleOptions) => {
        const amqp = await AmqpClient.connect(options);
        const exchanges = options.exchanges ?? [];
        const warned = new Set<string>();
        const declare = async (ch: Channel, ctx: TopologyContext) => {
          for (const kept of await declareExchanges(ch, exchanges, ctx)) {
            if (warned.has(kept.name)) continue;
            warned.add(kept.name);
            options.logger?.warn(
              { exchange: kept.name, refusal: kept.refusal },
              `exchange ${kept.name} exists without the alternate exchange (an earlier Herald declared it): kept as it is, with every service's bindings; messages no queue takes are dropped, not parked, unless a policy gives it one (docs/operations.md, "Upgrading")`,
            );
          }
        };
        if (exchanges.length > 0) await amqp.addTopology(declare).catch(async (err: unknown) => {
          await amqp.close(0);
          throw err;
        });
        return amqp;
      },
    },
    {
      provide: HeraldTransport,
      inject: [AmqpClient, MODULE_OPTIONS_TOKEN],
      useFactory: (amqp: AmqpClient, options: MessagingModuleOptions) =>
        new HeraldTransport(amqp, { queues: options.queues ?? [], drainMs: options.shutdownDrainMs ?? 10_000, parking: options.parking, logger: options.logger }),
    },
    { provide: APP_INTERCEPTOR, useClass: HandlerOutcomeInterceptor },
  ],
  exports: [AmqpClient, HeraldTransport],
})
export class MessagingModule extends ConfigurableModuleClass implements OnApplicationShutdown {
  constructor(@Inject(AmqpClient) private readonly amqp: AmqpClient) {
    super();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.amqp.close(0);
  }
}
