import { isDeepStrictEqual } from 'node:util';
import { BackgroundWorker, type WorkerLogger } from '@herald/common';
import type { Decider, Event, RecordedEvent } from '@herald/domain';
import type { EventStore } from './event-store';
import type { Tx } from './sql';

export interface HousekeepingOptions {
  /** Keep published outbox rows this long (for inspection), then delete them. */
  outboxRetentionMs?: number;
  /**
   * Remember handled message ids this long. Must outlast any redelivery: the longest retry
   * chain of any consumer, with margin.
   */
  inboxRetentionMs?: number;
  intervalMs?: number;
  logger?: WorkerLogger;
}

/** Deletes published outbox rows and old inbox entries, so neither table grows for ever. */
export class Housekeeper extends BackgroundWorker {
  constructor(
    private readonly store: EventStore,
    private readonly options: HousekeepingOptions = {},
  ) {
    super({ name: 'housekeeping', idleMs: options.intervalMs ?? 60_000, logger: options.logger });
  }

  protected async pass(): Promise<boolean> {
    await this.runOnce();
    return false;
  }

  async runOnce(): Promise<{ outbox: number; inbox: number }> {
    const outboxMs = this.options.outboxRetentionMs ?? 24 * 3600_000;
    const inboxMs = this.options.inboxRetentionMs ?? 7 * 24 * 3600_000;
    return this.store.db.session(async (sql) => ({
      outbox: await sql.exec(`DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)`, [outboxMs / 1000]),
      inbox: await sql.exec(`DELETE FROM inbox WHERE processed_at < now() - make_interval(secs => $1)`, [inboxMs / 1000]),
    }));
  }
}

/**
 * Closing the books: a stream whose state folds back to the decider's initial state at some
 * event (an agent with no open notification and no scan pending) needs nothing before that
 * event to decide the same from then on. For each stream, deletes the events up to the last such
 * point that is (a) recorded before `before`, (b) not the stream's last event (its version is
 * kept), and (c) behind every projection's checkpoint (no projection misses an event). Streams
 * with no such point are left as they are. Returns how many events were deleted.
 *
 * What is deleted is gone from timelines and from a projection rebuilt from zero: the retention
 * policy (docs/operations.md) says how long it is kept.
 */
export async function closeBooks<S, E extends Event>(
  store: EventStore,
  tx: Tx,
  decider: Pick<Decider<S, unknown, E>, 'initialState' | 'evolve'>,
  streamIds: readonly string[],
  before: Date,
  /**
   * Whether a state needs nothing of the events before it; by default, when it equals the initial
   * state. A decider that keeps a memory meant for redeliveries only (shorter-lived than the
   * retention) says which states are at rest regardless of it.
   */
  atRest: (state: S) => boolean = (state) => isDeepStrictEqual(state, decider.initialState()),
): Promise<number> {
  const checkpoints = await tx.rows<{ transaction_id: string; global_position: string }>('SELECT transaction_id::text AS transaction_id, global_position::text AS global_position FROM checkpoints');
  const read = (e: RecordedEvent) => checkpoints.every((c) => BigInt(e.transactionId) < BigInt(c.transaction_id) || (e.transactionId === c.transaction_id && BigInt(e.globalPosition) <= BigInt(c.global_position)));
  const initial = decider.initialState();
  const cuts: Array<{ streamId: string; upTo: number }> = [];
  for (const [streamId, { events, version }] of await store.readStreams<E>(tx, streamIds)) {
    let state = initial;
    let upTo = 0;
    for (const e of events) {
      if (e.streamPosition >= version || e.recordedAt >= before || !read(e)) break;
      state = decider.evolve(state, e);
      if (atRest(state)) upTo = e.streamPosition;
    }
    if (upTo > 0) cuts.push({ streamId, upTo });
  }
  return store.dropStreamPrefixes(tx, cuts);
}
