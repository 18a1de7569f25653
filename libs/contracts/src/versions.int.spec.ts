import { Client } from 'pg';
import type { TestDatabase} from '@herald/testing';
import { createTestDatabase } from '@herald/testing';
import { compareVersions, versionKey } from './versions';

jest.setTimeout(30_000);

/** Versions whose order is easy to get wrong: missing parts, shared prefixes, 10 after 9. */
const TRICKY = ['0', '0.0.0.1', '1', '1.0', '1.0.0', '1.0.0.0', '1.0.0.1', '1.0.1', '1.1', '1.9', '1.10', '2', '10', '17.9.0', '17.10', '17.10.0.0', '999999999'];

describe('the one version order, in PostgreSQL and in TypeScript', () => {
  let pg: TestDatabase;
  let client: Client;

  beforeAll(async () => {
    pg = await createTestDatabase('versions');
    client = new Client({ connectionString: pg.url });
    await client.connect();
    // As the services store them: the text, and versionKey() in an integer[] column.
    await client.query('CREATE TABLE v (version text PRIMARY KEY, version_key integer[] NOT NULL)');
    for (const version of TRICKY) await client.query('INSERT INTO v VALUES ($1, $2::integer[])', [version, versionKey(version)]);
  });

  afterAll(async () => {
    await client.end();
    await pg.drop();
  });

  it('compares every pair the same way: <, = and > in SQL on the keys, compareVersions in TypeScript', async () => {
    const { rows } = await client.query<{ a: string; b: string; order: number }>(
      `SELECT a.version AS a, b.version AS b,
              CASE WHEN a.version_key < b.version_key THEN -1 WHEN a.version_key = b.version_key THEN 0 ELSE 1 END AS order
         FROM v a CROSS JOIN v b`,
    );
    expect(rows).toHaveLength(TRICKY.length ** 2);
    for (const { a, b, order } of rows) expect({ a, b, order }).toEqual({ a, b, order: compareVersions(a, b) });
  });

  it('sorts by key in the order compareVersions sorts', async () => {
    const { rows } = await client.query<{ version: string; rank: string }>('SELECT version, dense_rank() OVER (ORDER BY version_key) AS rank FROM v');
    const sqlRank = new Map(rows.map((r) => [r.version, Number(r.rank)]));
    const sorted = [...TRICKY].sort(compareVersions);
    for (let i = 1; i < sorted.length; i++) {
      const [before, after] = [sorted[i - 1]!, sorted[i]!];
      expect([before, after, Math.sign(sqlRank.get(after)! - sqlRank.get(before)!)]).toEqual([before, after, compareVersions(after, before)]);
    }
  });

  it('would not agree with the unpadded keys the services stored before, which is why they are padded', async () => {
    const { rows } = await client.query<{ lt: boolean }>(`SELECT string_to_array('1.0', '.')::integer[] < string_to_array('1.0.0', '.')::integer[] AS lt`);
    expect(rows[0]!.lt).toBe(true); // while compareVersions('1.0', '1.0.0') === 0
    expect(compareVersions('1.0', '1.0.0')).toBe(0);
  });
});
