import type { EventStore } from './event-store';
import { BackgroundWorker, type WorkerLogger } from '@herald/common';
import type { Event, RecordedEvent } from '@herald/domain';
import type { GlobalCursor} from './events';
import { START } from './events';
import type { Tx } from './sql';

/**
 * A read model built from events of type E. The same code serves live updates and rebuilds.
 * Only events whose type is in `eventTypes` reach `apply`, so E names exactly those.
 */
export interface Projection<E extends Event = Event> {
  /** Unique per schema; names its checkpoint. */
  readonly name: string;
  /** Event types it reads; others are skipped (the checkpoint still moves past them). */
  readonly eventTypes: readonly E['type'][];
  /** Applies events in order, in the transaction that also moves the checkpoint. */
  apply(tx: Tx, events: readonly RecordedEvent<E>[]): Promise<void>;
  /** Empties the read model, for a rebuild from the first event. */
  reset(tx: Tx): Promise<void>;
}

/** A projection of any event types, as the runners hold them. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- apply's parameter is contravariant; each projection checks its own E
export type AnyProjection = Projection<any>;

/** The events of `events` a projection reads, in order. */
export function eventsFor<E extends Event>(projection: Projection<E>, events: readonly RecordedEvent[]): RecordedEvent<E>[] {
  return events.filter((e): e is RecordedEvent<E> => (projection.eventTypes as readonly string[]).includes(e.type));
}

export interface ProjectionRunnerOptions {
  pollIntervalMs?: number;
  batchSize?: number;
  logger?: WorkerLogger;
}

/**
 * Keeps asynchronous projections up to date from the global event order, each with a stored
 * checkpoint moved in the same transaction as the read model. Safe with several instances: a
 * projection's checkpoint row is claimed with FOR UPDATE SKIP LOCKED, so one instance applies a
 * batch while the others skip it.
 */
export class ProjectionRunner extends BackgroundWorker {
  constructor(
    private readonly store: EventStore,
    private readonly projections: readonly AnyProjection[],
    private readonly options: ProjectionRunnerOptions = {},
  ) {
    // Appends that wrote events usually also wrote outbox rows; that signal wakes the runner.
    super({ name: 'projections', idleMs: options.pollIntervalMs ?? 200, logger: options.logger, wakeOn: (wake) => store.onOutboxWrite(wake) });
  }

  /** One batch for every projection; true when any may have more. A failing one does not stop the others. */
  protected async pass(): Promise<boolean> {
    let busy = false;
    for (const p of this.projections) {
      try {
        busy = (await this.step(p)) || busy;
      } catch (err) {
        this.options.logger?.warn({ projection: p.name, err: (err as Error).message }, 'projection step failed');
      }
    }
    return busy;
  }

  /** Applies the next batch of one projection; true when there may be more to do. */
  async step(projection: AnyProjection): Promise<boolean> {
    const batchSize = this.options.batchSize ?? 500;
    return this.store.db.transaction(async (tx) => {
      await tx.exec('INSERT INTO checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING', [projection.name]);
      const cp = await tx.one<{ transaction_id: string; global_position: string }>(
        `SELECT transaction_id::text AS transaction_id, global_position FROM checkpoints
          WHERE name = $1 FOR UPDATE SKIP LOCKED`,
        [projection.name],
      );
      if (!cp) return false; // another instance holds it
      const cursor: GlobalCursor = { transactionId: cp.transaction_id, globalPosition: String(cp.global_position) };
      const events = await this.store.readAll(cursor, batchSize, tx);
      if (events.length === 0) return false;
      const wanted = eventsFor(projection, events);
      if (wanted.length > 0) await projection.apply(tx, wanted);
      const last = events.at(-1)!;
      await tx.exec(
        `UPDATE checkpoints SET transaction_id = $2::xid8, global_position = $3, updated_at = now() WHERE name = $1`,
        [projection.name, last.transactionId, last.globalPosition],
      );
      return events.length === batchSize;
    });
  }

  /** Applies every event there is to every projection, then returns (tests, rebuilds). */
  async catchUp(): Promise<void> {
    for (const p of this.projections) {
      while (await this.step(p)) {
        // keep going
      }
    }
  }

  /**
   * Empties a projection and moves its checkpoint back to the start; the runner then replays
   * every event into it. The read model is briefly empty while it catches up.
   */
  async rebuild(name: string): Promise<void> {
    const projection = this.projections.find((p) => p.name === name);
    if (!projection) throw new Error(`no projection named ${name}`);
    await this.store.db.transaction(async (tx) => {
      await tx.exec('INSERT INTO checkpoints (name) VALUES ($1) ON CONFLICT DO NOTHING', [name]);
      // Waits for a batch in progress elsewhere, then holds the projection while resetting it.
      await tx.one('SELECT name FROM checkpoints WHERE name = $1 FOR UPDATE', [name]);
      await projection.reset(tx);
      await tx.exec(
        `UPDATE checkpoints SET transaction_id = $2::xid8, global_position = $3, updated_at = now() WHERE name = $1`,
        [name, START.transactionId, START.globalPosition],
      );
    });
    while (await this.step(projection)) {
      // replay
    }
  }

  /** How far each projection is behind the newest event (events, not time). */
  async lag(): Promise<Record<string, number>> {
    const rows = await this.store.db.session((sql) =>
      sql.rows<{ name: string; behind: string }>(
        `SELECT c.name, (SELECT count(*) FROM events e
                          WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)) AS behind
           FROM checkpoints c WHERE c.name = ANY($1)`,
        [this.projections.map((p) => p.name)],
      ),
    );
    return Object.fromEntries(rows.map((r) => [r.name, Number(r.behind)]));
  }
}
