import { randomUUID } from 'node:crypto';
import { CommandHandler, Database, EventStore, ExpectedVersionConflictError } from '@herald/event-store';
import { type TestDatabase, createTestDatabase, waitFor } from '@herald/testing';
import { DISPATCH_MIGRATIONS } from '../migrations';
import { agentUpdatesDecider } from './agent-updates.decider';
import { InFlightSlots, type WaitingAttempt } from './in-flight-slots';

jest.setTimeout(60_000);

const attempt = (agentId: string): WaitingAttempt => ({ agentId, notificationId: randomUUID(), attempt: 1, correlationId: null });

describe('R6 slots granted in bulk', () => {
  let pg: TestDatabase;
  let db: Database;
  const slots = new InFlightSlots();

  beforeEach(async () => {
    pg = await createTestDatabase('slots');
    db = await Database.open({
      url: pg.url,
      schema: 'notification_dispatch',
      migrations: DISPATCH_MIGRATIONS,
    });
  });
  afterEach(async () => {
    await db.close();
    await pg.drop();
  });

  const held = async () => (await db.session((sql) => sql.rows<{ agent_id: string }>('SELECT agent_id FROM in_flight WHERE agent_id IS NOT NULL ORDER BY agent_id'))).map((r) => r.agent_id);
  const waiting = async () => (await db.session((sql) => sql.rows<{ agent_id: string }>('SELECT agent_id FROM in_flight_waiting ORDER BY queued_at, agent_id'))).map((r) => r.agent_id);

  it('grants at most the bound, in order, and puts the rest on the waiting list', async () => {
    const granted = await db.transaction((tx) => slots.grant(tx, ['a', 'b', 'c', 'd', 'e', 'f'].map(attempt), 4));
    expect([...granted].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(await held()).toEqual(['a', 'b', 'c', 'd']);
    expect(await waiting()).toEqual(['e', 'f']);
    // An agent that holds one keeps it: asking again grants nothing new.
    expect([...(await db.transaction((tx) => slots.grant(tx, [attempt('a')], 4)))]).toEqual(['a']);
  });

  it('gives slots back when the delivery ended, and they are granted again', async () => {
    await db.transaction((tx) => slots.grant(tx, ['a', 'b'].map(attempt), 2));
    await db.transaction((tx) => slots.sync(tx, [{ agentId: 'a', state: agentUpdatesDecider.initialState() }]));
    expect(await held()).toEqual(['b']);
    expect([...(await db.transaction((tx) => slots.grant(tx, [attempt('c')], 2)))]).toEqual(['c']);
  });

  it('lets two transactions grant side by side on slots that do not exist yet, without putting either one on the waiting list', async () => {
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((r) => (releaseFirst = r));
    let firstGranted!: () => void;
    const firstHasGranted = new Promise<void>((r) => (firstGranted = r));
    const first = db.transaction(async (tx) => {
      const granted = await slots.grant(tx, ['a1', 'a2', 'a3'].map(attempt), 10);
      firstGranted();
      await firstMayCommit;
      return granted;
    });
    await Promise.race([firstHasGranted, first]); // a failing first ends the test at once
    // The second creates the same slot rows and waits for the first to commit: seen in PostgreSQL
    // as a backend of this database waiting for a lock, not assumed after a pause.
    const second = db.transaction((tx) => slots.grant(tx, ['b1', 'b2', 'b3'].map(attempt), 10));
    await waitFor(
      async () =>
        (await db.session((sql) => sql.one<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)))!.n === 1,
      { what: 'the second transaction to wait for the first', timeoutMs: 30_000 },
    );
    releaseFirst();
    expect([...(await first)].sort()).toEqual(['a1', 'a2', 'a3']);
    expect([...(await second)].sort()).toEqual(['b1', 'b2', 'b3']);
    expect(await held()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3']);
    expect(await waiting()).toEqual([]);
  });

  /** Runs `first` up to its grant, then `second` until PostgreSQL shows it waiting on the first; then lets the first commit. */
  async function raceOnOneAgent<T>(second: () => Promise<T>): Promise<{ first: Set<string>; second: PromiseSettledResult<T> }> {
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((r) => (releaseFirst = r));
    let firstGranted!: () => void;
    const firstHasGranted = new Promise<void>((r) => (firstGranted = r));
    const first = db.transaction(async (tx) => {
      const granted = await slots.grant(tx, ['a', 'b'].map(attempt), 10);
      firstGranted();
      await firstMayCommit;
      return granted;
    });
    await Promise.race([firstHasGranted, first]);
    const running = second();
    const settled = running.then(
      (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
      (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
    );
    await waitFor(
      async () =>
        (await db.session((sql) => sql.one<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)))!.n === 1,
      { what: 'the second transaction to wait for the first', timeoutMs: 30_000 },
    );
    releaseFirst();
    return { first: await first, second: await settled };
  }

  it('reports a slot granted to the same agent by another transaction meanwhile as a conflict to retry, not a failed batch', async () => {
    // Both read the agent with no slot (two batches naming one agent, e.g. a duplicate hello and a
    // resend): the second's grant waits on the first's unique agent key, then finds it taken.
    const { first, second } = await raceOnOneAgent(() => db.transaction((tx) => slots.grant(tx, ['a', 'c'].map(attempt), 10)));
    expect([...first].sort()).toEqual(['a', 'b']);
    expect(second.status).toBe('rejected');
    const err = (second as PromiseRejectedResult).reason as Error;
    expect(err).toBeInstanceOf(ExpectedVersionConflictError);
    expect(err.message).toContain('stream agent-a ');
    expect(await held()).toEqual(['a', 'b']);
  });

  it('lets the command handler retry that conflict from a fresh look, which finds the slot held and grants the rest', async () => {
    const commands = new CommandHandler(new EventStore(db));
    let tries = 0;
    const { second } = await raceOnOneAgent(() =>
      commands.transaction((tx) => {
        tries++;
        return slots.grant(tx, ['a', 'c'].map(attempt), 10);
      }),
    );
    expect(second.status).toBe('fulfilled');
    expect([...(second as PromiseFulfilledResult<Set<string>>).value].sort()).toEqual(['a', 'c']);
    expect(tries).toBe(2);
    expect(await held()).toEqual(['a', 'b', 'c']);
    expect(await waiting()).toEqual([]);
  });
});
