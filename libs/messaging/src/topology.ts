import type { Channel } from 'amqplib';

/** A binding of a work queue to an exchange. */
export interface Binding {
  exchange: string;
  pattern: string;
}

export interface WorkQueueSpec {
  name: string;
  bindings?: Binding[];
  /**
   * Deliveries after which the broker itself parks a message (poison protection for messages
   * that crash the consumer before it can decide anything). Quorum queues only.
   */
  deliveryLimit?: number;
}

/** The parking-lot queue of a work queue: messages that will never succeed, kept for inspection. */
export const parkingQueueOf = (queue: string): string => `${queue}.parking`;

/** The delayed-retry queue that returns messages to `queue` after `delayMs`. */
export const delayQueueOf = (queue: string, delayMs: number): string => `${queue}.delay.${delayMs}ms`;

/**
 * Declares a durable quorum work queue with its parking queue and bindings. Safe to re-run on
 * every reconnect: declarations with the same arguments are idempotent.
 */
export async function declareWorkQueue(ch: Channel, spec: WorkQueueSpec): Promise<void> {
  const parking = parkingQueueOf(spec.name);
  await ch.assertQueue(parking, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
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
}

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
  /** Exchanges this one receives from (exchange-to-exchange bindings), with their binding patterns. */
  receivesFrom?: Array<{ exchange: string; pattern: string }>;
}

/** Declares the exchanges, then the bindings between them (so their order in the list does not matter). */
export async function declareExchanges(ch: Channel, exchanges: ExchangeSpec[]): Promise<void> {
  for (const e of exchanges) await ch.assertExchange(e.name, e.type, { durable: true });
  for (const e of exchanges) for (const from of e.receivesFrom ?? []) await ch.bindExchange(e.name, from.exchange, from.pattern);
}
