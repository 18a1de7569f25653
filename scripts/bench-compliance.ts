import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { Database } from '@herald/event-store';
import { createTestDatabase } from '@herald/testing';
import { DISPATCH_MIGRATIONS } from '../apps/notification-dispatch/src/migrations';
import { ComplianceViews } from '../apps/notification-dispatch/src/compliance/compliance-views';

/*
 * npm run bench:compliance [-- --agents 100000]
 *
 * What the compliance views cost at fleet size. In a database of its own: N agents reporting
 * three components each (seven versions of one in use, two of another), 30 announced versions
 * of each; then, in this one run, the floor (one pass over every agent's components, nothing
 * else) and each query: the summary, the metric (read at every scrape), a page of agents behind,
 * and every agent behind (the CSV export). Each is run three times; the best is printed, with
 * its ratio to the floor. Last line: `metric-vs-floor: R`.
 */

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { agents: { type: 'string', default: '100000' } } });
  const agents = Number(values.agents);
  if (!Number.isInteger(agents) || agents < 1) throw new Error('--agents is a whole number');
  console.log(`bench:compliance  agents=${agents}  load=${loadavg().map((l) => l.toFixed(2)).join('/')}`);
  const pg = await createTestDatabase('compliance_bench');
  const db = await Database.open({ url: pg.url, schema: 'notification_dispatch', migrations: DISPATCH_MIGRATIONS });
  try {
    await db.transaction(async (tx) => {
      for (const type of ['virus-pattern', 'scan-engine', 'rules']) {
        await tx.exec(`INSERT INTO catalog (component_type, version_key, target) VALUES ($1, '{1,30,0,0}', $2::jsonb)`, [type, JSON.stringify({ type, version: '1.30' })]);
        await tx.exec(
          `INSERT INTO rollouts (rollout_id, component_type, version, notify_on_download, include_independent_and_offline, policy, up_to_date, started_at)
           SELECT gen_random_uuid(), $1, '1.' || g, true, false, '{}', 0, now() - (30 - g) * interval '1 day' FROM generate_series(1, 30) g`,
          [type],
        );
      }
      await tx.exec(
        `INSERT INTO directory_agents (agent_id, online, independent_mode, independent_privilege, components, sequence, online_sequence)
         SELECT 'agent-' || g, g % 3 = 0, false, false,
                jsonb_build_array(jsonb_build_object('type', 'virus-pattern', 'version', '1.' || (30 - g % 7)),
                                  jsonb_build_object('type', 'scan-engine', 'version', '1.' || (30 - g % 2)),
                                  jsonb_build_object('type', 'rules', 'version', '1.30')), 1, 1
           FROM generate_series(1, $1::int) g`,
        [agents],
      );
    });
    await db.session((sql) => sql.exec('ANALYZE'));
    const views = new ComplianceViews(db);
    const best = async (f: () => Promise<unknown>) => {
      let ms = Infinity;
      for (let i = 0; i < 3; i++) {
        const t = process.hrtime.bigint();
        await f();
        ms = Math.min(ms, Number(process.hrtime.bigint() - t) / 1e6);
      }
      return ms;
    };
    const floor = await best(() =>
      db.transaction(async (tx) => {
        await tx.exec('SET LOCAL jit = off');
        return tx.rows('SELECT x.type, count(*) FROM directory_agents d, jsonb_to_recordset(d.components) AS x(type text, version text) GROUP BY x.type');
      }),
    );
    const rows: Array<[string, number]> = [
      ['summary (GET /compliance)', await best(() => views.summary())],
      ['metric (herald_agents_behind)', await best(() => views.behindCounts())],
      ['a page of 100 agents behind', await best(() => views.behind({ minBehind: 1, limit: 100, offset: 0 }))],
      ['every agent behind (CSV)', await best(() => views.behind({ minBehind: 1, limit: 100_000, offset: 0 }))],
    ];
    console.log(`floor: one pass over every agent's components  ${floor.toFixed(0)} ms`);
    for (const [name, ms] of rows) console.log(`${name.padEnd(32)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / floor).toFixed(1)}× the floor`);
    console.log(`metric-vs-floor: ${(rows[1]![1] / floor).toFixed(1)}`);
  } finally {
    await db.close();
    await pg.drop();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`bench:compliance: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
