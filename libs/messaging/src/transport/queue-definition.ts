import type { ConsumeOptions, InboundMessage } from '../amqp-client';
import type { MessageSubject } from '../outcome';
import type { Binding } from '../topology';

/**
 * What a queue makes of one delivery: a typed message, or why it is refused. A refused message
 * is parked with the reason (only its first `keepBytes` bytes, when given; `subject`, what of
 * the body could be read, goes with the `parked` event), or, with `drop`, acknowledged and only
 * counted (see Outcome.drop).
 */
export type Parsed<M> =
  | { readonly ok: true; readonly type: string; readonly message: M }
  | { readonly ok: false; readonly reason: string; readonly detail: string; readonly keepBytes?: number; readonly drop?: boolean; readonly subject?: MessageSubject };

/**
 * A queue a service consumes and how to read it. The transport parses and validates every
 * delivery with `parse` before any handler runs; handlers are declared per message type with
 * `@EventPattern(queue.pattern(type))`; the queue is declared on every (re)connection and bound
 * to `bindingsFor` each type a handler is declared for, so no type is listed twice.
 */
export interface QueueDefinition<M = unknown, T extends string = string> {
  readonly name: string;
  /** Every message type `parse` can produce; a pattern naming another fails at start-up. */
  readonly types: readonly T[];
  parse(raw: InboundMessage): Parsed<M>;
  /** The bindings that bring messages of `type` into the queue; none for a queue fed directly. */
  bindingsFor(type: T): Binding[];
  readonly consume: ConsumeOptions;
  /** Deliveries after which the broker itself parks a message (see WorkQueueSpec). */
  readonly deliveryLimit?: number;
  /**
   * Bindings the queue always has, whatever its handlers. A queue with these is consumed even
   * with no handler at all: every message `parse` accepts is then parked as unexpected-type (a
   * queue that exists to park and count what arrives, say).
   */
  readonly fixedBindings?: readonly Binding[];
  /** The pattern a handler of `type` on this queue is declared with. */
  pattern(type: T): string;
  /** The same queue, consumed with other options (prefetch from a setting, say). */
  withConsume(options: ConsumeOptions): QueueDefinition<M, T>;
}

export type QueueSpec<M, T extends string> = Pick<QueueDefinition<M, T>, 'name' | 'types' | 'parse' | 'bindingsFor' | 'deliveryLimit' | 'fixedBindings'> & { consume?: ConsumeOptions };

const SEPARATOR = ':';

/** `<queue>:<message type>`: the pattern of the handler of one message type on one queue. */
export function messagePattern(queue: string, type: string): string {
  return `${queue}${SEPARATOR}${type}`;
}

/** The queue and message type a pattern names; null when it is not `<queue>:<type>`. */
export function parseMessagePattern(pattern: string): { queue: string; type: string } | null {
  const at = pattern.indexOf(SEPARATOR);
  if (at <= 0 || at === pattern.length - 1) return null;
  return { queue: pattern.slice(0, at), type: pattern.slice(at + 1) };
}

export function defineQueue<M, T extends string>(spec: QueueSpec<M, T>): QueueDefinition<M, T> {
  return {
    ...spec,
    consume: spec.consume ?? {},
    pattern: (type) => messagePattern(spec.name, type),
    withConsume: (options) => defineQueue({ ...spec, consume: { ...spec.consume, ...options } }),
  };
}
