import type { EventStore } from './event-store';
import { GlobalCursor, RecordedEvent, START } from './events';
import type { Tx } from './sql';
import { PollingLoop } from './polling-loop';

/** A read model built from events. The same code serves live updates and rebuilds. */
export interface Projection {
  /** Unique per schema; names its checkpoint. */
  readonly name: string;
  /** Event types it reads; others are skipped (the checkpoint still moves past them). */
  readonly eventTypes?: readonly string[];
  /** Applies events in order, in the transaction that also moves the checkpoint. */
  apply(tx: Tx, events: readonly RecordedEvent[]): Promise<void>;
  /** Empties the read model, for a rebuild from the first event. */
  reset(tx: Tx): Promise<void>;
}

export interface ProjectionRunnerOptions {
  pollIntervalMs?: number;
  batchSize?: number;
  logger?: { warn(obj: object, msg?: string): void };
}

/**
 * Keeps asynchronous projections up to date from the global event order, each with a stored
 * checkpoint moved in the same transaction as the read model. Safe with several instances: a
 * projection's checkpoint row is claimed with FOR UPDATE SKIP LOCKED, so one instance applies a
 * batch while the others skip it.
 */
export class ProjectionRunner {
  private readonly loop: PollingLoop;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: EventStore,
    private readonly projections: readonly Projection[],
    private readonly options: ProjectionRunnerOptions = {},
  ) {
    this.loop = new PollingLoop(() => this.pass(), {
      idleMs: options.pollIntervalMs ?? 200,
      onError: (err) => options.logger?.warn({ err: err.message }, 'projection pass failed'),
    });
    // Appends that wrote events usually also wrote outbox rows; reuse that signal to wake up.
    this.unsubscribe = store.onOutboxWrite(() => this.loop.wake());
  }

  start(): void {
    this.loop.start();
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    await this.loop.stop();
  }

  /** Wakes the runner now instead of at the next poll. */
  nudge(): void {
    this.loop.wake();
  }

  /** One batch for every projection; true when any may have more. A failing one does not stop the others. */
  private async pass(): Promise<boolean> {
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
  async step(projection: Projection): Promise<boolean> {
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
      const wanted = projection.eventTypes ? events.filter((e) => projection.eventTypes!.includes(e.type)) : events;
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
