import { versionKey } from '@herald/contracts';
import type { RecordedEvent } from '@herald/domain';
import { Database } from '@herald/event-store';
import { type TestDatabase, asRecorded, createTestDatabase } from '@herald/testing';
import type { AgentEvent } from './agent.decider';
import { agentsProjection, runs } from './agents.projection';
import { PRESENCE_MIGRATIONS } from '../migrations';

jest.setTimeout(60_000);

const pattern = (version: string) => ({ type: 'virus-pattern', version });
const engine = (version: string) => ({ type: 'scan-engine', version });

/**
 * Three agents, in the order the store hands their events to the projection: each agent's
 * events follow each other closely, so a batch holds the same agent several times (hello,
 * components, goodbye, hello again), which is what the runs must keep in order.
 */
function story(): AgentEvent[] {
  let minute = 0;
  const at = () => new Date(Date.UTC(2026, 10, 30, 10, minute++)).toISOString();
  const hello = (agentId: string, bootId: string, components: ReturnType<typeof pattern>[], agentVersion = '1.0.0', labels?: Record<string, string>): AgentEvent => ({
    type: 'AgentConnected',
    data: { agentId, bootId, hostname: `${agentId}.lan`, agentVersion, independentMode: false, components, ...(labels && { labels }), via: 'hello', restarted: false, returning: false, at: at() },
  });
  return [
    hello('a1', 'b1', [pattern('1.0'), engine('5.0')], '1.0.0', { site: 'paris', os: 'linux' }),
    hello('a2', 'b2', [pattern('1.0')], '1.0.0', { site: 'berlin' }),
    { type: 'AgentLabelsChanged', data: { agentId: 'a1', set: { site: 'lyon', ring: 'canary' }, removed: [], by: 'admin', at: at() } },
    { type: 'AgentLabelsChanged', data: { agentId: 'a2', set: { ring: 'early' }, removed: [], by: 'admin', at: at() } },
    { type: 'AgentComponentsReported', data: { agentId: 'a1', components: [pattern('2.0'), engine('5.0')], at: at() } },
    { type: 'AgentComponentsReported', data: { agentId: 'a2', components: [pattern('2.0')], at: at() } },
    { type: 'AgentDisconnected', data: { agentId: 'a2', reason: 'goodbye', at: at() } },
    hello('a3', 'b3', []),
    { type: 'IndependentPrivilegeChanged', data: { agentId: 'a3', granted: true, by: 'admin', at: at() } },
    { type: 'AgentLabelsChanged', data: { agentId: 'a1', set: {}, removed: ['ring'], by: 'admin', at: at() } },
    { type: 'AgentComponentsReported', data: { agentId: 'a1', components: [pattern('3.0')], at: at() } },
    // a2 comes back after a restart with an agent that does not say its version (the old one is
    // kept) and reports other labels (its own are replaced; the admin's stay over them).
    hello('a2', 'b2-2', [pattern('2.0'), engine('5.1')], '', { os: 'windows' }),
    { type: 'AgentDisconnected', data: { agentId: 'a1', reason: 'heartbeat-timeout', at: at() } },
    { type: 'IndependentPrivilegeChanged', data: { agentId: 'a3', granted: false, by: 'admin', at: at() } },
  ];
}

const recorded = (events: AgentEvent[]) => asRecorded(events, (e) => `agent-${e.data.agentId}`);

describe('agents projection', () => {
  let pg: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    pg = await createTestDatabase('agents_projection');
    db = await Database.open({ url: pg.url, schema: 'agent_presence', migrations: PRESENCE_MIGRATIONS });
  });
  afterAll(async () => {
    await db.close();
    await pg.drop();
  });

  async function replay(events: Array<RecordedEvent<AgentEvent>>, size: number) {
    await db.transaction((tx) => agentsProjection.reset(tx));
    for (let i = 0; i < events.length; i += size) await db.transaction((tx) => agentsProjection.apply(tx, events.slice(i, i + size)));
    return db.session(async (sql) => ({
      agents: await sql.rows(
        `SELECT agent_id, hostname, agent_version, boot_id, online, independent_mode, independent_privilege, first_seen_at,
                last_connected_at, last_disconnected_at, disconnect_reason, last_seen_at, sequence, reported_labels, admin_labels, labels
           FROM agents ORDER BY agent_id`,
      ),
      components: await sql.rows('SELECT agent_id, component_type, version, version_key FROM agent_components ORDER BY agent_id, component_type'),
    }));
  }

  it('keeps the state each agent last reported', async () => {
    const { agents, components } = await replay(recorded(story()), 1);
    expect(agents.map((a) => [a.agent_id, a.online, a.agent_version, a.boot_id, a.independent_privilege, a.disconnect_reason])).toEqual([
      ['a1', false, '1.0.0', 'b1', false, 'heartbeat-timeout'],
      ['a2', true, '1.0.0', 'b2-2', false, 'goodbye'],
      ['a3', true, '1.0.0', 'b3', false, null],
    ]);
    expect(agents.map((a) => [a.agent_id, a.labels, a.admin_labels])).toEqual([
      ['a1', { site: 'lyon', os: 'linux' }, { site: 'lyon' }],
      ['a2', { os: 'windows', ring: 'early' }, { ring: 'early' }],
      ['a3', {}, {}],
    ]);
    expect(components.map((c) => [c.agent_id, c.component_type, c.version, c.version_key])).toEqual([
      ['a1', 'virus-pattern', '3.0', versionKey('3.0')],
      ['a2', 'scan-engine', '5.1', versionKey('5.1')],
      ['a2', 'virus-pattern', '2.0', versionKey('2.0')],
    ]);
  });

  it('comes to the same read model however the events are cut into batches', async () => {
    const events = recorded(story());
    const oneByOne = await replay(events, 1);
    for (const size of [2, 3, 4, 6, events.length]) expect(await replay(events, size)).toEqual(oneByOne);
  });

  it('cuts a batch where the type changes or an agent comes again', () => {
    const e = (type: string, agentId: string) => ({ type, data: { agentId } });
    expect(runs([e('A', '1'), e('A', '2'), e('A', '1'), e('B', '1'), e('B', '3'), e('A', '3')]).map((r) => r.map((x) => x.type + x.data.agentId))).toEqual([
      ['A1', 'A2'],
      ['A1'],
      ['B1', 'B3'],
      ['A3'],
    ]);
  });
});
