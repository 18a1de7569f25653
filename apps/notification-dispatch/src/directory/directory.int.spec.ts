import { randomUUID } from 'node:crypto';
import type { AgentChanged, AgentConnected, AgentDisconnected } from '@herald/contracts';
import { Database } from '@herald/event-store';
import { type TestDatabase, createTestDatabase } from '@herald/testing';
import { DISPATCH_MIGRATIONS } from '../migrations';
import { Directory } from './directory';

jest.setTimeout(60_000);

const envelope = () => ({ schemaVersion: 1 as const, messageId: randomUUID(), occurredAt: new Date().toISOString() });
const facts = { hostname: 'h', independentMode: false, independentPrivilege: false, components: [{ type: 'virus-pattern', version: '1.0' }], labels: { site: 'paris' } };
const connected = (agentId: string, sequence: number): AgentConnected => ({ type: 'agent.connected', ...envelope(), agentId, sequence, ...facts, bootId: 'b', returning: false, via: 'hello' });
const disconnected = (agentId: string, sequence: number): AgentDisconnected => ({ type: 'agent.disconnected', ...envelope(), agentId, sequence, reason: 'goodbye' });
const changed = (agentId: string, sequence: number, online: boolean, version: string, labels: Record<string, string> = facts.labels): AgentChanged => ({
  type: 'agent.changed',
  ...envelope(),
  agentId,
  sequence,
  ...facts,
  components: [{ type: 'virus-pattern', version }],
  labels,
  online,
});

describe("dispatch's directory of agents, from events that arrive out of order", () => {
  let pg: TestDatabase;
  let db: Database;
  const directory = new Directory();

  beforeAll(async () => {
    pg = await createTestDatabase('directory');
    db = await Database.open({
      url: pg.url,
      schema: 'notification_dispatch',
      migrations: DISPATCH_MIGRATIONS,
    });
  });
  afterAll(async () => {
    await db.close();
    await pg.drop();
  });

  const apply = (e: AgentConnected | AgentDisconnected | AgentChanged) => db.transaction((tx) => directory.applyAgentEvent(tx, e));
  const agent = (id: string) => db.session((sql) => directory.agent(sql, id));

  it('keeps an agent offline when its disconnect is handled before the connect it follows, and takes the facts of the connect', async () => {
    expect(await apply(disconnected('late-connect', 2))).toBe(true);
    expect(await apply(connected('late-connect', 1))).toBe(false); // not online by this connection: no R2
    expect(await agent('late-connect')).toEqual({ agentId: 'late-connect', online: false, independentMode: false, independentPrivilege: false, components: facts.components, labels: facts.labels });
  });

  it('applies events in order as before: connected, then offline, then back', async () => {
    expect(await apply(connected('in-order', 1))).toBe(true);
    expect(await apply(disconnected('in-order', 2))).toBe(true);
    expect((await agent('in-order'))!.online).toBe(false);
    expect(await apply(connected('in-order', 3))).toBe(true);
    expect((await agent('in-order'))!.online).toBe(true);
  });

  it('ignores a redelivered or older event entirely, and keeps the newest facts', async () => {
    await apply(connected('facts', 1));
    await apply(changed('facts', 3, true, '2.0'));
    expect(await apply(changed('facts', 2, false, '1.5'))).toBe(false);
    expect(await apply(connected('facts', 1))).toBe(false);
    expect(await agent('facts')).toMatchObject({ online: true, components: [{ type: 'virus-pattern', version: '2.0' }] });
  });

  it("keeps the labels of the newest fact, for bulk actions and canary groups to select by", async () => {
    const labels = async (id: string) => (await db.session((sql) => sql.one<{ labels: unknown }>('SELECT labels FROM directory_agents WHERE agent_id = $1', [id])))!.labels;
    await apply(connected('labelled', 1));
    expect(await labels('labelled')).toEqual({ site: 'paris' });
    await apply(changed('labelled', 3, true, '1.0', { site: 'lyon', ring: 'canary' }));
    await apply(changed('labelled', 2, true, '1.0', { site: 'nice' }));
    expect(await labels('labelled')).toEqual({ site: 'lyon', ring: 'canary' });
  });
});
