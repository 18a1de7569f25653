import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE, DiscoveryModule } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import { ZodValidationPipe } from 'nestjs-zod';
import { Exchanges } from '@herald/contracts';
import { type AnyProjection, EventStoreModule, type MigrationClass } from '@herald/event-store';
import { AmqpClient, type ExchangeSpec, type Logger, MessagingModule, type QueueDefinition, parkingDroppedQueueOf } from '@herald/messaging';
import { AgentDoor, type AgentDoorSettings } from './agent-door';
import { isAgentMessageQueue } from './queues';
import { RefusalNotifier } from './refusal-notifier';
import { TokenGuard } from './auth';
import { type BaseConfig, ServiceConfig, secretMasker } from './config';
import { HealthController } from './health.controller';
import { httpLogOptions } from './http-logging';
import { ServiceLifecycle } from './lifecycle';
import { MetricsController } from './metrics.controller';
import { DatabaseUnavailableFilter } from './database-unavailable.filter';
import { InfrastructureMetrics, ServiceMetrics } from './metrics';
import { WhoAmIController } from './whoami.controller';

export interface HeraldServiceOptions<C extends BaseConfig = BaseConfig> {
  /** Names the service in logs, metrics and its broker connection. */
  service: string;
  /** The PostgreSQL schema it owns. */
  schema: string;
  migrations?: MigrationClass[];
  /** Read models updated in the same transaction as the events. */
  inlineProjections?: AnyProjection[];
  /** Read models updated asynchronously from the global event order. */
  asyncProjections?: AnyProjection[];
  /** The queues it consumes, from its settings (a prefetch may be one). */
  queues?: (config: C) => QueueDefinition[];
  /**
   * For a service that takes agent messages: the settings of its agent door, which every agent
   * message queue among `queues` is put behind (one door for all of them). Required with such a queue.
   */
  agentDoor?: (config: C) => AgentDoorSettings;
}

/**
 * The exchanges every service declares, so start order does not matter. The alternate exchange
 * of herald.agent.inbound comes before it: what no queue takes there is parked and counted by
 * agent-presence (its agent-unroutable queue), not silently dropped.
 */
export const SHARED_EXCHANGES: ExchangeSpec[] = [
  { name: Exchanges.events, type: 'topic' },
  { name: Exchanges.agentUnroutable, type: 'fanout', internal: true },
  { name: Exchanges.agentInbound, type: 'topic', alternateExchange: Exchanges.agentUnroutable },
  { name: Exchanges.agentOutbound, type: 'topic' },
  // Agents of protocol 1.0 bind here; every command reaches it from agentOutbound.
  { name: Exchanges.agentCommands, type: 'direct', receivesFrom: [{ exchange: Exchanges.agentOutbound, pattern: '#' }] },
];

/**
 * The service's queues, each agent message queue behind the one agent door of the service (one
 * door, so an agent's rate counts all it sends to the service). A service with agent queues and no
 * `agentDoor` fails at start.
 */
export function queuesBehindDoor<C extends BaseConfig>(options: HeraldServiceOptions<C>, config: C, log: Logger): QueueDefinition[] {
  const queues = options.queues?.(config) ?? [];
  const agentQueues = queues.filter(isAgentMessageQueue);
  if (agentQueues.length === 0) return queues;
  if (!options.agentDoor) throw new Error(`${agentQueues.map((q) => q.name).join(', ')} take agent messages: HeraldServiceModule.forRoot needs agentDoor`);
  const door = new AgentDoor(options.agentDoor(config), log);
  return queues.map((q) => (isAgentMessageQueue(q) ? q.behind(door) : q));
}

/**
 * For a service with agent queues: the notifier that tells an agent its message was refused
 * there (RefusalNotifier), listening to the client's `parked` events and counted in
 * herald_refusal_notices_total. Null for a service without agent queues.
 */
export function refusalNotifierFor<C extends BaseConfig>(
  options: HeraldServiceOptions<C>,
  config: C,
  amqp: AmqpClient,
  metrics: ServiceMetrics,
  log: Logger,
): RefusalNotifier | null {
  const agentQueues = (options.queues?.(config) ?? []).filter(isAgentMessageQueue);
  if (agentQueues.length === 0 || !options.agentDoor) return null;
  const notices = metrics.counter(
    'herald_refusal_notices_total',
    'Refused agent messages by what the agent was told: sent (a message-refused), suppressed (within AGENT_REFUSAL_NOTICE_INTERVAL_MS of the last, counted in the next), failed (could not be sent)',
    ['outcome'],
  );
  const notifier = new RefusalNotifier(amqp, {
    intervalMs: options.agentDoor(config).refusalNoticeIntervalMs,
    queues: agentQueues.map((q) => q.name),
    log,
    count: (outcome) => notices.inc({ outcome }),
  });
  amqp.on('parked', (queue, reason, message) => notifier.onParked(queue, reason, message));
  return notifier;
}

/**
 * What every Herald service is built on, in one import for its root module: JSON logging
 * (pino), the broker (MessagingModule: AmqpClient and the @EventPattern transport), the event
 * store (EventStoreModule: database, outbox relay, projections), GET /health, /health/ready,
 * /metrics and /auth/whoami, bearer-token access control, zod validation of request bodies, and
 * the lifecycle that starts and stops every background worker. The settings come from
 * ServiceConfigModule, which runService provides.
 */
@Module({})
export class HeraldServiceModule {
  static forRoot<C extends BaseConfig>(options: HeraldServiceOptions<C>): DynamicModule {
    const child = (log: PinoLogger, component: string) => {
      log.setContext(component);
      return log;
    };
    return {
      module: HeraldServiceModule,
      global: true,
      imports: [
        LoggerModule.forRootAsync({
          inject: [ServiceConfig],
          useFactory: (config: BaseConfig) => ({
            pinoHttp: {
              name: options.service,
              level: config.LOG_LEVEL,
              // One short line per request, reads at debug, never the headers (httpLogOptions).
              ...httpLogOptions(),
              // Tokens never reach the log, should anything log a request's headers after all.
              redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
              // Nor does any other secret, whatever logs it (an error message quoting a URL, say):
              // every line is masked just before it is written.
              hooks: { streamWrite: maskLine(config) },
            },
            renameContext: 'component',
          }),
        }),
        TerminusModule.forRoot({ logger: false }),
        DiscoveryModule,
        MessagingModule.forRootAsync({
          inject: [ServiceConfig, PinoLogger],
          useFactory: (config: C, log: PinoLogger) => ({
            url: config.RABBITMQ_URL,
            connectionName: options.service,
            initialConnectTimeoutMs: config.STARTUP_TIMEOUT_MS,
            heartbeatSeconds: config.RABBITMQ_HEARTBEAT_SECONDS,
            publishWaitMs: config.RABBITMQ_PUBLISH_WAIT_MS,
            connectAttemptTimeoutMs: config.RABBITMQ_CONNECT_TIMEOUT_MS,
            reconnectDelayMs: config.RABBITMQ_RECONNECT_DELAY_MS,
            reconnectMaxDelayMs: config.RABBITMQ_RECONNECT_MAX_DELAY_MS,
            tls: config.RABBITMQ_CA === undefined ? undefined : { ca: config.RABBITMQ_CA },
            logger: child(log, 'amqp'),
            exchanges: SHARED_EXCHANGES,
            // A pino child of its own: setContext on `log` would rename the amqp logger too.
            queues: queuesBehindDoor(options, config, log.logger.child({ component: 'agent-door' })),
            shutdownDrainMs: config.SHUTDOWN_DRAIN_MS,
            parking: { maxMessages: config.PARKING_MAX_MESSAGES, maxBytes: config.PARKING_MAX_BYTES, droppedQueue: parkingDroppedQueueOf(options.service) },
          }),
        }),
        EventStoreModule.forRootAsync({
          inject: [ServiceConfig, AmqpClient, PinoLogger],
          useFactory: (config: BaseConfig, amqp: AmqpClient, log: PinoLogger) => ({
            database: {
              url: config.DATABASE_URL,
              schema: options.schema,
              migrations: options.migrations,
              connectTimeoutMs: config.STARTUP_TIMEOUT_MS,
              applicationName: options.service,
              logger: log,
            },
            inlineProjections: options.inlineProjections,
            asyncProjections: options.asyncProjections,
            publisher: amqp,
            outboxPollIntervalMs: config.OUTBOX_POLL_INTERVAL_MS,
            logger: child(log, 'event-store'),
          }),
        }),
      ],
      controllers: [HealthController, MetricsController, WhoAmIController],
      providers: [
        { provide: ServiceMetrics, useFactory: () => new ServiceMetrics(options.service) },
        {
          provide: RefusalNotifier,
          inject: [ServiceConfig, AmqpClient, ServiceMetrics, PinoLogger],
          useFactory: (config: C, amqp: AmqpClient, metrics: ServiceMetrics, log: PinoLogger) =>
            refusalNotifierFor(options, config, amqp, metrics, log.logger.child({ component: 'refusal-notifier' })),
        },
        InfrastructureMetrics,
        ServiceLifecycle,
        // Request bodies and queries declared with zod DTOs are validated; a 400 names the fields.
        { provide: APP_PIPE, useClass: ZodValidationPipe },
        { provide: APP_GUARD, useClass: TokenGuard },
        // PostgreSQL away: 503 + Retry-After, not 500.
        { provide: APP_FILTER, useClass: DatabaseUnavailableFilter },
      ],
      exports: [ServiceMetrics],
    };
  }
}

/** A pino streamWrite hook: the line with the settings' secrets and every URL password masked. */
export function maskLine(config: Record<string, unknown>): (line: string) => string {
  const masker = secretMasker(config);
  return (line) => masker.mask(line);
}

/** The service's settings, loaded and validated before anything starts; injected as ServiceConfig. */
@Module({})
export class ServiceConfigModule {
  static forRoot(config: BaseConfig): DynamicModule {
    return { module: ServiceConfigModule, global: true, providers: [{ provide: ServiceConfig, useValue: config }], exports: [ServiceConfig] };
  }
}
