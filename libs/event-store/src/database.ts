import type { EventEmitter } from 'node:events';
import { Client } from 'pg';
import { backoffDelay, redactUrl } from '@herald/common';
import { DataSource, type MigrationInterface } from 'typeorm';
import { Sql, type Tx } from './sql';
import { EventStore1764230400000 } from './migrations/1764230400000-event-store';

export type MigrationClass = new () => MigrationInterface;

export interface DatabaseOptions {
  /** postgres://user:pass@host:port/database; the database is created if missing. */
  url: string;
  /** The service's own schema; created if missing, and first on the search path. */
  schema: string;
  /** The service's own migrations, run after the event store's. */
  migrations?: MigrationClass[];
  poolSize?: number;
  /** Keep retrying an unreachable server for this long at start (a database still booting). */
  connectTimeoutMs?: number;
  applicationName?: string;
  /** Told of each failed attempt at start, in one line: which server, why, when the next try is. */
  logger?: { warn(obj: object, msg?: string): void };
}

/** PostgreSQL cannot be reached or used; the message names the server without its password. */
export class DatabaseUnavailableError extends Error {
  override name = 'DatabaseUnavailableError';
}

/**
 * Errors worth another try at start: the server is not there yet, is starting or shutting down
 * (57P01-57P03), or is out of connection slots (53300).
 */
const RETRYABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', '57P01', '57P02', '57P03', '53300']);

/**
 * True when `err` says PostgreSQL cannot be used right now (not there, starting or shutting down,
 * out of connections, the connection cut): a request that failed so can be tried again later.
 * TypeORM keeps the driver's error in `driverError`.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  if (err instanceof DatabaseUnavailableError) return true;
  for (let e = err as { code?: unknown; message?: unknown; driverError?: unknown } | undefined, depth = 0; e && depth < 3; e = e.driverError as typeof e, depth++) {
    if (typeof e.code === 'string' && RETRYABLE.has(e.code)) return true;
    // pg's own words for a connection that died (no SQLSTATE): cut, timed out, or broken by an earlier error.
    if (typeof e.message === 'string' && /^(Connection terminated( unexpectedly| due to connection timeout)?|Client has encountered a connection error and is not queryable)$/.test(e.message)) return true;
  }
  return false;
}

/**
 * One service's PostgreSQL: a TypeORM data source whose connections all use the service's
 * schema, migrated under an advisory lock so several instances can start together.
 */
export class Database {
  private constructor(
    readonly dataSource: DataSource,
    readonly schema: string,
  ) {}

  static async open(options: DatabaseOptions): Promise<Database> {
    assertIdentifier(options.schema);
    await ensureDatabaseAndSchema(options);
    const dataSource = new DataSource({
      type: 'postgres',
      url: options.url,
      applicationName: options.applicationName ?? options.schema,
      poolSize: options.poolSize ?? 10,
      extra: { options: `-c search_path=${options.schema}` },
      migrations: [EventStore1764230400000, ...(options.migrations ?? [])],
      migrationsTableName: 'migrations',
      migrationsTransactionMode: 'each',
      synchronize: false,
      logging: false,
    });
    await dataSource.initialize();
    guardPooledClients(dataSource, options.logger);
    const db = new Database(dataSource, options.schema);
    try {
      await db.migrate(options.url);
    } catch (err) {
      await dataSource.destroy();
      throw err;
    }
    return db;
  }

  private async migrate(url: string): Promise<void> {
    // A session-level advisory lock on a connection of its own: only one instance migrates at a time.
    const lock = new Client({ connectionString: url });
    await lock.connect();
    try {
      await lock.query('SELECT pg_advisory_lock(hashtext($1))', [`herald:migrations:${this.schema}`]);
      await this.dataSource.runMigrations({ transaction: 'each' });
    } finally {
      await lock.end();
    }
  }

  /** Runs `fn` in one transaction; commits when it resolves, rolls back when it throws. */
  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      try {
        const sql = new Sql(runner, true);
        const result = await fn(sql);
        await runner.commitTransaction();
        sql.runCommitHooks();
        return result;
      } catch (err) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw lostConnection(runner, err);
      }
    } finally {
      await runner.release();
    }
  }

  /**
   * Runs `fn` as a read-only transaction that sees one snapshot of the database (REPEATABLE
   * READ): every statement in it reads the same data. For reads made of several statements that
   * must agree, like a page of a list and its total: read apart, a change committed between them
   * shows a total of 1 beside an empty page.
   */
  async snapshot<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction('REPEATABLE READ');
      try {
        const sql = new Sql(runner, true);
        await sql.exec('SET TRANSACTION READ ONLY');
        const result = await fn(sql);
        await runner.commitTransaction();
        return result;
      } catch (err) {
        if (runner.isTransactionActive) await runner.rollbackTransaction().catch(() => undefined);
        throw lostConnection(runner, err);
      }
    } finally {
      await runner.release();
    }
  }

  /** Runs `fn` on one connection without an explicit transaction (each statement commits). */
  async session<T>(fn: (sql: Sql) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    try {
      return await fn(new Sql(runner, false));
    } catch (err) {
      throw lostConnection(runner, err);
    } finally {
      await runner.release();
    }
  }

  async isHealthy(): Promise<boolean> {
    try {
      await this.session((sql) => sql.rows('SELECT 1'));
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
  }
}

/**
 * TypeORM releases a query runner whose connection failed (a server gone between two queries),
 * and every later query says only "already released": told as PostgreSQL being unavailable.
 */
function lostConnection(runner: { isReleased: boolean }, err: unknown): unknown {
  if (!runner.isReleased || isDatabaseUnavailable(err)) return err;
  return new DatabaseUnavailableError(`the PostgreSQL connection ended during the work (${describe(err)})`);
}

/**
 * pg-pool listens for errors of idle clients only: a client checked out (a transaction waiting on
 * the broker, say) whose server goes away between two queries emits 'error' with no listener,
 * which kills the process. Every pooled client gets a listener for its whole life; the client is
 * broken after such an error, its next query fails (and the caller's retry takes another), and
 * the pool drops it when it comes back.
 */
function guardPooledClients(dataSource: DataSource, logger: DatabaseOptions['logger']): void {
  const pool = (dataSource.driver as unknown as { master?: EventEmitter }).master;
  if (!pool) throw new Error('no connection pool on the PostgreSQL driver');
  const guarded = new WeakSet<EventEmitter>();
  const guard = (client: EventEmitter) => {
    if (guarded.has(client)) return;
    guarded.add(client);
    client.on('error', (err: Error) => logger?.warn({ err: describe(err) }, `a PostgreSQL connection failed: ${describe(err)}`));
  };
  // 'connect' for clients made from now on, 'acquire' for any made before (during initialize).
  pool.on('connect', guard);
  pool.on('acquire', guard);
}

function assertIdentifier(name: string): void {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid schema name ${JSON.stringify(name)}`);
}

async function ensureDatabaseAndSchema(options: DatabaseOptions): Promise<void> {
  const started = Date.now();
  const deadline = started + (options.connectTimeoutMs ?? 120_000);
  for (let attempt = 1; ; attempt++) {
    try {
      await connectAndCreate(options);
      return;
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      const delay = backoffDelay(attempt, { initialMs: 200, maxMs: 5_000 });
      if (!RETRYABLE.has(code) || Date.now() + delay > deadline) {
        const waited = RETRYABLE.has(code) ? ` (gave up after ${Math.round((Date.now() - started) / 1000)} s, STARTUP_TIMEOUT_MS)` : '';
        throw new DatabaseUnavailableError(`cannot use PostgreSQL at ${redactUrl(options.url)}: ${describe(err)}${waited}`);
      }
      options.logger?.warn(
        { attempt, delayMs: delay, err: describe(err) },
        `cannot use PostgreSQL at ${redactUrl(options.url)}: ${describe(err)}; next try in ${(delay / 1000).toFixed(1)} s`,
      );
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function connectAndCreate(options: DatabaseOptions): Promise<void> {
  const client = new Client({ connectionString: options.url });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    if ((err as { code?: string }).code !== '3D000') throw err;
    await createDatabase(options.url);
    return connectAndCreate(options);
  }
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${options.schema}`).catch((err: { code?: string }) => {
      // Two instances creating the schema at once: the loser sees a unique violation; the schema exists.
      if (err.code !== '23505' && err.code !== '42P06') throw err;
    });
  } finally {
    await client.end();
  }
}

async function createDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  if (!/^[A-Za-z0-9_-]{1,63}$/.test(name)) throw new Error(`refusing to create a database named ${JSON.stringify(name)}`);
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const client = new Client({ connectionString: maintenance.toString() });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code !== '42P04' && code !== '23505') throw err; // created by a sibling meanwhile
  } finally {
    await client.end();
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string; errors?: Array<{ message: string }> };
  // Node reports a refused dual-stack connect as an AggregateError with an empty message.
  const message = e.message || e.errors?.map((x) => x.message).join('; ') || String(err);
  return e.code && !message.includes(e.code) ? `${e.code} ${message}` : message;
}
