import { randomUUID } from 'node:crypto';
import type { Database } from './database';
import { ExpectedVersionConflictError } from './errors';
import type { Event, RecordedEvent } from '@herald/domain';
import type { ExpectedVersion, GlobalCursor, Upcaster } from './events';
import { START } from './events';
import type { OutboxMessage } from './outbox-message';
import type { Tx } from './sql';

interface EventRow {
  global_position: string;
  transaction_id: string;
  stream_id: string;
  stream_position: number;
  event_id: string;
  type: string;
  schema_version: number;
  data: object;
  metadata: object;
  recorded_at: Date;
}

/** 8 parameters a row: 1,000 rows stay far below PostgreSQL's 65,535 parameters a statement. */
const OUTBOX_ROWS_PER_INSERT = 1_000;

const COLUMNS = `global_position, transaction_id::text AS transaction_id, stream_id, stream_position, event_id,
  type, schema_version, data, metadata, recorded_at`;

export interface EventStoreOptions {
  /** Upcasters by event type, for events stored with an older schema version. */
  upcasters?: Record<string, Upcaster>;
  /** Schema version new events of a type are written with (default 1). */
  schemaVersions?: Record<string, number>;
}

/**
 * Append-only event streams in PostgreSQL, with the outbox and inbox written in the same
 * transactions as the events they belong to.
 */
export class EventStore {
  private readonly outboxListeners = new Set<() => void>();
  private readonly appendListeners = new Set<(events: readonly RecordedEvent[]) => void>();

  constructor(
    readonly db: Database,
    private readonly options: EventStoreOptions = {},
  ) {}

  /**
   * Appends events at the stream's next positions. With a numeric `expectedVersion` the stream
   * must be at exactly that version (0: must not exist); otherwise ExpectedVersionConflictError
   * is thrown and the transaction must be retried from a fresh read.
   */
  async append<E extends Event>(tx: Tx, streamId: string, events: readonly E[], expectedVersion: ExpectedVersion): Promise<RecordedEvent<E>[]> {
    if (events.length === 0) return [];
    let version: number;
    if (expectedVersion === 'any') {
      const row = await tx.one<{ v: number | null }>('SELECT max(stream_position) AS v FROM events WHERE stream_id = $1', [streamId]);
      version = row?.v ?? 0;
    } else {
      version = expectedVersion;
    }
    const values: unknown[] = [];
    const tuples = events.map((e, i) => {
      const base = values.length;
      values.push(
        streamId,
        version + i + 1,
        randomUUID(),
        e.type,
        this.options.schemaVersions?.[e.type] ?? 1,
        JSON.stringify(e.data),
        JSON.stringify(e.metadata ?? {}),
      );
      return `($${base + 1}, $${base + 2}, $${base + 3}, $${base + 4}, $${base + 5}, $${base + 6}::jsonb, $${base + 7}::jsonb)`;
    });
    try {
      // A savepoint keeps the caller's transaction usable if the unique constraint fires.
      await tx.exec('SAVEPOINT append');
      const rows = await tx.rows<EventRow>(
        `INSERT INTO events (stream_id, stream_position, event_id, type, schema_version, data, metadata)
         VALUES ${tuples.join(', ')} RETURNING ${COLUMNS}`,
        values,
      );
      await tx.exec('RELEASE SAVEPOINT append');
      const recorded = rows.map((r) => this.toRecorded<E>(r));
      if (this.appendListeners.size > 0) tx.afterCommit(() => this.appendListeners.forEach((l) => l(recorded)));
      return recorded;
    } catch (err) {
      if ((err as { code?: string }).code === '23505' && String((err as Error).message).includes('events_stream_position_unique')) {
        await tx.exec('ROLLBACK TO SAVEPOINT append');
        throw new ExpectedVersionConflictError(streamId, expectedVersion);
      }
      throw err;
    }
  }

  /**
   * Appends to many streams in one statement: each write at its stream's next positions after
   * `expectedVersion`. When any stream has moved on, nothing is written and
   * ExpectedVersionConflictError is thrown (the caller retries from a fresh read).
   */
  async appendMany<E extends Event>(tx: Tx, writes: ReadonlyArray<{ streamId: string; events: readonly E[]; expectedVersion: number }>): Promise<RecordedEvent<E>[]> {
    const cols = { stream: [] as string[], position: [] as number[], id: [] as string[], type: [] as string[], version: [] as number[], data: [] as string[], metadata: [] as string[] };
    for (const w of writes) {
      w.events.forEach((e, i) => {
        cols.stream.push(w.streamId);
        cols.position.push(w.expectedVersion + i + 1);
        cols.id.push(randomUUID());
        cols.type.push(e.type);
        cols.version.push(this.options.schemaVersions?.[e.type] ?? 1);
        cols.data.push(JSON.stringify(e.data));
        cols.metadata.push(JSON.stringify(e.metadata ?? {}));
      });
    }
    if (cols.id.length === 0) return [];
    try {
      await tx.exec('SAVEPOINT append_many');
      const rows = await tx.rows<EventRow>(
        `INSERT INTO events (stream_id, stream_position, event_id, type, schema_version, data, metadata)
         SELECT * FROM unnest($1::text[], $2::int[], $3::uuid[], $4::text[], $5::smallint[], $6::jsonb[], $7::jsonb[])
         RETURNING ${COLUMNS}`,
        [cols.stream, cols.position, cols.id, cols.type, cols.version, cols.data, cols.metadata],
      );
      await tx.exec('RELEASE SAVEPOINT append_many');
      // In the order given: by stream, then position.
      const order = new Map(cols.id.map((id, i) => [id, i]));
      const recorded = rows.map((r) => this.toRecorded<E>(r)).sort((a, b) => order.get(a.eventId)! - order.get(b.eventId)!);
      if (this.appendListeners.size > 0) tx.afterCommit(() => this.appendListeners.forEach((l) => l(recorded)));
      return recorded;
    } catch (err) {
      if ((err as { code?: string }).code === '23505' && String((err as Error).message).includes('events_stream_position_unique')) {
        await tx.exec('ROLLBACK TO SAVEPOINT append_many');
        const stream = /\(stream_id, stream_position\)=\((.*), \d+\)/.exec((err as { detail?: string }).detail ?? '')?.[1] ?? '(one of several)';
        throw new ExpectedVersionConflictError(stream, writes.find((w) => w.streamId === stream)?.expectedVersion ?? 'any');
      }
      throw err;
    }
  }

  /** Many whole streams at once, each in order with its version (0 for one that does not exist). */
  async readStreams<E extends Event>(tx: Tx, streamIds: readonly string[]): Promise<Map<string, { events: RecordedEvent<E>[]; version: number }>> {
    const out = new Map<string, { events: RecordedEvent<E>[]; version: number }>(streamIds.map((id) => [id, { events: [], version: 0 }]));
    if (streamIds.length === 0) return out;
    const rows = await tx.rows<EventRow>(`SELECT ${COLUMNS} FROM events WHERE stream_id = ANY($1) ORDER BY stream_id, stream_position`, [[...new Set(streamIds)]]);
    for (const r of rows) {
      const stream = out.get(r.stream_id)!;
      stream.events.push(this.toRecorded<E>(r));
      stream.version = r.stream_position;
    }
    return out;
  }

  /**
   * One stream together with the facts recorded about its subject elsewhere: the events of
   * `mentions.type` whose data field `mentions.field` (a JSON array of strings) holds `value`
   * (say, a rollout's skips naming an agent). All in global order.
   */
  async readStreamWithMentions<E extends Event>(streamId: string, mentions: { type: string; field: string; value: string }, tx?: Tx): Promise<RecordedEvent<E>[]> {
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(mentions.field)) throw new Error(`invalid field name ${JSON.stringify(mentions.field)}`);
    const read = (sql: Tx) =>
      sql.rows<EventRow>(
        // The transaction id comes out as text (a JavaScript string): order by its number, not
        // its text ('1000' sorts before '999').
        `SELECT * FROM (
           SELECT ${COLUMNS} FROM events WHERE stream_id = $1
           UNION ALL
           SELECT ${COLUMNS} FROM events WHERE type = $2 AND data -> '${mentions.field}' ? $3 AND stream_id <> $1
         ) e ORDER BY e.transaction_id::xid8, e.global_position`,
        [streamId, mentions.type, mentions.value],
      );
    const rows = tx ? await read(tx) : await this.db.session(read);
    return rows.map((r) => this.toRecorded<E>(r));
  }

  /**
   * Deletes each stream's events up to and including `upTo`. Only for a caller that knows the
   * state folded from those events is the decider's initial state and that every projection has
   * read them: `closeBooks` (housekeeping.ts) is that caller. Returns how many were deleted.
   */
  async dropStreamPrefixes(tx: Tx, cuts: ReadonlyArray<{ streamId: string; upTo: number }>): Promise<number> {
    if (cuts.length === 0) return 0;
    return tx.exec(
      `DELETE FROM events e USING unnest($1::text[], $2::integer[]) AS c(stream_id, up_to)
        WHERE e.stream_id = c.stream_id AND e.stream_position <= c.up_to`,
      [cuts.map((c) => c.streamId), cuts.map((c) => c.upTo)],
    );
  }

  /** The whole stream in order, and its version (0 when it does not exist). */
  async readStream<E extends Event>(streamId: string, tx?: Tx): Promise<{ events: RecordedEvent<E>[]; version: number }> {
    const read = (sql: Tx) =>
      sql.rows<EventRow>(`SELECT ${COLUMNS} FROM events WHERE stream_id = $1 ORDER BY stream_position`, [streamId]);
    const rows = tx ? await read(tx) : await this.db.session(read);
    const events = rows.map((r) => this.toRecorded<E>(r));
    return { events, version: events.at(-1)?.streamPosition ?? 0 };
  }

  /**
   * Events after `after` in global order, at most `limit`. Only events of transactions that
   * committed before every still-running one are returned, so nothing is ever skipped.
   */
  async readAll(after: GlobalCursor = START, limit = 500, tx?: Tx): Promise<RecordedEvent[]> {
    // events.transaction_id: the xid8 column. A bare transaction_id in ORDER BY would be the text
    // output column, and '1000' sorts before '999': with the LIMIT, events would be skipped.
    const read = (sql: Tx) =>
      sql.rows<EventRow>(
        `SELECT ${COLUMNS} FROM events
          WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
            AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          ORDER BY events.transaction_id, global_position
          LIMIT $3`,
        [after.transactionId, after.globalPosition, limit],
      );
    const rows = tx ? await read(tx) : await this.db.session(read);
    return rows.map((r) => this.toRecorded(r));
  }

  /** Writes messages to the outbox in the caller's transaction; the relay publishes them. */
  async enqueue(tx: Tx, messages: readonly OutboxMessage[]): Promise<void> {
    if (messages.length === 0) return;
    // PostgreSQL takes at most 65,535 parameters a statement; a rollout to a large fleet writes
    // one row per agent, so rows go in chunks.
    for (let start = 0; start < messages.length; start += OUTBOX_ROWS_PER_INSERT) {
      const chunk = messages.slice(start, start + OUTBOX_ROWS_PER_INSERT);
      const values: unknown[] = [];
      const tuples = chunk.map((m) => {
        const b = values.length;
        values.push(
          m.messageId ?? randomUUID(),
          m.exchange ?? '',
          m.routingKey,
          m.delayMs ?? null,
          m.type,
          m.correlationId ?? null,
          JSON.stringify(m.headers ?? {}),
          JSON.stringify(m.payload),
        );
        return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}::jsonb, $${b + 8}::jsonb)`;
      });
      await tx.exec(
        `INSERT INTO outbox (message_id, exchange, routing_key, delay_ms, type, correlation_id, headers, payload)
         VALUES ${tuples.join(', ')}`,
        values,
      );
    }
    tx.afterCommit(() => this.outboxListeners.forEach((l) => l()));
  }

  /** Called with the events of every committed append made through this store (metrics). */
  onAppended(listener: (events: readonly RecordedEvent[]) => void): () => void {
    this.appendListeners.add(listener);
    return () => this.appendListeners.delete(listener);
  }

  /** Called after a transaction that wrote to the outbox commits (the relay wakes on it). */
  onOutboxWrite(listener: () => void): () => void {
    this.outboxListeners.add(listener);
    return () => this.outboxListeners.delete(listener);
  }

  /**
   * Records that `consumer` handled each of `messageIds`, in the caller's transaction, and returns
   * those it had not handled before: the caller skips the others, which makes at-least-once
   * delivery effectively once.
   */
  async markProcessedMany(tx: Tx, consumer: string, messageIds: readonly string[]): Promise<Set<string>> {
    if (messageIds.length === 0) return new Set();
    const rows = await tx.rows<{ message_id: string }>(
      'INSERT INTO inbox (consumer, message_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING message_id',
      [consumer, [...new Set(messageIds)]],
    );
    return new Set(rows.map((r) => r.message_id));
  }

  /** The same for one message: false when it was handled before. */
  async markProcessed(tx: Tx, consumer: string, messageId: string): Promise<boolean> {
    const inserted = await tx.exec(
      'INSERT INTO inbox (consumer, message_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
      [consumer, messageId],
    );
    return inserted === 1;
  }

  private toRecorded<E extends Event>(r: EventRow): RecordedEvent<E> {
    const upcast = r.schema_version !== (this.options.schemaVersions?.[r.type] ?? 1) ? this.options.upcasters?.[r.type] : undefined;
    return {
      type: r.type,
      data: upcast ? upcast(r.data, r.schema_version) : r.data,
      metadata: r.metadata,
      eventId: r.event_id,
      streamId: r.stream_id,
      streamPosition: r.stream_position,
      globalPosition: String(r.global_position),
      transactionId: r.transaction_id,
      schemaVersion: r.schema_version,
      recordedAt: r.recorded_at,
    } as unknown as RecordedEvent<E>;
  }
}
