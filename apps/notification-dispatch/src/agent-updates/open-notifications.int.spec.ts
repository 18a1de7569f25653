import { randomUUID } from 'node:crypto';
import { Database } from '@herald/event-store';
import { type TestDatabase, createTestDatabase } from '@herald/testing';
import { DISPATCH_MIGRATIONS } from '../migrations';
import type { AgentUpdateState, OpenNotification } from './agent-updates.decider';
import { OpenNotifications } from './open-notifications';

jest.setTimeout(60_000);

/** An agent state with a notification open in `phase` after `attempt` attempts. */
function stateOf(notificationId: string, phase: OpenNotification['phase'], attempt: number, rolloutIds: Array<string | null> = [null]): AgentUpdateState {
  return {
    open: {
      notificationId,
      rolloutIds,
      trigger: 'download',
      target: [],
      policy: { resendIntervalMs: 1000, maxAttempts: 3, ackTimeoutMs: 1000, reportTimeoutMs: 1000, scanAfterUpdate: false },
      phase,
      attempt,
      roundStart: 1,
      acknowledgedAttempt: null,
      sent: null,
      ackDeadlineAt: phase === 'awaiting-ack' ? new Date().toISOString() : null,
      reportDeadlineAt: null,
      resendDueAt: null,
      failures: 0,
      correlationId: undefined,
    },
    lastNotificationId: notificationId,
    pendingScans: {},
    skippedOnReconnect: null,
  };
}

/** The open-notifications table: rollouts of each (for an abort), and attempts left with no way forward. */
describe('open notifications', () => {
  let pg: TestDatabase;
  let db: Database;
  const open = new OpenNotifications();

  beforeAll(async () => {
    pg = await createTestDatabase('open_notifications');
    db = await Database.open({ url: pg.url, schema: 'notification_dispatch', migrations: DISPATCH_MIGRATIONS });
  });
  afterAll(async () => {
    await db.close();
    await pg.drop();
  });

  it('finds the agents whose open notification works for a rollout', async () => {
    const [r1, r2] = [randomUUID(), randomUUID()];
    await db.transaction((tx) =>
      open.sync(tx, [
        { agentId: 'r-a', state: stateOf(randomUUID(), 'awaiting-ack', 1, [r1]) },
        { agentId: 'r-b', state: stateOf(randomUUID(), 'sending', 0, [null, r1, r2]) },
        { agentId: 'r-c', state: stateOf(randomUUID(), 'sending', 0, [r2]) },
      ]),
    );
    expect(await db.transaction((tx) => open.ofRollout(tx, r1))).toEqual(['r-a', 'r-b']);
    expect(await db.transaction((tx) => open.ofRollout(tx, r2))).toEqual(['r-b', 'r-c']);
  });

  it('finds an attempt to send that has had no slot, no place in line and no hold for long, and only that', async () => {
    const ids = Object.fromEntries(['orphan', 'waiting', 'held', 'recent', 'sent'].map((k) => [k, randomUUID()]));
    await db.transaction(async (tx) => {
      await open.sync(tx, [
        { agentId: 'o-orphan', state: stateOf(ids.orphan!, 'sending', 2) },
        { agentId: 'o-waiting', state: stateOf(ids.waiting!, 'sending', 0) },
        { agentId: 'o-held', state: stateOf(ids.held!, 'sending', 0) },
        { agentId: 'o-recent', state: stateOf(ids.recent!, 'sending', 0) },
        { agentId: 'o-sent', state: stateOf(ids.sent!, 'awaiting-ack', 1) },
      ]);
      await tx.exec(`UPDATE open_notifications SET phase_since = now() - interval '5 minutes' WHERE agent_id LIKE 'o-%' AND agent_id <> 'o-recent'`);
      await tx.exec(`INSERT INTO in_flight_waiting (agent_id, notification_id, attempt) VALUES ('o-waiting', $1, 1)`, [ids.waiting]);
      await tx.exec(`INSERT INTO held_attempts (agent_id, notification_id, attempt, rollout_ids) VALUES ('o-held', $1, 1, ARRAY[$2::uuid])`, [ids.held, randomUUID()]);
    });
    expect(await db.transaction((tx) => open.orphanedSends(tx, 60, 100))).toEqual([{ agentId: 'o-orphan', notificationId: ids.orphan, attempt: 3 }]);

    // The same phase again keeps its time; a new attempt, phase or notification starts it anew.
    await db.transaction((tx) => open.sync(tx, [{ agentId: 'o-orphan', state: stateOf(ids.orphan!, 'sending', 2) }]));
    expect((await db.transaction((tx) => open.orphanedSends(tx, 60, 100))).map((o) => o.agentId)).toEqual(['o-orphan']);
    await db.transaction((tx) => open.sync(tx, [{ agentId: 'o-orphan', state: stateOf(ids.orphan!, 'sending', 3) }]));
    expect(await db.transaction((tx) => open.orphanedSends(tx, 60, 100))).toEqual([]);
  });
});
