import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { type ComponentTarget, compareVersions } from '@herald/contracts';
import type { RecordedEvent } from '@herald/domain';
import { Database } from '@herald/event-store';
import { type TestDatabase, asRecorded, createTestDatabase } from '@herald/testing';
import { type AgentUpdateCommand, type AgentUpdateState, agentUpdatesDecider, nextAttempt } from '../agent-updates/agent-updates.decider';
import type { AgentUpdateEvent, NotificationPolicy } from '../agent-updates/agent-updates.events';
import { DISPATCH_MIGRATIONS } from '../migrations';
import { rolloutProgressProjection } from './rollout-progress.projection';
import { RolloutViews } from './rollout-views';
import type { RolloutEvent } from './rollout.decider';

jest.setTimeout(300_000);

/*
 * Rollout counts are exact, whatever happens in whatever order: random fleets of agents go
 * through random histories decided by the real decider (rollouts, R7 raises, redelivered
 * targets, reconnects, returned and unacknowledged attempts, failed and retried updates,
 * missing reports, agents no plan had that R2 updates on reconnect, aborted rollouts), and the real projection
 * reads them in random batch cuts. Then every
 * targeted agent has exactly one outcome or is in progress, nobody is in progress without an
 * open notification, and once every notification has ended every rollout is complete.
 */

type E = AgentUpdateEvent | RolloutEvent;
const policy: NotificationPolicy = {
  resendIntervalMs: 1000,
  maxAttempts: 2,
  ackTimeoutMs: 1000,
  reportTimeoutMs: 1000,
  scanAfterUpdate: false,
  updateRetry: { retries: 1, delayMs: 1000, backoff: 2, jitter: 0.5 },
};
const target = (version: string): ComponentTarget => ({ type: 'virus-pattern', version, sha256: '0'.repeat(64), size: 1, url: `http://updates.test/virus-pattern/${version}` });
const OPS = ['rollout', 'target', 'redeliver', 'reconnect', 'send', 'return', 'ack-deadline', 'ack', 'complete', 'fail', 'report-deadline', 'abort'] as const;
type Step = { op: (typeof OPS)[number]; agent: number; pick: number };

/** A fleet's history, decided by the real decider: the events in the order they were recorded. */
class Fleet {
  readonly events: Array<{ streamId: string; event: E }> = [];
  readonly installed: string[];
  readonly states: AgentUpdateState[];
  readonly rollouts: Array<{ rolloutId: string; version: string }> = [];
  private readonly pending: Array<{ agent: number; rolloutId: string }> = [];
  private readonly delivered: Array<{ agent: number; rolloutId: string }> = [];
  private readonly notificationIds = new Map<string, string>();
  private readonly aborted = new Set<string>();
  private minute = 0;

  /** `size` agents every plan targets, and `late` more that registered after every plan (only R2 reaches them). */
  constructor(
    readonly size: number,
    readonly late = 0,
  ) {
    this.installed = Array.from({ length: size + late }, () => '1.0');
    this.states = Array.from({ length: size + late }, () => agentUpdatesDecider.initialState());
  }

  private at(): Date {
    return new Date(Date.UTC(2026, 10, 30, 0, this.minute++));
  }

  private get latest(): string {
    return this.rollouts.at(-1)?.version ?? '1.0';
  }

  private decide(agent: number, command: AgentUpdateCommand): void {
    for (const event of agentUpdatesDecider.decide(command, this.states[agent]!)) {
      this.states[agent] = agentUpdatesDecider.evolve(this.states[agent]!, event);
      this.events.push({ streamId: `agent-a${agent}`, event });
    }
  }

  /** R1: a new version; the plan targets every agent, each target is worked later (or twice). */
  private rollout(): void {
    if (this.rollouts.length >= 3) return;
    const rolloutId = randomUUID();
    const version = `${this.rollouts.length + 2}.0`;
    this.rollouts.push({ rolloutId, version });
    const at = this.at().toISOString();
    const agentIds = Array.from({ length: this.size }, (_, i) => `a${i}`);
    const streamId = `rollout-${rolloutId}`;
    this.events.push({
      streamId,
      event: {
        type: 'RolloutPlanned',
        data: { rolloutId, component: target(version), notifyOnDownload: true, includeIndependentAndOffline: false, policy, targeted: this.size, skipped: { offline: 0, independent: 0, 'no-privilege': 0 }, upToDate: 0, at },
      },
    });
    this.events.push({ streamId, event: { type: 'AgentsTargeted', data: { rolloutId, agentIds, at } } });
    for (let agent = 0; agent < this.size; agent++) this.pending.push({ agent, rolloutId });
  }

  /** What the notify work does for one agent of a rollout (the newest versions known now: R7); nothing once it was aborted. */
  private target(agent: number, rolloutId: string): void {
    if (this.aborted.has(rolloutId)) return;
    const key = `${rolloutId}/${agent}`;
    const notificationId = this.notificationIds.get(key) ?? randomUUID();
    this.notificationIds.set(key, notificationId);
    const components = compareVersions(this.installed[agent]!, this.latest) < 0 ? [target(this.latest)] : [];
    this.decide(agent, { type: 'Target', agentId: `a${agent}`, rolloutId, trigger: 'download', components, policy, notificationId, now: this.at() });
  }

  /** An admin aborts a rollout: recorded on it, then every open notification working for it closes. */
  private abort(pick: number): void {
    const rollout = this.rollouts[pick % this.rollouts.length];
    if (!rollout || this.aborted.has(rollout.rolloutId)) return;
    const { rolloutId } = rollout;
    this.aborted.add(rolloutId);
    const now = this.at();
    this.events.push({ streamId: `rollout-${rolloutId}`, event: { type: 'RolloutAborted', data: { rolloutId, by: 'admin', note: null, at: now.toISOString() } } });
    for (let agent = 0; agent < this.size + this.late; agent++) this.decide(agent, { type: 'CloseForAbortedRollout', agentId: `a${agent}`, rolloutId, by: 'admin', now });
  }

  step({ op, agent: n, pick }: Step): void {
    const agent = n % (this.size + this.late);
    const agentId = `a${agent}`;
    const open = this.states[agent]!.open;
    const now = this.at();
    switch (op) {
      case 'rollout':
        return this.rollout();
      case 'abort':
        return this.abort(pick);
      case 'target': {
        const [t] = this.pending.length > 0 ? this.pending.splice(pick % this.pending.length, 1) : [];
        if (t) {
          this.target(t.agent, t.rolloutId);
          this.delivered.push(t);
        }
        return;
      }
      case 'redeliver': {
        const t = this.delivered.length > 0 ? this.delivered[pick % this.delivered.length] : undefined;
        if (t) this.target(t.agent, t.rolloutId);
        return;
      }
      case 'reconnect': {
        const components = compareVersions(this.installed[agent]!, this.latest) < 0 ? [target(this.latest)] : [];
        // As dispatch does: the rollout that brought the newest version.
        const rolloutIds = components.length > 0 ? this.rollouts.filter((r) => r.version === this.latest).map((r) => r.rolloutId) : [];
        return this.decide(agent, { type: 'Target', agentId, rolloutId: null, rolloutIds, trigger: 'reconnect', components, policy, notificationId: randomUUID(), now });
      }
      case 'send': {
        const attempt = nextAttempt(this.states[agent]!);
        if (open && attempt !== null) this.decide(agent, { type: 'RecordAttemptSent', agentId, notificationId: open.notificationId, attempt, commandId: randomUUID(), components: open.target, now });
        return;
      }
      default:
        break;
    }
    if (!open) return;
    const ids = { agentId, notificationId: open.notificationId, now };
    switch (op) {
      case 'return':
        return this.decide(agent, { type: 'RecordAttemptReturned', ...ids, attempt: open.attempt });
      case 'ack-deadline':
        return this.decide(agent, { type: 'AckDeadlinePassed', ...ids, attempt: open.attempt });
      case 'ack':
        return this.decide(agent, { type: 'RecordAck', ...ids, attempt: open.attempt });
      case 'report-deadline':
        return this.decide(agent, { type: 'ReportDeadlinePassed', ...ids, attempt: open.acknowledgedAttempt ?? open.attempt });
      case 'complete':
      case 'fail': {
        if (!open.sent || open.phase === 'sending') return;
        const version = open.sent[0]!.version;
        const completed = op === 'complete';
        if (completed && compareVersions(version, this.installed[agent]!) > 0) this.installed[agent] = version;
        return this.decide(agent, {
          type: 'RecordUpdateResult',
          ...ids,
          outcome: completed ? 'completed' : 'failed',
          applied: completed ? [{ type: 'virus-pattern', fromVersion: '1.0', toVersion: version, mode: 'full', bytes: 1 }] : [],
          installed: [{ type: 'virus-pattern', version: this.installed[agent]! }],
          error: completed ? undefined : 'sha256 mismatch',
          independent: false,
          scanId: randomUUID(),
        });
      }
      default:
        return;
    }
  }

  /** Works every pending target, then takes each agent's open notification to its end. */
  finish(): void {
    while (this.pending.length > 0) this.step({ op: 'target', agent: 0, pick: 0 });
    for (let agent = 0; agent < this.size + this.late; agent++) {
      for (let guard = 0; this.states[agent]!.open && guard < 50; guard++) {
        this.step({ op: 'send', agent, pick: 0 });
        this.step({ op: 'ack', agent, pick: 0 });
        this.step({ op: 'complete', agent, pick: 0 });
      }
      expect(this.states[agent]!.open).toBeNull();
    }
  }

  recorded(): Array<RecordedEvent<E>> {
    const streams = new Map(this.events.map(({ event }, i) => [event, this.events[i]!.streamId]));
    return asRecorded(
      this.events.map((e) => e.event),
      (e) => streams.get(e)!,
    );
  }
}

const step = fc.record({ op: fc.constantFrom(...OPS), agent: fc.nat(9), pick: fc.nat(99) });
const history = fc.record({
  agents: fc.integer({ min: 1, max: 5 }),
  late: fc.integer({ min: 0, max: 2 }),
  steps: fc.array(step, { minLength: 1, maxLength: 80 }),
  /** Where the projection is read mid-way, as a share of the history. */
  cut: fc.double({ min: 0, max: 1, noNaN: true }),
  batch: fc.integer({ min: 1, max: 12 }),
});

describe('rollout counts (property)', () => {
  let pg: TestDatabase;
  let db: Database;
  let views: RolloutViews;

  beforeAll(async () => {
    pg = await createTestDatabase('rollout_counts');
    db = await Database.open({ url: pg.url, schema: 'notification_dispatch', migrations: DISPATCH_MIGRATIONS });
    views = new RolloutViews(db);
  });
  afterAll(async () => {
    await db.close();
    await pg.drop();
  });

  async function project(events: Array<RecordedEvent<E>>, batch: number): Promise<void> {
    await db.transaction((tx) => rolloutProgressProjection.reset!(tx));
    for (let i = 0; i < events.length; i += batch) await db.transaction((tx) => rolloutProgressProjection.apply(tx, events.slice(i, i + batch)));
  }

  const rows = () =>
    db.session((sql) => sql.rows<{ rollout_id: string; agent_id: string; outcome: string | null; targeted: boolean }>('SELECT rollout_id, agent_id, outcome, targeted FROM rollout_agents ORDER BY rollout_id, agent_id'));

  it('every targeted agent ends in exactly one outcome; nobody is left in progress', async () => {
    await fc.assert(
      fc.asyncProperty(history, async ({ agents, late, steps, cut, batch }) => {
        const fleet = new Fleet(agents, late);
        fleet.step({ op: 'rollout', agent: 0, pick: 0 });
        for (const s of steps) fleet.step(s);

        // Mid-way: an agent in progress in a rollout whose target was worked has an open
        // notification (nothing stuck); one whose target is still queued is simply waiting.
        const midway = fleet.recorded();
        const upTo = Math.floor(midway.length * cut);
        const openAt = new Set<string>();
        const worked = new Set<string>();
        const states = new Map<string, AgentUpdateState>();
        for (const e of midway.slice(0, upTo)) {
          if (!e.streamId.startsWith('agent-')) continue;
          const agentId = e.streamId.slice('agent-'.length);
          if ('rolloutId' in e.data && e.data.rolloutId) worked.add(`${e.data.rolloutId}/${agentId}`);
          if (e.type === 'UpdateTargeted') for (const r of e.data.rolloutIds ?? []) worked.add(`${r}/${agentId}`);
          const next = agentUpdatesDecider.evolve(states.get(agentId) ?? agentUpdatesDecider.initialState(), e as RecordedEvent<AgentUpdateEvent>);
          states.set(agentId, next);
          if (next.open) openAt.add(agentId);
          else openAt.delete(agentId);
        }
        await project(midway.slice(0, upTo), batch);
        for (const r of await rows()) {
          if (r.targeted && r.outcome === null && worked.has(`${r.rollout_id}/${r.agent_id}`)) expect({ agent: r.agent_id, open: openAt.has(r.agent_id) }).toEqual({ agent: r.agent_id, open: true });
        }
        // An agent the projection calls updated has the version.
        const byId = new Map(fleet.rollouts.map((r) => [r.rolloutId, r.version]));

        // To the end: every notification ends; every rollout completes; the counts add up.
        fleet.finish();
        const all = fleet.recorded();
        await project(all, batch);
        for (const { rolloutId } of fleet.rollouts) {
          const view = (await views.get(rolloutId))!;
          const c = view.counts;
          // The plan's agents, and the late ones R2 updated to this rollout's version on reconnect:
          // by opening an update, or by raising the one a reconnect had opened before this version came.
          const joined = new Set(
            all.flatMap((e) =>
              (e.type === 'UpdateTargeted' || e.type === 'NotificationTargetRaised') && e.data.rolloutIds?.includes(rolloutId) && Number(e.data.agentId.slice(1)) >= agents ? [e.data.agentId] : [],
            ),
          );
          expect({ plan: c.targeted - c.onReconnect.targeted, onReconnect: c.onReconnect.targeted }).toEqual({ plan: agents, onReconnect: joined.size });
          expect(c.updated + c.failed + c.gaveUp + c.alreadyUpToDate + c.superseded + c.aborted + c.inProgress).toBe(c.targeted);
          expect({ rolloutId, inProgress: c.inProgress, complete: view.complete }).toEqual({ rolloutId, inProgress: 0, complete: true });
        }
        const final = await rows();
        for (const r of final) {
          if (r.outcome !== 'updated') continue;
          expect(compareVersions(fleet.installed[Number(r.agent_id.slice(1))]!, byId.get(r.rollout_id)!)).toBeGreaterThanOrEqual(0);
        }
        // The same read model, every column, event by event as in batches.
        const everything = () => db.session((sql) => sql.rows('SELECT * FROM rollout_agents ORDER BY rollout_id, agent_id'));
        const batched = await everything();
        await project(all, 1);
        expect(await everything()).toEqual(batched);
      }),
      {
        numRuns: 100,
        examples: [
          // Found by this property: an abort in the same batch after a notification closed by it
          // dated the row by the abort (the abort was applied before the batch's agent events).
          [
            {
              agents: 1,
              late: 0,
              steps: [
                { op: 'rollout', agent: 0, pick: 0 },
                { op: 'reconnect', agent: 0, pick: 0 },
                { op: 'abort', agent: 0, pick: 57 },
                { op: 'abort', agent: 0, pick: 0 },
                { op: 'rollout', agent: 0, pick: 0 },
              ],
              cut: 0,
              batch: 2,
            },
          ],
        ],
      },
    );
  });
});
