import type { EventEmitter } from 'node:events';
import { Client } from 'pg';
import { Database, isDatabaseUnavailable } from '@herald/event-store';
import { type TestDatabase, createTestDatabase, sleep } from '@herald/testing';

jest.setTimeout(60_000);

/**
 * A connection PostgreSQL ends while a service holds it between two queries (a fast shutdown, a
 * failover, an admin's pg_terminate_backend) must fail that work, not the process: pg emits
 * 'error' on a checked-out client, and with no listener Node exits (notification-dispatch did,
 * in the chaos run's stop-postgres fault).
 */
describe('Database: a connection ended under a held session', () => {
  let pg: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    pg = await createTestDatabase('dbguard');
    db = await Database.open({ url: pg.url, schema: 'guard_test', poolSize: 2 });
  });
  afterAll(async () => {
    await db?.close();
    await pg?.drop();
  });

  const terminate = async (pid: number) => {
    const admin = new Client({ connectionString: pg.url });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    } finally {
      await admin.end();
    }
  };

  it.each([
    ['a session', (fn: Parameters<Database['session']>[0]) => db.session(fn)],
    ['a transaction', (fn: Parameters<Database['session']>[0]) => db.transaction(fn)],
  ])('fails the work in %s, keeps the process, and the pool serves the next one', async (_what, run) => {
    const failed = await run(async (sql) => {
      const [{ pid }] = (await sql.rows<{ pid: number }>('SELECT pg_backend_pid() AS pid')) as [{ pid: number }];
      await terminate(pid);
      // The server's FATAL arrives while no query runs on this connection.
      await sleep(500);
      await sql.rows('SELECT 1');
    }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(Error);
    // Told as PostgreSQL being away, so an HTTP request gets 503 + Retry-After and a handler retries.
    expect(isDatabaseUnavailable(failed)).toBe(true);
    for (let i = 0; i < 3; i++) expect(await db.session((sql) => sql.rows<{ one: number }>('SELECT 1 AS one'))).toEqual([{ one: 1 }]);
  });

  it("survives a connection's error after TypeORM let go of it (the chaos run's crash: 57P01 with no listener)", async () => {
    // TypeORM removes its listener when it releases a runner whose connection failed; pg-pool
    // listens to idle clients only. A FATAL the server sends in between went unheard and threw.
    const runner = db.dataSource.createQueryRunner();
    const client = (await runner.connect()) as EventEmitter;
    await (runner as unknown as { releasePostgresConnection(err: Error): Promise<void> }).releasePostgresConnection(new Error('the connection failed'));
    expect(() => client.emit('error', new Error('terminating connection due to administrator command'))).not.toThrow();
    // A client held straight from the pool, too.
    const pool = (db.dataSource.driver as unknown as { master: { connect(): Promise<EventEmitter & { release(destroy: boolean): void }> } }).master;
    const held = await pool.connect();
    try {
      expect(() => held.emit('error', new Error('terminating connection due to administrator command'))).not.toThrow();
    } finally {
      held.release(true);
    }
    expect(await db.session((sql) => sql.rows<{ one: number }>('SELECT 1 AS one'))).toEqual([{ one: 1 }]);
  });
});

describe('Database: a snapshot', () => {
  let pg: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    pg = await createTestDatabase('dbsnapshot');
    db = await Database.open({ url: pg.url, schema: 'snapshot_test' });
    await db.session((sql) => sql.exec('CREATE TABLE items (id int PRIMARY KEY, pending boolean NOT NULL)'));
  });
  afterAll(async () => {
    await db?.close();
    await pg?.drop();
  });

  it('reads one state of the data in every statement, whatever commits meanwhile (a page and its total agree)', async () => {
    await db.session((sql) => sql.exec('INSERT INTO items VALUES (1, true)'));
    const read = await db.snapshot(async (sql) => {
      const total = await sql.one<{ n: string }>('SELECT count(*) AS n FROM items WHERE pending');
      // Another admin decides, between the count and the page.
      await db.session((other) => other.exec('UPDATE items SET pending = false WHERE id = 1'));
      const page = await sql.rows<{ id: number }>('SELECT id FROM items WHERE pending');
      return { total: Number(total?.n), page: page.map((r) => r.id) };
    });
    expect(read).toEqual({ total: 1, page: [1] });
    // Read again, the change is there; and a snapshot writes nothing.
    expect(await db.snapshot((sql) => sql.rows('SELECT id FROM items WHERE pending'))).toEqual([]);
    await expect(db.snapshot((sql) => sql.exec('DELETE FROM items'))).rejects.toThrow(/read-only transaction/);
  });
});
