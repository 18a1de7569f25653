import { ExpectedVersionConflictError } from './errors';
import type { EventStore } from './event-store';
import type { Decider, Event, EventMetadata, RecordedEvent } from '@herald/domain';
import type { OutboxMessage } from './outbox-message';
import { type AnyProjection, eventsFor } from './projection';
import type { Tx } from './sql';

export interface HandleOptions<State, E extends Event> {
  /** Messages to publish for the new events, written to the outbox in the same transaction. */
  outbox?: (ctx: { events: readonly RecordedEvent<E>[]; before: State; after: State; tx: Tx }) => OutboxMessage[] | Promise<OutboxMessage[]>;
  /** Other writes that belong with the new events (a read model, a lock table), in the same transaction. */
  inTransaction?: (ctx: { events: readonly RecordedEvent<E>[]; before: State; after: State; tx: Tx }) => Promise<void>;
  /** Skip the command entirely when this consumer already handled this message. */
  idempotency?: { consumer: string; messageId: string };
  /** Merged into every new event's metadata; a function gets the state the command is decided on. */
  metadata?: EventMetadata | ((state: State) => EventMetadata);
}

export type HandleResult<State, E extends Event> =
  | { readonly kind: 'handled'; readonly events: readonly RecordedEvent<E>[]; readonly state: State; readonly version: number }
  | { readonly kind: 'duplicate' };

const RETRYABLE_PG = new Set(['40001', '40P01']); // serialization failure, deadlock

/** What a batch decided on one stream. */
export interface StreamOutcome<S, E extends Event> {
  readonly streamId: string;
  readonly events: readonly RecordedEvent<E>[];
  readonly before: S;
  readonly after: S;
}

export interface BatchOptions<S, E extends Event> {
  /** Messages to publish for the new events of every stream, written to the outbox with them. */
  outbox?: (ctx: { streams: readonly StreamOutcome<S, E>[]; tx: Tx }) => OutboxMessage[] | Promise<OutboxMessage[]>;
  /** Other writes that belong with the new events (read models, lock tables), in the same transaction. */
  inTransaction?: (ctx: { streams: readonly StreamOutcome<S, E>[]; tx: Tx }) => Promise<void>;
}

/**
 * The streams of one batch: decide any number of commands on any of them, each on the state the
 * earlier decisions left; nothing is written until the batch ends, then everything in one
 * statement.
 */
export class StreamBatch<S, C, E extends Event> {
  private readonly pending = new Map<string, E[]>();

  constructor(
    private readonly decider: Decider<S, C, E>,
    private readonly streams: Map<string, { state: S; version: number }>,
  ) {}

  /** The stream's state, with what this batch decided on it so far. */
  state(streamId: string): S {
    return this.stream(streamId).state;
  }

  /** Decides `command` on the stream; its events are appended when the batch ends. */
  decide(streamId: string, command: C, metadata?: EventMetadata): readonly E[] {
    const stream = this.stream(streamId);
    const decided = this.decider.decide(command, stream.state);
    const events = metadata ? decided.map((e) => ({ ...e, metadata: { ...metadata, ...e.metadata } })) : decided;
    stream.state = events.reduce((s, e) => this.decider.evolve(s, e), stream.state);
    if (events.length > 0) this.pending.set(streamId, [...(this.pending.get(streamId) ?? []), ...events]);
    return events;
  }

  /**
   * @internal the writes the batch ends with, by stream id: concurrent batches that share streams
   * then insert (and wait on each other's rows) in the same order, and do not deadlock.
   */
  writes(): Array<{ streamId: string; events: E[]; expectedVersion: number }> {
    return [...this.pending]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([streamId, events]) => ({ streamId, events, expectedVersion: this.stream(streamId).version }));
  }

  private stream(streamId: string): { state: S; version: number } {
    const stream = this.streams.get(streamId);
    if (!stream) throw new Error(`stream ${streamId} is not part of this batch`);
    return stream;
  }
}

/**
 * Load, decide, append: reads the stream, folds it, runs the decider, appends with the version
 * it read (optimistic concurrency), updates inline projections and the outbox — all in one
 * transaction, retried from a fresh read when another writer got there first.
 */
export class CommandHandler {
  constructor(
    private readonly store: EventStore,
    private readonly inline: readonly AnyProjection[] = [],
    private readonly maxRetries = 10,
  ) {}

  async handle<S, C, E extends Event>(
    decider: Decider<S, C, E>,
    streamId: string,
    command: C,
    options: HandleOptions<S, E> = {},
  ): Promise<HandleResult<S, E>> {
    return this.transaction((tx) => this.handleIn(tx, decider, streamId, command, options));
  }

  /**
   * Runs `fn` in a transaction, again from the start when it lost an optimistic-concurrency race
   * (or PostgreSQL reported a serialization failure or deadlock). `fn` must have no effects
   * outside the transaction.
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.store.db.transaction(fn);
      } catch (err) {
        const retryable = err instanceof ExpectedVersionConflictError || RETRYABLE_PG.has((err as { code?: string }).code ?? '');
        if (!retryable || attempt >= this.maxRetries) throw err;
        await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt));
      }
    }
  }

  /**
   * Many decisions on many streams in one transaction: the streams are read in one query, `work`
   * decides on them through a StreamBatch (reading other tables in `tx` as it needs), then every
   * new event is appended in one statement, the inline projections and `inTransaction` run, and the
   * outbox is written. `work` may run again (after a conflict): it must have no effect outside `tx`.
   */
  async batchIn<S, C, E extends Event, T>(
    tx: Tx,
    decider: Decider<S, C, E>,
    streamIds: readonly string[],
    work: (batch: StreamBatch<S, C, E>) => T | Promise<T>,
    options: BatchOptions<S, E> = {},
  ): Promise<{ result: T; streams: StreamOutcome<S, E>[] }> {
    const read = await this.store.readStreams<E>(tx, streamIds);
    const loaded = new Map([...read].map(([id, r]) => [id, { state: r.events.reduce((s, e) => decider.evolve(s, e), decider.initialState()), version: r.version }]));
    const before = new Map([...loaded].map(([id, l]) => [id, l.state]));
    const batch = new StreamBatch(decider, loaded);
    const result = await work(batch);
    const writes = batch.writes();
    const recorded = await this.store.appendMany(tx, writes);
    const byStream = new Map<string, RecordedEvent<E>[]>();
    for (const e of recorded) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e]);
    const streams = writes.map((w) => ({ streamId: w.streamId, events: byStream.get(w.streamId) ?? [], before: before.get(w.streamId)!, after: batch.state(w.streamId) }));
    if (recorded.length > 0) {
      for (const p of this.inline) {
        const wanted = eventsFor(p, recorded);
        if (wanted.length > 0) await p.apply(tx, wanted);
      }
      await options.inTransaction?.({ streams, tx });
      await this.store.enqueue(tx, (await options.outbox?.({ streams, tx })) ?? []);
    }
    return { result, streams };
  }

  /** The same, inside a transaction the caller owns (and retries). */
  async handleIn<S, C, E extends Event>(
    tx: Tx,
    decider: Decider<S, C, E>,
    streamId: string,
    command: C,
    options: HandleOptions<S, E> = {},
  ): Promise<HandleResult<S, E>> {
    if (options.idempotency && !(await this.store.markProcessed(tx, options.idempotency.consumer, options.idempotency.messageId))) {
      return { kind: 'duplicate' };
    }
    const { events: history, version } = await this.store.readStream<E>(streamId, tx);
    const before = history.reduce((s, e) => decider.evolve(s, e), decider.initialState());
    const decided = decider.decide(command, before);
    const metadata = typeof options.metadata === 'function' ? options.metadata(before) : options.metadata;
    const withMetadata = metadata ? decided.map((e) => ({ ...e, metadata: { ...metadata, ...e.metadata } })) : decided;
    const recorded = await this.store.append(tx, streamId, withMetadata, version);
    const after = recorded.reduce((s, e) => decider.evolve(s, e), before);
    if (recorded.length > 0) {
      for (const p of this.inline) {
        const wanted = eventsFor(p, recorded);
        if (wanted.length > 0) await p.apply(tx, wanted);
      }
      await options.inTransaction?.({ events: recorded, before, after, tx });
      const messages = (await options.outbox?.({ events: recorded, before, after, tx })) ?? [];
      await this.store.enqueue(tx, messages);
    }
    return { kind: 'handled', events: recorded, state: after, version: version + recorded.length };
  }
}
