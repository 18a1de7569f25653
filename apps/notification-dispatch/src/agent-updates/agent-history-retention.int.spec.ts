import { randomUUID } from 'node:crypto';
import type { PinoLogger } from 'nestjs-pino';
import { Database, EventStore } from '@herald/event-store';
import { type TestDatabase, createTestDatabase } from '@herald/testing';
import type { NotificationDispatchConfig } from '../config';
import { DISPATCH_MIGRATIONS } from '../migrations';
import { AgentHistoryRetention } from './agent-history-retention.service';
import { agentUpdatesDecider, agentUpdatesStreamId } from './agent-updates.decider';
import type { AgentUpdateEvent, NotificationPolicy } from './agent-updates.events';

jest.setTimeout(60_000);

const DAY = 24 * 3600_000;
const policy: NotificationPolicy = { resendIntervalMs: 1000, maxAttempts: 3, ackTimeoutMs: 1000, reportTimeoutMs: 1000, scanAfterUpdate: true };
const target = (version: string) => ({ type: 'virus-pattern', version, sha256: '0'.repeat(64), size: 1, url: `http://updates.test/virus-pattern/${version}` });
const at = new Date().toISOString();

/** One update, from targeted to `end`: completed (optionally with a scan asked for and done), or left open. */
function update(agentId: string, version: string, end: 'completed' | 'open' | 'scan-pending'): AgentUpdateEvent[] {
  const notificationId = randomUUID();
  const scanId = randomUUID();
  const events: AgentUpdateEvent[] = [
    { type: 'UpdateTargeted', data: { agentId, notificationId, rolloutId: randomUUID(), trigger: 'download', components: [target(version)], policy, at } },
    { type: 'AttemptSent', data: { agentId, notificationId, attempt: 1, commandId: randomUUID(), components: [target(version)], ackDeadlineAt: at, at } },
  ];
  if (end === 'open') return events;
  events.push(
    { type: 'NotificationAcknowledged', data: { agentId, notificationId, attempt: 1, at } },
    { type: 'UpdateCompleted', data: { agentId, notificationId, components: [], installed: [{ type: 'virus-pattern', version }], targetReached: true, at } },
    { type: 'ScanRequested', data: { agentId, notificationId, scanId, at } },
  );
  if (end === 'completed') events.push({ type: 'ScanCompleted', data: { agentId, scanId, outcome: 'clean', threatsFound: 0, at } });
  return events;
}

describe('agent history retention', () => {
  let pg: TestDatabase;
  let db: Database;
  let store: EventStore;
  let retention: AgentHistoryRetention;
  const log = { setContext: () => undefined, warn: () => undefined } as unknown as PinoLogger;

  beforeEach(async () => {
    pg = await createTestDatabase('retention');
    db = await Database.open({
      url: pg.url,
      schema: 'notification_dispatch',
      migrations: DISPATCH_MIGRATIONS,
    });
    store = new EventStore(db);
    const config = { AGENT_HISTORY_RETENTION_MS: 180 * DAY, AGENT_HISTORY_PRUNE_INTERVAL_MS: 3600_000 } as NotificationDispatchConfig;
    retention = new AgentHistoryRetention(config, store, log);
  });
  afterEach(async () => {
    await db.close();
    await pg.drop();
  });

  const record = (agentId: string, events: AgentUpdateEvent[], daysAgo: number) =>
    db.transaction(async (tx) => {
      const recorded = await store.append(tx, agentUpdatesStreamId(agentId), events, 'any');
      await tx.exec(`UPDATE events SET recorded_at = now() - make_interval(days => $2) WHERE event_id = ANY($1::uuid[])`, [recorded.map((e) => e.eventId), daysAgo]);
    });
  const stream = async (agentId: string) => {
    const { events, version } = await store.readStream<AgentUpdateEvent>(agentUpdatesStreamId(agentId));
    return { positions: events.map((e) => e.streamPosition), version, state: events.reduce(agentUpdatesDecider.evolve, agentUpdatesDecider.initialState()) };
  };
  const pruneAll = async () => {
    let deleted = 0;
    for (;;) {
      const pass = await retention.prune();
      deleted += pass.deleted;
      if (!pass.more) return deleted;
    }
  };

  it("deletes old finished updates up to the last moment nothing was open, and keeps each agent's state and version", async () => {
    // a1: two old updates that are over, then one still open: only the open one is kept.
    await record('a1', [...update('a1', '1.1', 'completed'), ...update('a1', '1.2', 'completed')], 200);
    await record('a1', update('a1', '1.3', 'open'), 190);
    // a2: old updates, the last with its scan still pending, then a recent one: cut where that update completed.
    await record('a2', update('a2', '1.1', 'completed'), 200);
    await record('a2', update('a2', '1.2', 'scan-pending'), 199);
    await record('a2', update('a2', '1.3', 'completed'), 2);
    // a3: one old update that is over: its last event is kept (the stream's version), so the cut is
    // where the update completed, before its scan.
    await record('a3', update('a3', '1.1', 'completed'), 200);
    // a4: everything recent.
    await record('a4', [...update('a4', '1.1', 'completed'), ...update('a4', '1.2', 'completed')], 3);
    const before = { a1: await stream('a1'), a2: await stream('a2'), a3: await stream('a3'), a4: await stream('a4') };

    expect(await pruneAll()).toBe(12 + 10 + 4);

    const after = { a1: await stream('a1'), a2: await stream('a2'), a3: await stream('a3'), a4: await stream('a4') };
    expect(after.a1.positions).toEqual([13, 14]);
    expect(after.a2.positions).toEqual([11, 12, 13, 14, 15, 16, 17]);
    expect(after.a3.positions).toEqual([5, 6]);
    expect(after.a4.positions).toEqual(before.a4.positions);
    for (const agent of ['a1', 'a2', 'a3', 'a4'] as const) {
      expect(after[agent].version).toBe(before[agent].version);
      // What decides from here on is kept: the open notification and pending scans. Which
      // notification came last (kept against redeliveries, which never come months late) goes
      // with the history where the whole update is older than the retention.
      const { lastNotificationId: _after, ...decidingAfter } = after[agent].state;
      const { lastNotificationId: _before, ...decidingBefore } = before[agent].state;
      expect(decidingAfter).toEqual(decidingBefore);
    }
    // A second run finds nothing more.
    expect(await pruneAll()).toBe(0);
  });

  it('keeps what a projection has not read yet', async () => {
    await record('a1', [...update('a1', '1.1', 'completed'), ...update('a1', '1.2', 'completed')], 200);
    await db.session((sql) => sql.exec(`INSERT INTO checkpoints (name) VALUES ('behind')`));
    expect(await pruneAll()).toBe(0);
    await db.session((sql) => sql.exec(`UPDATE checkpoints SET (transaction_id, global_position) = (SELECT transaction_id, global_position FROM events ORDER BY transaction_id DESC, global_position DESC LIMIT 1) WHERE name = 'behind'`));
    expect(await pruneAll()).toBe(10);
    expect((await stream('a1')).positions).toEqual([11, 12]);
  });

  it('keeps everything when retention is 0', async () => {
    await record('a1', [...update('a1', '1.1', 'completed'), ...update('a1', '1.2', 'completed')], 2000);
    const config = { AGENT_HISTORY_RETENTION_MS: 0, AGENT_HISTORY_PRUNE_INTERVAL_MS: 3600_000 } as NotificationDispatchConfig;
    const off = new AgentHistoryRetention(config, store, log);
    expect(await off.prune()).toEqual({ streams: 0, deleted: 0, more: false });
    expect((await stream('a1')).positions).toHaveLength(12);
  });
});
