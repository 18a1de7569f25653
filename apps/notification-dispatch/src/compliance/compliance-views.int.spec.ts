import { Database } from '@herald/event-store';
import { type TestDatabase, createTestDatabase } from '@herald/testing';
import { versionKey } from '@herald/contracts';
import { DISPATCH_MIGRATIONS } from '../migrations';
import { ComplianceViews, toCsv } from './compliance-views';

jest.setTimeout(60_000);

/*
 * A fleet against what dispatch knows: virus-pattern 1.0 → 1.1 → 1.2 → 1.10 (announced on days
 * 1, 2, 3 and 4; numeric order, so 1.10 is the newest), scan-engine 5 (announced before this
 * dispatch had rollouts). Agents: on 1.10 (up to date), on 1.2 (1 behind since day 4), on 1.0
 * (3 behind since day 2), on 0.9 (older than every rollout: 4 behind since day 1), one on
 * scan-engine 4.
 */
describe('compliance views', () => {
  let pg: TestDatabase;
  let db: Database;
  let views: ComplianceViews;
  const day = (n: number) => new Date(Date.UTC(2026, 10, n, 12));

  beforeAll(async () => {
    pg = await createTestDatabase('compliance');
    db = await Database.open({ url: pg.url, schema: 'notification_dispatch', migrations: DISPATCH_MIGRATIONS });
    views = new ComplianceViews(db);
    await db.transaction(async (tx) => {
      const target = (type: string, version: string) => ({ type, version, sha256: '0'.repeat(64), size: 1, url: `http://u/${type}/${version}` });
      for (const [type, version] of [['virus-pattern', '1.10'], ['scan-engine', '5']] as const) {
        await tx.exec(`INSERT INTO catalog (component_type, version_key, target) VALUES ($1, $2::integer[], $3::jsonb)`, [type, versionKey(version), JSON.stringify(target(type, version))]);
      }
      for (const [i, version] of ['1.0', '1.1', '1.2', '1.10'].entries()) {
        await tx.exec(
          `INSERT INTO rollouts (rollout_id, component_type, version, notify_on_download, include_independent_and_offline, policy, up_to_date, started_at)
           VALUES (gen_random_uuid(), 'virus-pattern', $1, true, false, '{}', 0, $2)`,
          [version, day(i + 1)],
        );
      }
      const agent = async (agentId: string, online: boolean, components: Array<[string, string]>) =>
        tx.exec(
          `INSERT INTO directory_agents (agent_id, online, independent_mode, independent_privilege, components, sequence, online_sequence) VALUES ($1, $2, false, false, $3::jsonb, 1, 1)`,
          [agentId, online, JSON.stringify(components.map(([type, version]) => ({ type, version })))],
        );
      await agent('current', true, [['virus-pattern', '1.10'], ['scan-engine', '5']]);
      await agent('one-behind', true, [['virus-pattern', '1.2']]);
      await agent('three-behind', false, [['virus-pattern', '1.0']]);
      await agent('-oldest', false, [['virus-pattern', '0.9'], ['scan-engine', '4']]);
      await agent('no-components', true, []);
    });
  });
  afterAll(async () => {
    await db.close();
    await pg.drop();
  });

  it('counts agents per component by how many versions behind, and since when', async () => {
    expect(await views.summary()).toEqual([
      {
        componentType: 'scan-engine',
        latest: '5',
        agents: 2,
        upToDate: 1,
        behind: 1,
        byVersionsBehind: [
          { versionsBehind: 0, agents: 1 },
          { versionsBehind: 1, agents: 1 },
        ],
        oldestBehindSince: null,
      },
      {
        componentType: 'virus-pattern',
        latest: '1.10',
        agents: 4,
        upToDate: 1,
        behind: 3,
        byVersionsBehind: [
          { versionsBehind: 0, agents: 1 },
          { versionsBehind: 1, agents: 1 },
          { versionsBehind: 3, agents: 1 },
          { versionsBehind: 4, agents: 1 },
        ],
        oldestBehindSince: day(1),
      },
    ]);
  });

  it('lists agents behind, the longest-waiting first, filtered and paged', async () => {
    const all = await views.behind({ minBehind: 1, limit: 100, offset: 0 });
    expect(all.total).toBe(4);
    expect(all.agents.map((a) => [a.agentId, a.componentType, a.installed, a.versionsBehind, a.behindSince])).toEqual([
      ['-oldest', 'virus-pattern', '0.9', 4, day(1)],
      ['three-behind', 'virus-pattern', '1.0', 3, day(2)],
      ['one-behind', 'virus-pattern', '1.2', 1, day(4)],
      // No rollout of scan-engine 5 here: behind, since unknown.
      ['-oldest', 'scan-engine', '4', 1, null],
    ]);
    expect((await views.behind({ componentType: 'virus-pattern', minBehind: 3, limit: 100, offset: 0 })).agents.map((a) => a.agentId)).toEqual(['-oldest', 'three-behind']);
    const page = await views.behind({ minBehind: 1, limit: 2, offset: 2 });
    expect({ total: page.total, ids: page.agents.map((a) => `${a.agentId}/${a.componentType}`) }).toEqual({ total: 4, ids: ['one-behind/virus-pattern', '-oldest/scan-engine'] });
    expect(await views.behindCounts()).toEqual(expect.arrayContaining([{ componentType: 'virus-pattern', agents: 3 }, { componentType: 'scan-engine', agents: 1 }]));
  });

  it('exports CSV a spreadsheet opens safely', async () => {
    const csv = toCsv((await views.behind({ componentType: 'virus-pattern', minBehind: 1, limit: 100, offset: 0 })).agents);
    expect(csv.split('\r\n')).toEqual([
      'agentId,componentType,installed,latest,versionsBehind,behindSince,online',
      // An id a spreadsheet would read as a formula is escaped.
      `'-oldest,virus-pattern,0.9,1.10,4,${day(1).toISOString()},false`,
      `three-behind,virus-pattern,1.0,1.10,3,${day(2).toISOString()},false`,
      `one-behind,virus-pattern,1.2,1.10,1,${day(4).toISOString()},true`,
      '',
    ]);
  });
});
