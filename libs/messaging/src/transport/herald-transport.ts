import type { INestApplication, INestMicroservice } from '@nestjs/common';
import type { CustomTransportStrategy, MessageHandler } from '@nestjs/microservices';
import { Server } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { type AmqpClient, DEFAULT_CONSUME_OPTIONS, type InboundMessage, type ParkedMessage } from '../amqp-client';
import { type Logger, silentLogger } from '../logger';
import { type MessageSubject, Outcome } from '../outcome';
import { type KeptDeclaration, PARKING_DROPPED_QUEUE, type ParkingLimits, declareWorkQueue } from '../topology';
import { HeraldBatchContext, HeraldContext } from './herald-context';
import { type QueueDefinition, parseMessagePattern } from './queue-definition';

/**
 * A batch handler takes up to `maxMessages` messages of its pattern at once (and waits at most
 * `maxWaitMs` for them to gather) and returns one Outcome per message, in order. Declared with
 * `@EventPattern(queue.pattern(type), batchOf({ maxMessages, maxWaitMs }))`; its payload is the
 * array of messages and its context a HeraldBatchContext. The queue's prefetch must be at least
 * `maxMessages`, or a batch could never fill.
 */
export interface BatchOptions {
  maxMessages: number;
  maxWaitMs: number;
}

/** The `extras` of a batch handler's @EventPattern. */
export function batchOf(options: BatchOptions): { batch: BatchOptions } {
  return { batch: options };
}

/**
 * A handler threw. HandlerOutcomeInterceptor hands the error to the transport as this value
 * (instead of Nest's generic RPC error), and the transport retries the message with the reason.
 */
export class HandlerFailure {
  constructor(readonly error: unknown) {}

  get reason(): string {
    return `handler failed: ${describe(this.error)}`;
  }
}

export interface HeraldTransportOptions {
  /** Every queue the service may consume; only those with handlers are declared and consumed. */
  queues: readonly QueueDefinition[];
  /** On shutdown, how long handlers in flight may take to finish before the connection closes. */
  drainMs: number;
  /** Bounds of every parking queue (default DEFAULT_PARKING_LIMITS). */
  parking?: ParkingLimits;
  logger?: Logger;
}

/** The transport's events: those of the broker connection (see MessagingEvents). */
export type HeraldTransportEvents = {
  connected: () => void;
  disconnected: (err: Error) => void;
  parked: (queue: string, reason: string, message: ParkedMessage) => void;
  dropped: (queue: string, reason: string) => void;
  retried: (queue: string, reason: string) => void;
  returned: (exchange: string, routingKey: string) => void;
};

interface Route {
  readonly type: string;
  readonly pattern: string;
  readonly handler: MessageHandler;
  readonly batcher: Batcher | null;
}

/**
 * Herald's transport for @nestjs/microservices, over AmqpClient: message handlers are declared
 * like HTTP routes, `@EventPattern(queue.pattern(type))` in a controller, receive the validated
 * message with `@Payload()` and the delivery with `@Ctx() ctx: HeraldContext`, and return an
 * Outcome (ack, retry with a delay, park). Underneath, AmqpClient keeps what it always did:
 * manual acks, delayed retries through quorum delay queues, parking, reconnects.
 *
 * Before any handler runs, each delivery is parsed by its queue: what is not JSON, of an unknown
 * type or schema version, invalid, or claims another agent's id is parked with the reason. A
 * valid message of a type no handler is declared for is parked as `unexpected-type`. A handler
 * that throws has its message retried after the queue's retry delay.
 */
export class HeraldTransport extends Server<HeraldTransportEvents, 'connected' | 'disconnected'> implements CustomTransportStrategy {
  private readonly log: Logger;
  private closed: Promise<void> | null = null;

  constructor(
    private readonly amqp: AmqpClient,
    private readonly options: HeraldTransportOptions,
  ) {
    super();
    this.log = options.logger ?? silentLogger;
    amqp.on('connected', () => this._status$.next('connected'));
    amqp.on('disconnected', () => this._status$.next('disconnected'));
    if (amqp.isConnected) this._status$.next('connected');
  }

  /**
   * Declares and consumes every queue that has handlers (or fixed bindings), bound to what
   * brings their types in, and counts what their full parking queues drop.
   */
  async listen(callback: (err?: unknown) => void): Promise<void> {
    try {
      const byQueue = this.routesByQueue();
      const consumed = this.options.queues.filter((q) => byQueue.has(q) || q.fixedBindings);
      for (const queue of consumed) {
        const routes = byQueue.get(queue) ?? new Map<string, Route>();
        const bindings = [...(queue.fixedBindings ?? []), ...[...routes.keys()].flatMap((type) => queue.bindingsFor(type))];
        // Bindings of types no handler takes any more (moved to another queue, say) go: a binding
        // left over from an earlier version would bring in messages that could only be parked.
        const stale = queue.types.filter((type) => !routes.has(type)).flatMap((type) => queue.bindingsFor(type));
        const warned = new Set<string>();
        await this.amqp.addTopology(async (ch, ctx) => {
          const kept = await declareWorkQueue(ch, { name: queue.name, bindings, deliveryLimit: queue.deliveryLimit, parking: this.options.parking }, ctx);
          for (const k of kept.filter((k) => !warned.has(k.name))) {
            warned.add(k.name);
            this.warnKept(k);
          }
          for (const b of stale) await ch.unbindQueue(queue.name, b.exchange, b.pattern);
        });
        await this.amqp.consume(queue.name, (raw) => this.deliver(queue, routes, raw), queue.consume);
        this.log.info({ queue: queue.name, types: [...routes.keys()] }, 'consuming');
      }
      if (consumed.length > 0) {
        // Every instance of the service consumes it: whichever takes a drop counts it.
        await this.amqp.consume(this.options.parking?.droppedQueue ?? PARKING_DROPPED_QUEUE, async (raw) => {
          const { queue, reason } = deadLetteredFrom(raw.headers);
          this.amqp.emit('dropped', queue, reason);
          return Outcome.ack();
        }, { prefetch: 200 });
      }
      callback();
    } catch (err) {
      callback(err);
    }
  }

  /** Stops taking messages and lets the handlers in flight finish (up to `drainMs`). Idempotent. */
  close(): Promise<void> {
    this.closed ??= this.amqp.stopConsuming(this.options.drainMs);
    return this.closed;
  }

  on<K extends keyof HeraldTransportEvents>(event: K, callback: HeraldTransportEvents[K]): void {
    this.amqp.on(event, callback as never);
  }

  unwrap<T>(): T {
    return this.amqp as T;
  }

  /** The declared handlers, by queue and message type; a mistake in a declaration fails start-up. */
  private routesByQueue(): Map<QueueDefinition, Map<string, Route>> {
    const queues = new Map(this.options.queues.map((q) => [q.name, q]));
    const routes = new Map<QueueDefinition, Map<string, Route>>();
    for (const [pattern, handler] of this.getHandlers()) {
      const { queue, type, batch } = checkDeclaration(pattern, handler, queues);
      const batcher = batch ? new Batcher(batch, (messages, raws) => this.invokeBatch(handler, pattern, messages, raws)) : null;
      routes.set(queue, (routes.get(queue) ?? new Map<string, Route>()).set(type, { type, pattern, handler, batcher }));
    }
    return routes;
  }

  private warnKept(k: KeptDeclaration): void {
    this.log.warn(
      { queue: k.name, refusal: k.refusal },
      `parking queue ${k.name} exists with other arguments (an earlier Herald declared it unbounded, or PARKING_MAX_* changed): kept as it is, with its messages; it is bounded only if a policy bounds it (docs/operations.md, "Upgrading")`,
    );
  }

  private async deliver(queue: QueueDefinition, routes: Map<string, Route>, raw: InboundMessage): Promise<Outcome> {
    const parsed = queue.parse(raw);
    if (!parsed.ok) {
      // Drops come in floods; they are counted, never logged one by one.
      if (parsed.drop) return Outcome.drop(`${parsed.reason}: ${parsed.detail}`);
      this.log.warn({ queue: queue.name, routingKey: raw.routingKey, reason: parsed.reason, detail: parsed.detail.slice(0, 500) }, 'refused message');
      return Outcome.park(`${parsed.reason}: ${parsed.detail}`, {
        ...(parsed.keepBytes === undefined ? {} : { keepBytes: parsed.keepBytes }),
        ...(parsed.subject ? { subject: parsed.subject } : {}),
      });
    }
    const route = routes.get(parsed.type);
    if (!route) return Outcome.park(`unexpected-type: ${parsed.type} on ${queue.name}, which has no handler for it`);
    const outcome = route.batcher
      ? await route.batcher.add(parsed.message, raw)
      : this.outcomeOf(await this.invoke(route.handler, parsed.message, new HeraldContext([raw])), route.pattern, raw);
    // A message its handler parks (an unknown sender, say) was read: the `parked` event says what it was.
    return outcome.kind === 'park' && !outcome.subject ? { ...outcome, subject: subjectOf(parsed.type, parsed.message) } : outcome;
  }

  private async invokeBatch(handler: MessageHandler, pattern: string, messages: unknown[], raws: InboundMessage[]): Promise<Outcome[]> {
    const result = await this.invoke(handler, messages, new HeraldBatchContext([raws]));
    if (result instanceof HandlerFailure || !Array.isArray(result) || result.length !== messages.length) {
      const problem = Array.isArray(result) ? `${result.length} outcomes for ${messages.length} messages` : undefined;
      return raws.map((raw) => this.outcomeOf(problem ? new HandlerFailure(new Error(`batch handler returned ${problem}`)) : result, pattern, raw));
    }
    return result.map((r, i) => this.outcomeOf(r, pattern, raws[i]!));
  }

  /** Runs a handler through Nest's pipeline (pipes, interceptors); its result, or the failure. */
  private async invoke(handler: MessageHandler, data: unknown, ctx: HeraldContext | HeraldBatchContext): Promise<unknown> {
    try {
      return await lastValueFrom(this.transformToObservable(await handler(data, ctx)), { defaultValue: undefined });
    } catch (err) {
      // Nest's own RPC error (no HandlerOutcomeInterceptor in front): still a failed handler.
      return new HandlerFailure(err);
    }
  }

  private outcomeOf(result: unknown, pattern: string, raw: InboundMessage): Outcome {
    if (isOutcome(result)) return result;
    const failure = result instanceof HandlerFailure ? result : new HandlerFailure(new Error(`returned ${describe(result)} instead of an Outcome`));
    this.log.warn({ pattern, queue: raw.queue, messageId: raw.messageId, err: failure.reason }, 'handler failed');
    return Outcome.retry(failure.reason);
  }
}

/**
 * Gathers the messages of one batch pattern: hands them to the handler when `maxMessages` are in
 * or `maxWaitMs` after the first arrived, whichever is first. Each message's promise settles with
 * its own outcome, so AmqpClient acknowledges, retries or parks each one as usual.
 */
class Batcher {
  private pending: Array<{ message: unknown; raw: InboundMessage; resolve: (o: Outcome) => void; reject: (e: unknown) => void }> = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: BatchOptions,
    private readonly run: (messages: unknown[], raws: InboundMessage[]) => Promise<Outcome[]>,
  ) {}

  add(message: unknown, raw: InboundMessage): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      this.pending.push({ message, raw, resolve, reject });
      if (this.pending.length >= this.options.maxMessages) this.flush();
      else this.timer ??= setTimeout(() => this.flush(), this.options.maxWaitMs);
    });
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    this.run(
      batch.map((b) => b.message),
      batch.map((b) => b.raw),
    ).then(
      (outcomes) => batch.forEach((b, i) => b.resolve(outcomes[i]!)),
      (err: unknown) => batch.forEach((b) => b.reject(err)),
    );
  }
}

/** The queue, type and batch options of one declared handler, or why the declaration is wrong. */
function checkDeclaration(
  pattern: string,
  handler: MessageHandler,
  queues: ReadonlyMap<string, QueueDefinition>,
): { queue: QueueDefinition; type: string; batch: BatchOptions | undefined } {
  const named = parseMessagePattern(pattern);
  const queue = named && queues.get(named.queue);
  if (!named || !queue) throw new Error(`@EventPattern('${pattern}') names no queue of this service (${[...queues.keys()].join(', ')}); use queue.pattern(type)`);
  if (!queue.types.includes(named.type)) throw new Error(`@EventPattern('${pattern}'): ${queue.name} carries no message type ${named.type}`);
  if (!handler.isEventHandler) throw new Error(`'${pattern}' is a @MessagePattern; Herald's handlers are @EventPattern and return an Outcome`);
  if (handler.next) throw new Error(`'${pattern}' has two handlers; each message gets exactly one outcome, from one handler`);
  const batch = (handler.extras as { batch?: BatchOptions } | undefined)?.batch;
  const prefetch = queue.consume.prefetch ?? DEFAULT_CONSUME_OPTIONS.prefetch;
  if (batch && batch.maxMessages > prefetch) throw new Error(`'${pattern}' takes batches of ${batch.maxMessages} but ${queue.name} has a prefetch of ${prefetch}`);
  return { queue, type: named.type, batch };
}

function subjectOf(type: string, message: unknown): MessageSubject {
  const messageId = (message as { messageId?: unknown } | null)?.messageId;
  return { type, ...(typeof messageId === 'string' ? { messageId } : {}) };
}

function isOutcome(value: unknown): value is Outcome {
  const kind = (value as { kind?: unknown } | null)?.kind;
  return kind === 'ack' || kind === 'retry' || kind === 'park' || kind === 'drop';
}

/**
 * The queue a dead-lettered message last left and why, from its `x-death` header (most recent
 * death first), as a reason: `parking-full` for a message a full parking queue dropped.
 */
export function deadLetteredFrom(headers: Record<string, unknown>): { queue: string; reason: string } {
  const deaths = headers['x-death'];
  const last = Array.isArray(deaths) ? (deaths[0] as { queue?: unknown; reason?: unknown } | undefined) : undefined;
  // Only names a parking queue can have become a metric label (a forged x-death cannot make up series).
  const queue = typeof last?.queue === 'string' && /^[A-Za-z0-9._-]{1,200}\.parking$/.test(last.queue) ? last.queue : '(other)';
  const why = typeof last?.reason === 'string' ? last.reason : 'unknown';
  return { queue, reason: why === 'maxlen' ? 'parking-full: the oldest message of a full parking queue' : `parking-${why.replace(/[^a-z]/g, '')}: dead-lettered from ${queue}` };
}

function describe(value: unknown): string {
  if (value instanceof Error) return value.message;
  const message = (value as { message?: unknown } | null)?.message;
  if (typeof message === 'string') return message;
  return value === undefined ? 'nothing' : JSON.stringify(value)?.slice(0, 200) ?? String(value);
}

/**
 * Attaches HeraldTransport to a Nest application; call it before `app.init()`, then
 * `app.startAllMicroservices()`. The handlers share the application's global enhancers,
 * HandlerOutcomeInterceptor (from MessagingModule) among them.
 */
export function connectHeraldTransport(app: INestApplication): INestMicroservice {
  return app.connectMicroservice({ strategy: app.get(HeraldTransport) }, { inheritAppConfig: true });
}
