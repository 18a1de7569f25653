import type { Decider } from '@herald/domain';
import { CommandHandler, Database, EventStore, ExpectedVersionConflictError } from '@herald/event-store';
import { type TestDatabase, createTestDatabase } from '@herald/testing';

jest.setTimeout(60_000);

/** A counter per stream that refuses to go above a limit: enough to see decisions build on each other. */
type Counted = { type: 'Counted'; data: { by: number } };
type Count = { type: 'Count'; by: number; limit: number };
const counter: Decider<number, Count, Counted> = {
  initialState: () => 0,
  evolve: (n, e) => n + e.data.by,
  decide: (c, n) => (n + c.by > c.limit ? [] : [{ type: 'Counted', data: { by: c.by } }]),
};

describe('deciding on many streams in one transaction', () => {
  let pg: TestDatabase;
  let db: Database;
  let store: EventStore;
  let commands: CommandHandler;

  beforeAll(async () => {
    pg = await createTestDatabase('batch');
    db = await Database.open({ url: pg.url, schema: 'batch_test', poolSize: 10 });
    store = new EventStore(db);
    commands = new CommandHandler(store);
  });
  afterAll(async () => {
    await db.close();
    await pg.drop();
  });

  const total = async (stream: string) => (await store.readStream<Counted>(stream)).events.reduce((n, e) => n + e.data.by, 0);

  it('decides each command on the state the earlier ones left, and appends every stream in one go', async () => {
    await db.transaction((tx) => store.append(tx, 'c-a', [{ type: 'Counted', data: { by: 5 } }], 0));
    const { result, streams } = await commands.transaction((tx) =>
      commands.batchIn(tx, counter, ['c-a', 'c-b', 'c-c'], (b) => {
        b.decide('c-a', { type: 'Count', by: 4, limit: 10 }); // 9
        b.decide('c-a', { type: 'Count', by: 4, limit: 10 }); // 13 > 10: nothing
        b.decide('c-b', { type: 'Count', by: 1, limit: 10 }, { correlationId: 'r-1' });
        b.decide('c-b', { type: 'Count', by: 2, limit: 10 });
        return [b.state('c-a'), b.state('c-b'), b.state('c-c')];
      }),
    );
    expect(result).toEqual([9, 3, 0]);
    expect(streams.map((s) => [s.streamId, s.before, s.after, s.events.map((e) => e.streamPosition)])).toEqual([
      ['c-a', 5, 9, [2]],
      ['c-b', 0, 3, [1, 2]],
    ]);
    expect(streams[1]!.events[0]!.metadata).toEqual({ correlationId: 'r-1' });
    expect([await total('c-a'), await total('c-b'), (await store.readStream('c-c')).version]).toEqual([9, 3, 0]);
  });

  it('writes nothing when one of the streams moved on meanwhile, and decides again from the new state when retried', async () => {
    await db.transaction((tx) => store.append(tx, 'c-x', [{ type: 'Counted', data: { by: 1 } }], 0));
    let runs = 0;
    let interfere = true;
    await commands.transaction((tx) =>
      commands.batchIn(tx, counter, ['c-x', 'c-y'], async (b) => {
        runs++;
        b.decide('c-x', { type: 'Count', by: 5, limit: 6 });
        b.decide('c-y', { type: 'Count', by: 1, limit: 6 });
        if (interfere) {
          interfere = false;
          // Another writer appends to c-x after this batch read it.
          await db.transaction((other) => store.append(other, 'c-x', [{ type: 'Counted', data: { by: 3 } }], 1));
        }
      }),
    );
    expect(runs).toBe(2);
    // Retried on 1 + 3 = 4: 4 + 5 > 6, so c-x is left alone; c-y was written once, not twice.
    expect([await total('c-x'), await total('c-y')]).toEqual([4, 1]);
  });

  it('reports the stream that moved on', async () => {
    await db.transaction((tx) => store.append(tx, 'c-z', [{ type: 'Counted', data: { by: 1 } }], 0));
    const stale = db.transaction((tx) => store.appendMany(tx, [{ streamId: 'c-z', events: [{ type: 'Counted', data: { by: 1 } }], expectedVersion: 0 }]));
    await expect(stale).rejects.toBeInstanceOf(ExpectedVersionConflictError);
    await expect(stale).rejects.toMatchObject({ streamId: 'c-z' });
  });

  it('remembers many handled message ids at once and tells which were new', async () => {
    await db.transaction((tx) => store.markProcessedMany(tx, 'batch', ['m-1', 'm-2']));
    const fresh = await db.transaction((tx) => store.markProcessedMany(tx, 'batch', ['m-2', 'm-3', 'm-3', 'm-4']));
    expect([...fresh].sort()).toEqual(['m-3', 'm-4']);
  });
});
