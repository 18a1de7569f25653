import type { QueryRunner } from 'typeorm';

/** The one way the event store talks SQL: rows for reads, affected counts for writes. */
export class Sql {
  private readonly commitHooks: Array<() => void> = [];

  constructor(
    private readonly runner: QueryRunner,
    private readonly inTransaction: boolean,
  ) {}

  async rows<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const result = await this.runner.query(sql, params, true);
    return result.records as T[];
  }

  async one<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T | undefined> {
    return (await this.rows<T>(sql, params))[0];
  }

  async exec(sql: string, params: unknown[] = []): Promise<number> {
    const result = await this.runner.query(sql, params, true);
    return result.affected ?? 0;
  }

  /** Runs `hook` once the surrounding transaction has committed (at once outside a transaction). */
  afterCommit(hook: () => void): void {
    if (this.inTransaction) this.commitHooks.push(hook);
    else hook();
  }

  /** @internal called by Database after COMMIT. */
  runCommitHooks(): void {
    for (const hook of this.commitHooks.splice(0)) {
      try {
        hook();
      } catch {
        // A wake-up hook must never turn a committed transaction into an error.
      }
    }
  }
}

/** A unit of work: SQL inside one PostgreSQL transaction. */
export type Tx = Sql;
