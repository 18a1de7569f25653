import type { Channel } from 'amqplib';

/** A binding of a work queue to an exchange. */
export interface Binding {
  exchange: string;
  pattern: string;
}

/**
 * How much a parking queue keeps. Past either bound the broker drops its oldest message
 * (drop-head) and dead-letters it into `droppedQueue`, where the service counts it.
 */
export interface ParkingLimits {
  maxMessages: number;
  /** Bytes of message bodies (the broker does not count headers; see AmqpClient's `keepHeaders`). */
  maxBytes: number;
  /**
   * Where the drops go to be counted (default PARKING_DROPPED_QUEUE). One per service, so that
   * the service owning a parking queue is the one that counts its drops.
   */
  droppedQueue?: string;
}

export const DEFAULT_PARKING_LIMITS: ParkingLimits = { maxMessages: 10_000, maxBytes: 64 * 1024 * 1024 };

/**
 * Where a parking queue sends the oldest message it drops when full, unless told otherwise.
 * RabbitMQ tells no one about a drop-head discard except by dead-lettering it, so this is the
 * only place a drop can be counted exactly: the service consumes it, counts each message by the
 * parking queue its `x-death` names, and acknowledges it. Bounded itself: it fills only while the
 * service is not consuming it.
 */
export const PARKING_DROPPED_QUEUE = 'herald.parking-dropped';

/** The queue of a service's parking-queue drops: `herald.<service>.parking-dropped`. */
export const parkingDroppedQueueOf = (service: string): string => `herald.${service}.parking-dropped`;

export interface WorkQueueSpec {
  name: string;
  bindings?: Binding[];
  /**
   * Deliveries after which the broker itself parks a message (poison protection for messages
   * that crash the consumer before it can decide anything). Quorum queues only.
   */
  deliveryLimit?: number;
  /** Bounds of its parking queue (default DEFAULT_PARKING_LIMITS). */
  parking?: ParkingLimits;
}

/**
 * What a topology setup may use besides its channel: a fresh channel of the same connection
 * for a declaration the broker may refuse (a refusal closes the channel it came on).
 */
export interface TopologyContext {
  openChannel(): Promise<Channel>;
}

/**
 * A declaration the broker refused because the queue or exchange already exists with other
 * arguments (PRECONDITION_FAILED): an older Herald declared it, or a setting changed since. It is
 * kept as it is (arguments cannot be changed in place); `refusal` is the broker's reason.
 */
export interface KeptDeclaration {
  kind: 'queue' | 'exchange';
  name: string;
  refusal: string;
}

/** The parking-lot queue of a work queue: messages that will never succeed, kept for inspection. */
export const parkingQueueOf = (queue: string): string => `${queue}.parking`;

/** The delayed-retry queue that returns messages to `queue` after `delayMs`. */
export const delayQueueOf = (queue: string, delayMs: number): string => `${queue}.delay.${delayMs}ms`;

/** The arguments of a bounded parking queue. */
export function parkingQueueArguments(limits: ParkingLimits): Record<string, unknown> {
  const dropped = limits.droppedQueue ?? PARKING_DROPPED_QUEUE;
  return {
    'x-queue-type': 'quorum',
    'x-max-length': limits.maxMessages,
    'x-max-length-bytes': limits.maxBytes,
    'x-overflow': 'drop-head',
    // At-most-once dead-lettering (the default): at-least-once would need reject-publish, which
    // refuses new messages instead of dropping old ones. A count lost in a broker crash is all it risks.
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': dropped,
  };
}

/**
 * Declares a durable quorum work queue with its bounded parking queue and bindings. Safe to
 * re-run on every reconnect: declarations with the same arguments are idempotent. A parking
 * queue that exists with other arguments (declared by a Herald before parking queues were
 * bounded, or with other limits) is kept as it is and reported, so an upgrade never fails to
 * start; docs/operations.md ("Upgrading") gives the policy that bounds it in place. Without a
 * `ctx` to open a channel with, such a queue fails the declaration instead.
 */
export async function declareWorkQueue(ch: Channel, spec: WorkQueueSpec, ctx?: TopologyContext): Promise<KeptDeclaration[]> {
  const parking = parkingQueueOf(spec.name);
  const kept: KeptDeclaration[] = [];
  const limits = spec.parking ?? DEFAULT_PARKING_LIMITS;
  await ch.assertQueue(limits.droppedQueue ?? PARKING_DROPPED_QUEUE, { durable: true, arguments: PARKING_DROPPED_QUEUE_ARGUMENTS });
  const args = parkingQueueArguments(limits);
  const refusal = await declareOrKeep(
    ch,
    ctx,
    (c) => c.assertQueue(parking, { durable: true, arguments: args }),
    (c) => c.checkQueue(parking),
  );
  if (refusal) kept.push({ kind: 'queue', name: parking, refusal });
  await ch.assertQueue(spec.name, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-delivery-limit': spec.deliveryLimit ?? 20,
      // Messages over the delivery limit are dead-lettered straight to the parking queue.
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': parking,
    },
  });
  for (const b of spec.bindings ?? []) {
    await ch.bindQueue(spec.name, b.exchange, b.pattern);
  }
  return kept;
}

const PARKING_DROPPED_QUEUE_ARGUMENTS = {
  'x-queue-type': 'quorum',
  'x-max-length': 10_000,
  'x-max-length-bytes': 16 * 1024 * 1024,
  'x-overflow': 'drop-head',
};

/**
 * Declares the delay queue for (queue, delay): a per-queue TTL and a dead-letter route back to
 * `queue` through the default exchange. Quorum with at-least-once dead-lettering, so a broker
 * crash while a message moves back does not lose it. One queue per distinct delay keeps every
 * message in it expiring in order. The queue deletes itself once unused long after its last
 * message has expired, so a changed setting does not leave queues behind.
 */
export async function declareDelayQueue(ch: Channel, queue: string, delayMs: number): Promise<string> {
  const name = delayQueueOf(queue, delayMs);
  await ch.assertQueue(name, {
    durable: true,
    arguments: {
      'x-queue-type': 'quorum',
      'x-message-ttl': delayMs,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': queue,
      'x-dead-letter-strategy': 'at-least-once',
      'x-overflow': 'reject-publish',
      'x-expires': delayExpiryMs(delayMs),
    },
  });
  return name;
}

/** How long a delay queue may sit unused before the broker deletes it. */
export const delayExpiryMs = (delayMs: number): number => delayMs * 2 + 60_000;

export interface ExchangeSpec {
  name: string;
  type: 'topic' | 'direct' | 'fanout' | 'headers';
  /** Clients cannot publish to it; only other exchanges route into it (an alternate exchange, say). */
  internal?: boolean;
  /** Where the broker sends a message this exchange routes to no queue (RabbitMQ's `alternate-exchange`). */
  alternateExchange?: string;
  /** Exchanges this one receives from (exchange-to-exchange bindings), with their binding patterns. */
  receivesFrom?: Array<{ exchange: string; pattern: string }>;
}

/**
 * Declares durable exchanges, in order (an alternate exchange before the exchange that names
 * it), then the bindings between them. An exchange that exists without the alternate exchange
 * asked for (declared by an older Herald) is kept as it is, with every binding every service made
 * to it, and reported: deleting it to declare it again would silently take the other services'
 * bindings with it.
 */
export async function declareExchanges(ch: Channel, exchanges: ExchangeSpec[], ctx?: TopologyContext): Promise<KeptDeclaration[]> {
  const kept: KeptDeclaration[] = [];
  for (const e of exchanges) {
    const options = { durable: true, internal: e.internal ?? false, ...(e.alternateExchange ? { alternateExchange: e.alternateExchange } : {}) };
    if (!e.alternateExchange) {
      await ch.assertExchange(e.name, e.type, options);
      continue;
    }
    const refusal = await declareOrKeep(
      ch,
      ctx,
      (c) => c.assertExchange(e.name, e.type, options),
      (c) => c.checkExchange(e.name),
    );
    if (refusal) kept.push({ kind: 'exchange', name: e.name, refusal });
  }
  for (const e of exchanges) for (const from of e.receivesFrom ?? []) await ch.bindExchange(e.name, from.exchange, from.pattern);
  return kept;
}

/**
 * Runs `declare` on a channel of its own; if the broker refuses it as inequivalent to what
 * exists (406 PRECONDITION_FAILED, which closes that channel), checks that the object exists
 * with `check` on `ch` and returns the broker's reason. Without `ctx`, declares on `ch`.
 */
async function declareOrKeep(
  ch: Channel,
  ctx: TopologyContext | undefined,
  declare: (c: Channel) => Promise<unknown>,
  check: (c: Channel) => Promise<unknown>,
): Promise<string | null> {
  if (!ctx) {
    await declare(ch);
    return null;
  }
  const scratch = await ctx.openChannel();
  // The refusal arrives as this channel's error too; it is handled through the rejected declaration.
  scratch.on('error', () => undefined);
  try {
    await declare(scratch);
    return null;
  } catch (err) {
    if ((err as { code?: number }).code !== 406) throw err;
    await check(ch);
    return (err as Error).message.replace(/^.*?PRECONDITION_FAILED - /s, '');
  } finally {
    await scratch.close().catch(() => undefined);
  }
}
