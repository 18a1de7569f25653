import { versionKey } from '@herald/contracts';
import { Database } from '@herald/event-store';
import { type TestDatabase, createTestDatabase } from '@herald/testing';
import { AgentDirectory } from './agent-directory';
import { PRESENCE_MIGRATIONS } from '../migrations';

jest.setTimeout(60_000);

/** The agent list at fleet size: natural order, pages that add up, search and filters. */
describe('agent directory list', () => {
  let pg: TestDatabase;
  let db: Database;
  let directory: AgentDirectory;
  const N = 2_500;

  beforeAll(async () => {
    pg = await createTestDatabase('agent_directory');
    db = await Database.open({ url: pg.url, schema: 'agent_presence', migrations: PRESENCE_MIGRATIONS });
    directory = new AgentDirectory(db);
    // sim-1 … sim-2500 (every third offline, every tenth on pattern 2.0, the rest on 1.0), one odd id.
    await db.transaction(async (tx) => {
      const ids = [...Array.from({ length: N }, (_, i) => `sim-${i + 1}`), 'lab_50%'];
      await tx.exec(
        `INSERT INTO agents (agent_id, hostname, agent_version, boot_id, online, independent_mode, first_seen_at, last_connected_at, last_seen_at, sequence)
         SELECT id, id || '.example.org', '1.0.0', 'b', n % 3 <> 0, false, now(), now(), now(), 1 FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n)`,
        [ids],
      );
      const version = (i: number) => ((i + 1) % 10 === 0 ? '2.0' : '1.0');
      await tx.exec(
        `INSERT INTO agent_components (agent_id, component_type, version, version_key)
         SELECT id, 'virus-pattern', v, CASE v WHEN '2.0' THEN $3::int[] ELSE $4::int[] END FROM unnest($1::text[], $2::text[]) AS t(id, v)`,
        [ids, ids.map((_, i) => version(i)), versionKey('2.0'), versionKey('1.0')],
      );
      await tx.exec(`INSERT INTO latest_components (component_type, version, version_key) VALUES ('virus-pattern', '2.0', $1)`, [versionKey('2.0')]);
    });
  });
  afterAll(async () => {
    await db.close();
    await pg.drop();
  });

  it('lists in natural order, and its pages add up to the whole fleet with none twice', async () => {
    const first = await directory.list({ limit: 12, offset: 0 });
    expect(first.total).toBe(N + 1);
    expect(first.agents.map((a) => a.agentId)).toEqual(['lab_50%', 'sim-1', 'sim-2', 'sim-3', 'sim-4', 'sim-5', 'sim-6', 'sim-7', 'sim-8', 'sim-9', 'sim-10', 'sim-11']);
    const seen = new Set<string>();
    for (let offset = 0; offset < N + 1; offset += 1000) for (const a of (await directory.list({ limit: 1000, offset })).agents) seen.add(a.agentId);
    expect(seen.size).toBe(N + 1);
  });

  it('searches by part of the id or hostname, any case, taking % and _ literally', async () => {
    const hits = await directory.list({ q: 'SIM-25', limit: 100, offset: 0 });
    expect(hits.agents.map((a) => a.agentId)).toEqual(['sim-25', ...Array.from({ length: 10 }, (_, i) => `sim-${250 + i}`), 'sim-2500']);
    expect(hits.total).toBe(hits.agents.length);
    expect((await directory.list({ q: '50%', limit: 10, offset: 0 })).agents.map((a) => a.agentId)).toEqual(['lab_50%']);
    expect((await directory.list({ q: 'b_5', limit: 10, offset: 0 })).agents.map((a) => a.agentId)).toEqual(['lab_50%']);
    expect((await directory.list({ q: 'sim_1', limit: 10, offset: 0 })).total).toBe(0);
    expect((await directory.list({ q: 'example.org', limit: 1, offset: 0 })).total).toBe(N + 1);
  });

  it('filters by status, outdatedness, component and version together', async () => {
    const onTwo = await directory.list({ component: 'virus-pattern', version: '2.0', limit: 1000, offset: 0 });
    expect(onTwo.total).toBe(N / 10);
    expect(onTwo.agents.every((a) => a.components[0]!.version === '2.0' && !a.outdated)).toBe(true);
    expect((await directory.list({ outdated: true, limit: 1, offset: 0 })).total).toBe(N + 1 - N / 10);
    const offlineOutdated = await directory.list({ status: 'offline', outdated: true, limit: 1000, offset: 0 });
    expect(offlineOutdated.agents.every((a) => a.status === 'offline' && a.outdated)).toBe(true);
    // The n-th agent is offline when n is a multiple of 3, and outdated unless n is a multiple of 10.
    expect(offlineOutdated.total).toBe(Array.from({ length: N + 1 }, (_, i) => i + 1).filter((n) => n % 3 === 0 && n % 10 !== 0).length);
    expect((await directory.list({ component: 'scan-engine', limit: 1, offset: 0 })).total).toBe(0);
  });
});
