import { randomUUID } from 'node:crypto';
import type { RecordedEvent } from '@herald/domain';
import { Database } from '@herald/event-store';
import { type TestDatabase, asRecorded, createTestDatabase } from '@herald/testing';
import type { AgentUpdateEvent, NotificationPolicy } from '../agent-updates/agent-updates.events';
import { DISPATCH_MIGRATIONS } from '../migrations';
import { rolloutProgressProjection } from './rollout-progress.projection';
import { RolloutViews } from './rollout-views';
import type { RolloutEvent } from './rollout.decider';

jest.setTimeout(60_000);

type E = AgentUpdateEvent | RolloutEvent;
const policy: NotificationPolicy = { resendIntervalMs: 1000, maxAttempts: 3, ackTimeoutMs: 1000, reportTimeoutMs: 1000, scanAfterUpdate: true };
const pattern = (version: string) => ({ type: 'virus-pattern', version });
const target = (version: string) => ({ ...pattern(version), sha256: '0'.repeat(64), size: 1, url: `http://updates.test/virus-pattern/${version}` });

/**
 * One story across two rollouts, in the order the store hands it to the projection:
 * rollout A (2.0) targets a1 and a2 and skips a3, offline; a1 updates and scans; a2 never
 * answers; a3 reconnects (R2) before rollout B (3.0) exists, so its update works for A only,
 * until R7 raises it to B; a3 then installs 3.0, which completes both rollouts for it. Two agents
 * B's plan never had (they registered after it) reconnect outdated: a4 is updated by R2, in B;
 * a5 runs in Independent mode without the privilege and is left alone, then again with it, which
 * B shows too, with the newer reason.
 */
function story(): E[] {
  const [A, B] = [randomUUID(), randomUUID()];
  const [n1, n2, n3, n4, n5] = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  const scan = randomUUID();
  let minute = 0;
  const at = () => new Date(Date.UTC(2026, 10, 30, 10, minute++)).toISOString();
  const planned = (rolloutId: string, version: string, targeted: number, offline: number): E => ({
    type: 'RolloutPlanned',
    data: { rolloutId, component: target(version), notifyOnDownload: true, includeIndependentAndOffline: false, policy, targeted, skipped: { offline, independent: 0, 'no-privilege': 0 }, upToDate: 0, at: at() },
  });
  const sent = (agentId: string, notificationId: string, attempt: number): E => ({
    type: 'AttemptSent',
    data: { agentId, notificationId, attempt, commandId: randomUUID(), components: [target('2.0')], ackDeadlineAt: at(), at: at() },
  });
  const targeted = (agentId: string, notificationId: string, rolloutId: string | null, version: string): E => ({
    type: 'UpdateTargeted',
    data: { agentId, notificationId, rolloutId, trigger: rolloutId ? 'download' : 'reconnect', components: [target(version)], policy, at: at() },
  });
  return [
    planned(A, '2.0', 2, 1),
    { type: 'AgentsTargeted', data: { rolloutId: A, agentIds: ['a1', 'a2'], at: at() } },
    { type: 'AgentsSkipped', data: { rolloutId: A, reason: 'offline', agentIds: ['a3'], at: at() } },
    targeted('a1', n1, A, '2.0'),
    targeted('a2', n2, A, '2.0'),
    sent('a1', n1, 1),
    sent('a2', n2, 1),
    { type: 'NotificationAcknowledged', data: { agentId: 'a1', notificationId: n1, attempt: 1, at: at() } },
    { type: 'AttemptFailed', data: { agentId: 'a2', notificationId: n2, attempt: 1, reason: 'no-queue', at: at() } },
    sent('a2', n2, 2),
    { type: 'UpdateCompleted', data: { agentId: 'a1', notificationId: n1, components: [], installed: [pattern('2.0')], targetReached: true, at: at() } },
    { type: 'ScanRequested', data: { agentId: 'a1', notificationId: n1, scanId: scan, at: at() } },
    targeted('a3', n3, null, '2.0'),
    sent('a3', n3, 1),
    planned(B, '3.0', 2, 0),
    { type: 'AgentsTargeted', data: { rolloutId: B, agentIds: ['a1', 'a3'], at: at() } },
    { type: 'ScanCompleted', data: { agentId: 'a1', scanId: scan, outcome: 'clean', threatsFound: 0, at: at() } },
    { type: 'AttemptFailed', data: { agentId: 'a2', notificationId: n2, attempt: 2, reason: 'ack-timeout', at: at() } },
    { type: 'NotificationTargetRaised', data: { agentId: 'a3', notificationId: n3, rolloutId: B, components: [target('3.0')], at: at() } },
    targeted('a1', n4, B, '3.0'),
    // A's target for a1 delivered again: it joins the open notification (a1 is updated in A already).
    { type: 'RolloutJoined', data: { agentId: 'a1', notificationId: n4, rolloutId: A, at: at() } },

    sent('a1', n4, 1),
    { type: 'NotificationGaveUp', data: { agentId: 'a2', notificationId: n2, attempts: 2, at: at() } },
    { type: 'UpdateFailed', data: { agentId: 'a1', notificationId: n4, error: 'disk full', installed: [pattern('2.0')], at: at() } },
    // A's target for a1 delivered once more, after its notifications ended: nothing for A.
    { type: 'UpdateNotNeeded', data: { agentId: 'a1', notificationId: randomUUID(), rolloutId: A, at: at() } },
    { type: 'UpdateCompleted', data: { agentId: 'a3', notificationId: n3, components: [], installed: [pattern('3.0')], targetReached: true, at: at() } },
    { type: 'UpdateTargeted', data: { agentId: 'a4', notificationId: n5, rolloutId: null, rolloutIds: [B], trigger: 'reconnect', components: [target('3.0')], policy, at: at() } },
    { type: 'TargetSkipped', data: { agentId: 'a5', rolloutId: null, rolloutIds: [B], trigger: 'reconnect', reason: 'independent', components: [target('3.0')], at: at() } },
    { type: 'TargetSkipped', data: { agentId: 'a5', rolloutId: null, rolloutIds: [B], trigger: 'reconnect', reason: 'no-privilege', components: [target('3.0')], at: at() } },
    { type: 'AttemptSent', data: { agentId: 'a4', notificationId: n5, attempt: 1, commandId: randomUUID(), components: [target('3.0')], ackDeadlineAt: at(), at: at() } },
    { type: 'UpdateCompleted', data: { agentId: 'a4', notificationId: n5, components: [], installed: [pattern('3.0')], targetReached: true, at: at() } },
  ];
}

const recorded = (events: E[]) =>
  asRecorded(events, (e) => 'rolloutId' in e.data && e.type.startsWith('Rollout') ? `rollout-${e.data.rolloutId}` : `agent-${'agentId' in e.data ? e.data.agentId : ''}`);

describe('rollout progress projection', () => {
  let pg: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    pg = await createTestDatabase('rollout_progress');
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

  /** Replays the story from an empty read model, cut into batches of `size`, and reads it back. */
  async function replay(events: Array<RecordedEvent<E>>, size: number) {
    await db.transaction((tx) => rolloutProgressProjection.reset!(tx));
    for (let i = 0; i < events.length; i += size) await db.transaction((tx) => rolloutProgressProjection.apply(tx, events.slice(i, i + size)));
    return db.session(async (sql) => ({
      rollouts: await sql.rows('SELECT rollout_id, version FROM rollouts ORDER BY started_at'),
      agents: await sql.rows(
        `SELECT r.version, agent_id, via, targeted, skipped_reason, attempts, returned_attempts, timed_out_attempts, acknowledged, outcome, update_retries, scan_requested, scanned, last_change_at, sent_at, acknowledged_at, outcome_at
         FROM rollout_agents JOIN rollouts r USING (rollout_id) ORDER BY r.version, agent_id`,
      ),
      links: await sql.rows(`SELECT r.version, agent_id FROM rollout_notifications JOIN rollouts r USING (rollout_id) ORDER BY r.version, agent_id`),
    }));
  }

  it("works out each agent's progress in each rollout, R2 and R7 included", async () => {
    const { agents } = await replay(recorded(story()), 1);
    const row = (version: string, agentId: string) => agents.find((r) => r.version === version && r.agent_id === agentId);
    expect(row('2.0', 'a1')).toMatchObject({ targeted: true, attempts: 1, acknowledged: true, outcome: 'updated', scan_requested: true, scanned: true });
    expect(row('2.0', 'a2')).toMatchObject({ targeted: true, attempts: 2, returned_attempts: 1, timed_out_attempts: 1, outcome: 'gave-up' });
    // Skipped as offline, then updated by the update R2 opened when it came back.
    expect(row('2.0', 'a3')).toMatchObject({ targeted: false, skipped_reason: 'offline', attempts: 1, outcome: 'updated' });
    expect(row('3.0', 'a1')).toMatchObject({ attempts: 1, outcome: 'failed', update_retries: 0, scanned: false });
    // R2's update did not work for B (it did not exist yet); R7 raised it to B, whose update then counts.
    expect(row('3.0', 'a3')).toMatchObject({ attempts: 0, outcome: 'updated' });
    // Not in B's plan: R2's update brought a4 into B, updated; a5 is in B as left alone on reconnect.
    expect(row('3.0', 'a4')).toMatchObject({ via: 'reconnect', targeted: true, skipped_reason: null, attempts: 1, outcome: 'updated' });
    expect(row('3.0', 'a5')).toMatchObject({ via: 'reconnect', targeted: false, skipped_reason: 'no-privilege', attempts: 0, outcome: null });
    expect(row('2.0', 'a4')).toBeUndefined();
    expect(agents.filter((r) => r.via === 'reconnect').map((r) => `${r.version} ${r.agent_id}`)).toEqual(['3.0 a4', '3.0 a5']);
  });

  it('records when each agent was first sent, first acknowledged and ended, and counts them over time', async () => {
    const events = story();
    const A = (events[0]!.data as { rolloutId: string }).rolloutId;
    const last = events.at(-1)!.data.at;
    events.push({ type: 'RolloutCompleted', data: { rolloutId: A, outcomes: { targeted: 2, updated: 1, failed: 0, gaveUp: 1, alreadyUpToDate: 0, superseded: 0, aborted: 0 }, at: last } });
    const { agents } = await replay(recorded(events), 4);
    const atOf = (type: string, agentId: string, nth = 0) => new Date(events.filter((e) => e.type === type && 'agentId' in e.data && e.data.agentId === agentId)[nth]!.data.at);
    const row = (version: string, agentId: string) => agents.find((r) => r.version === version && r.agent_id === agentId);
    // The first attempt and the first acknowledgement count, not the later ones.
    expect(row('2.0', 'a1')).toMatchObject({ sent_at: atOf('AttemptSent', 'a1'), acknowledged_at: atOf('NotificationAcknowledged', 'a1'), outcome_at: atOf('UpdateCompleted', 'a1') });
    expect(row('2.0', 'a2')).toMatchObject({ sent_at: atOf('AttemptSent', 'a2'), acknowledged_at: null, outcome_at: atOf('NotificationGaveUp', 'a2') });
    // Updated in A through R2 and R7: its outcome is dated by the install, though A's plan skipped it.
    expect(row('2.0', 'a3')).toMatchObject({ sent_at: atOf('AttemptSent', 'a3'), outcome_at: atOf('UpdateCompleted', 'a3') });
    // A failure after an earlier update elsewhere: dated by the failure.
    expect(row('3.0', 'a1')).toMatchObject({ sent_at: atOf('AttemptSent', 'a1', 1), outcome_at: atOf('UpdateFailed', 'a1') });
    expect(row('3.0', 'a5')).toMatchObject({ sent_at: null, acknowledged_at: null, outcome_at: null });

    // A ran from its plan to its completion; its points count its targeted agents (a1, a2), not the skipped a3.
    const progress = (await new RolloutViews(db).progress(A, 3))!;
    const from = new Date(events[0]!.data.at);
    expect(progress).toMatchObject({ rolloutId: A, targeted: 2, from, to: new Date(last) });
    const mid = new Date((from.getTime() + new Date(last).getTime()) / 2);
    expect(atOf('UpdateCompleted', 'a1') <= mid && atOf('NotificationGaveUp', 'a2') > mid).toBe(true);
    expect(progress.points).toEqual([
      { at: from, sent: 0, acknowledged: 0, updated: 0, failed: 0 },
      { at: mid, sent: 2, acknowledged: 1, updated: 1, failed: 0 },
      { at: new Date(last), sent: 2, acknowledged: 1, updated: 1, failed: 1 },
    ]);
    expect(await new RolloutViews(db).progress(randomUUID(), 3)).toBeUndefined();
  });

  it('comes to the same read model however the events are cut into batches', async () => {
    const events = recorded(story());
    const oneByOne = await replay(events, 1);
    for (const size of [2, 3, 5, 7, events.length]) expect(await replay(events, size)).toEqual(oneByOne);
  });
});
