import type { Projection, Tx } from '@herald/event-store';
import { Database, EventStore, ExpectedVersionConflictError, ProjectionRunner, START } from '@herald/event-store';
import type { RecordedEvent } from '@herald/domain';
import type { TestDatabase} from '@herald/testing';
import { createTestDatabase } from '@herald/testing';

jest.setTimeout(60_000);

type Deposited = { type: 'Deposited'; data: { account: string; amount: number } };

/** A small read model: balance per account, and how many deposits made it. */
const balances: Projection = {
  name: 'balances',
  eventTypes: ['Deposited'],
  async apply(tx: Tx, events: readonly RecordedEvent[]) {
    for (const e of events as readonly RecordedEvent<Deposited>[]) {
      await tx.exec(
        `INSERT INTO balances (account, balance, deposits) VALUES ($1, $2, 1)
         ON CONFLICT (account) DO UPDATE SET balance = balances.balance + $2, deposits = balances.deposits + 1`,
        [e.data.account, e.data.amount],
      );
    }
  },
  async reset(tx: Tx) {
    await tx.exec('TRUNCATE balances');
  },
};

describe('EventStore on PostgreSQL', () => {
  let pg: TestDatabase;
  let db: Database;
  let store: EventStore;

  beforeAll(async () => {
    pg = await createTestDatabase('es');
    db = await Database.open({ url: pg.url, schema: 'es_test', poolSize: 20 });
    store = new EventStore(db, {
      schemaVersions: { Deposited: 2 },
      // v1 stored the amount in cents as "cents"; v2 stores "amount".
      upcasters: { Deposited: (data) => ({ account: (data as { account: string }).account, amount: (data as { cents: number }).cents / 100 }) },
    });
    await db.session((sql) => sql.exec('CREATE TABLE balances (account text PRIMARY KEY, balance numeric NOT NULL, deposits int NOT NULL)'));
  });
  afterAll(async () => {
    await db.close();
    await pg.drop();
  });

  const deposit = (account: string, amount: number): Deposited => ({ type: 'Deposited', data: { account, amount } });

  it('lets exactly one of many concurrent appends at the same version win', async () => {
    await db.transaction((tx) => store.append(tx, 'account-race', [deposit('race', 1)], 0));
    const contenders = 10;
    const results = await Promise.allSettled(
      Array.from({ length: contenders }, (_, i) => db.transaction((tx) => store.append(tx, 'account-race', [deposit('race', i)], 1))),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(contenders - 1);
    for (const l of lost) expect(l.reason).toBeInstanceOf(ExpectedVersionConflictError);
    const { events, version } = await store.readStream('account-race');
    expect(version).toBe(2);
    expect(events.map((e) => e.streamPosition)).toEqual([1, 2]);
  });

  it('reads a stream in order with its version, and an absent stream as version 0', async () => {
    await db.transaction((tx) => store.append(tx, 'account-order', [deposit('order', 1), deposit('order', 2)], 0));
    await db.transaction((tx) => store.append(tx, 'account-order', [deposit('order', 3)], 'any'));
    const { events, version } = await store.readStream<Deposited>('account-order');
    expect(events.map((e) => e.data.amount)).toEqual([1, 2, 3]);
    expect(version).toBe(3);
    expect(await store.readStream('nope')).toEqual({ events: [], version: 0 });
  });

  it('upcasts events stored with an older schema version', async () => {
    await db.session((sql) =>
      sql.exec(
        `INSERT INTO events (stream_id, stream_position, event_id, type, schema_version, data)
         VALUES ('account-old', 1, gen_random_uuid(), 'Deposited', 1, '{"account":"old","cents":250}')`,
      ),
    );
    const { events } = await store.readStream<Deposited>('account-old');
    expect(events[0]!.data).toEqual({ account: 'old', amount: 2.5 });
    expect(events[0]!.schemaVersion).toBe(1);
  });

  it('never lets a global reader skip an event that commits after a later-numbered one', async () => {
    const before = await store.readAll(START, 10_000);
    const cursor = { transactionId: before.at(-1)!.transactionId, globalPosition: before.at(-1)!.globalPosition };

    // A takes a lower global position and stays open; B takes a higher one and commits.
    let releaseA!: () => void;
    const aHolds = new Promise<void>((r) => (releaseA = r));
    let aInserted!: () => void;
    const aHasInserted = new Promise<void>((r) => (aInserted = r));
    const a = db.transaction(async (tx) => {
      await store.append(tx, 'account-slow', [deposit('slow', 1)], 0);
      aInserted();
      await aHolds;
    });
    await aHasInserted;
    await db.transaction((tx) => store.append(tx, 'account-fast', [deposit('fast', 1)], 0));

    // While A is open, B must not be visible either: reading it would move a checkpoint past A.
    expect(await store.readAll(cursor)).toEqual([]);
    releaseA();
    await a;
    const after = await store.readAll(cursor);
    expect(after.map((e) => e.streamId)).toEqual(['account-slow', 'account-fast']);
  });

  it('writes an outbox of any size in one transaction (a rollout to ten thousand agents)', async () => {
    const before = Number((await db.session((sql) => sql.one<{ n: string }>('SELECT count(*) AS n FROM outbox')))!.n);
    await db.transaction((tx) =>
      store.enqueue(
        tx,
        Array.from({ length: 10_000 }, (_, i) => ({ routingKey: 'work', type: 'target', payload: { agentId: `a-${i}` } })),
      ),
    );
    const after = Number((await db.session((sql) => sql.one<{ n: string }>('SELECT count(*) AS n FROM outbox')))!.n);
    expect(after - before).toBe(10_000);
  });

  it('remembers handled message ids so a redelivery is skipped', async () => {
    const first = await db.transaction((tx) => store.markProcessed(tx, 'c1', 'm-1'));
    const again = await db.transaction((tx) => store.markProcessed(tx, 'c1', 'm-1'));
    const otherConsumer = await db.transaction((tx) => store.markProcessed(tx, 'c2', 'm-1'));
    expect([first, again, otherConsumer]).toEqual([true, false, true]);
  });

  it('rebuilds a projection from zero to exactly the live read model', async () => {
    const runner = new ProjectionRunner(store, [balances], { batchSize: 7 });
    // Concurrent writers while the projection runs live.
    runner.start();
    const appendRetrying = async (stream: string, events: Deposited[]): Promise<void> => {
      for (;;) {
        try {
          await db.transaction((tx) => store.append(tx, stream, events, 'any'));
          return;
        } catch (err) {
          if (!(err instanceof ExpectedVersionConflictError)) throw err;
        }
      }
    };
    await Promise.all(Array.from({ length: 20 }, (_, i) => appendRetrying(`account-p${i % 4}`, [deposit(`p${i % 4}`, i + 1), deposit(`p${i % 4}`, 100)])));
    await runner.stop();
    await runner.catchUp();
    const snapshot = () => db.session((sql) => sql.rows('SELECT account, balance::text, deposits FROM balances ORDER BY account'));
    const live = await snapshot();
    const all = await store.readAll(START, 100_000);
    expect(live.find((r) => r.account === 'p0')).toEqual({ account: 'p0', balance: String(5 * 100 + 1 + 5 + 9 + 13 + 17), deposits: 10 });
    expect((live as Array<{ deposits: number }>).reduce((n, r) => n + r.deposits, 0)).toBe(all.length);

    await runner.rebuild('balances');
    expect(await snapshot()).toEqual(live);
    expect(await runner.lag()).toEqual({ balances: 0 });
  });

  it('reads in the order of transaction ids as numbers, also across a power of ten (999 before 1000)', async () => {
    // Rows as transactions 999 and 1000 would have written them (the one with 1000 inserted first).
    await db.session(async (sql) => {
      await sql.exec(
        `INSERT INTO events (transaction_id, stream_id, stream_position, event_id, type, data)
         VALUES ('1000', 'order-b', 1, gen_random_uuid(), 'Noted', '{"n":"b","ids":["x"]}'),
                ('999', 'order-a', 1, gen_random_uuid(), 'Noted', '{"n":"a","ids":["x"]}')`,
      );
    });
    const all = (await store.readAll(START, 10_000)).filter((e) => e.streamId.startsWith('order-'));
    expect(all.map((e) => e.streamId)).toEqual(['order-a', 'order-b']);
    // Read in pages of one from just before them, nothing is skipped or read twice.
    const first = (await store.readAll(START, 10_000)).find((e) => e.streamId === 'order-a')!;
    const [next] = await store.readAll({ transactionId: String(BigInt(first.transactionId) - 1n), globalPosition: '9223372036854775807' }, 1);
    expect(next?.streamId).toBe('order-a');
    const [after] = await store.readAll({ transactionId: first.transactionId, globalPosition: first.globalPosition }, 1);
    expect(after?.streamId).toBe('order-b');
    const withMentions = await store.readStreamWithMentions('order-b', { type: 'Noted', field: 'ids', value: 'x' });
    expect(withMentions.map((e) => e.streamId)).toEqual(['order-a', 'order-b']);
  });
});
