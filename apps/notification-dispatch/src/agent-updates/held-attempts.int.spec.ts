import { randomUUID } from 'node:crypto';
import { Database } from '@herald/event-store';
import { type TestDatabase, createTestDatabase } from '@herald/testing';
import { DISPATCH_MIGRATIONS } from '../migrations';
import { type HeldAttempt, HeldAttempts } from './held-attempts';

jest.setTimeout(60_000);

/**
 * What holds an attempt: a paused rollout it works for, or a rollout in its canary phase when the
 * agent is outside the group; and what a release lets go (nothing another rollout still holds).
 */
describe('held attempts: pauses and canary phases', () => {
  let pg: TestDatabase;
  let db: Database;
  const held = new HeldAttempts();
  const canary = randomUUID();
  const paused = randomUUID();
  const running = randomUUID();

  beforeAll(async () => {
    pg = await createTestDatabase('held');
    db = await Database.open({ url: pg.url, schema: 'notification_dispatch', migrations: DISPATCH_MIGRATIONS });
    await db.transaction(async (tx) => {
      await tx.exec(
        `INSERT INTO rollout_control (rollout_id, state, phase, canary_success_percent, canary_approval)
         VALUES ($1, 'running', 'canary', 90, 'manual'), ($2, 'paused', 'all', NULL, NULL), ($3, 'running', 'all', NULL, NULL)`,
        [canary, paused, running],
      );
      await tx.exec(`INSERT INTO rollout_canary (rollout_id, agent_id) VALUES ($1, 'in-group')`, [canary]);
    });
  });
  afterAll(async () => {
    await db.close();
    await pg.drop();
  });

  const attempt = (agentId: string, rolloutIds: string[]): HeldAttempt => ({ agentId, notificationId: randomUUID(), attempt: 1, rolloutIds, correlationId: null });
  const setPhase = (rolloutId: string, phase: string) => db.transaction((tx) => tx.exec('UPDATE rollout_control SET phase = $2 WHERE rollout_id = $1', [rolloutId, phase]));

  it('holds the attempts of agents outside a canary group and of every agent of a paused rollout', async () => {
    const holds = await db.transaction((tx) => held.holding(tx, ['in-group', 'outside']));
    expect(holds('in-group', [canary])).toBe(false);
    expect(holds('outside', [canary])).toBe(true);
    expect(holds('in-group', [canary, paused])).toBe(true);
    expect(holds('outside', [running])).toBe(false);
    expect(holds('outside', [])).toBe(false);
  });

  it('lets nothing go while the canary phase lasts, then only what no paused rollout holds', async () => {
    await db.transaction((tx) => held.hold(tx, [attempt('outside', [canary]), attempt('both', [canary, paused])]));
    expect(await db.transaction((tx) => held.release(tx, canary))).toEqual([]);

    await setPhase(canary, 'awaiting-approval');
    expect(await db.transaction((tx) => held.release(tx, canary))).toEqual([]);

    await setPhase(canary, 'all');
    expect((await db.transaction((tx) => held.release(tx, canary))).map((a) => a.agentId)).toEqual(['outside']);
    const left = await db.session((sql) => sql.rows<{ agent_id: string }>('SELECT agent_id FROM held_attempts'));
    expect(left.map((r) => r.agent_id)).toEqual(['both']);
  });
});
