import { outdatedComponents } from '@herald/contracts';
import type { RecordedEvent } from '@herald/domain';
import type { Projection, Tx } from '@herald/event-store';
import type { AgentUpdateEvent } from '../agent-updates/agent-updates.events';
import type { RolloutEvent } from './rollout.decider';

type ProgressEvent = RecordedEvent<AgentUpdateEvent | RolloutEvent>;

/** How an agent's part in a rollout ended; null while it is in progress. */
export type RolloutOutcome = 'updated' | 'failed' | 'gave-up' | 'already-up-to-date' | 'superseded' | 'aborted';

/** What a batch of events changes in one rollout's row for one agent. */
interface Change {
  attempts: number;
  returned: number;
  timedOut: number;
  acknowledged: boolean;
  /** Undefined: untouched by the batch; null: in progress again (a new notification works for it). */
  outcome: RolloutOutcome | null | undefined;
  retries: number;
  scanRequested: boolean;
  scanned: boolean;
  /** The latest time of the events that changed the row; null when only a link touched it. */
  at: string | null;
  /** When the batch first sent it a notification / first saw it acknowledged (kept only if the row has none yet). */
  sentAt: string | null;
  acknowledgedAt: string | null;
  /** When it reached the outcome the batch leaves it with. */
  outcomeAt: string | null;
}

type ProgressEventType = ProgressEvent['type'];
/** The rollouts' own events: a plan and its facts, and an abort (which ends every agent's part not ended yet). */
const ROLLOUT_FACTS = ['RolloutStarted', 'RolloutPlanned', 'AgentsTargeted', 'AgentsSkipped', 'RolloutAborted', 'RolloutCompleted'] as const satisfies readonly ProgressEventType[];
/** What ties an agent's notification to a rollout, or ends the agent's part in one before it began, or (R2) brings an agent into one. */
const AGENT_LINKS = ['UpdateTargeted', 'NotificationTargetRaised', 'RolloutJoined', 'UpdateNotNeeded', 'TargetSkipped'] as const satisfies readonly ProgressEventType[];
/** What changes an agent's row in each rollout its notification belongs to. */
const AGENT_CHANGES = [
  'AttemptSent',
  'AttemptFailed',
  'NotificationAcknowledged',
  'UpdateCompleted',
  'UpdateFailed',
  'UpdateRetryScheduled',
  'NotificationGaveUp',
  'NotificationResolved',
  'ScanRequested',
  'ScanCompleted',
] as const satisfies readonly ProgressEventType[];
const CHANGES_ROW: ReadonlySet<string> = new Set(AGENT_CHANGES);

/**
 * Live progress of every rollout: per agent, how far it got (targeted or skipped and why,
 * notified, acknowledged, retried, scanned) and how it ended: exactly one of updated, failed,
 * given up, already up to date, superseded, aborted, or none yet. Built asynchronously from the
 * rollout and agent streams; rebuildable from the first event. A batch of events costs a few
 * statements, not a few per agent: the rollouts' own events (inserts), then the agents' side
 * worked out in memory in event order and written in one go.
 */
export const rolloutProgressProjection: Projection<AgentUpdateEvent | RolloutEvent> = {
  name: 'rollout-progress',
  eventTypes: [...ROLLOUT_FACTS, ...AGENT_LINKS, ...AGENT_CHANGES],
  async apply(tx, events) {
    // An abort ends the rows still open at that moment, so what the agents' events before it
    // ended must be written first: the batch is worked in parts, each starting at an abort
    // (rare), and comes out the same however it was cut.
    for (const part of partsStartingAt(events, (e) => e.type === 'RolloutAborted')) {
      // Loaded before this part writes anything, so an agent's reconnect sees only the rollouts
      // that came before it, whichever batch they were in.
      const state = await load(tx, part);
      for (const e of part) await applyRolloutEvent(tx, e);
      await applyAgentEvents(tx, part, state);
    }
  },
  async reset(tx: Tx) {
    await tx.exec('TRUNCATE rollout_scans, rollout_notifications, rollout_agents, rollouts');
  },
};

/** `events` in consecutive parts, a new one starting at each event `starts` picks. */
function partsStartingAt<T>(events: readonly T[], starts: (e: T) => boolean): T[][] {
  const parts: T[][] = [[]];
  for (const e of events) {
    if (starts(e) && parts.at(-1)!.length > 0) parts.push([]);
    parts.at(-1)!.push(e);
  }
  return parts;
}

/** The rollouts' own events: a plan and its facts. */
async function applyRolloutEvent(tx: Tx, e: ProgressEvent): Promise<void> {
  switch (e.type) {
    case 'RolloutStarted': {
      const d = e.data;
      await tx.exec(
        `INSERT INTO rollouts (rollout_id, component_type, version, notify_on_download, include_independent_and_offline, policy, up_to_date, correlation_id, started_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9) ON CONFLICT DO NOTHING`,
        [d.rolloutId, d.component.type, d.component.version, d.notifyOnDownload, d.includeIndependentAndOffline, JSON.stringify(d.policy), d.upToDate, e.metadata.correlationId ?? null, d.at],
      );
      if (d.targets.length > 0) {
        await tx.exec(
          `INSERT INTO rollout_agents (rollout_id, agent_id, targeted, last_change_at)
           SELECT $1, unnest($2::text[]), true, $3 ON CONFLICT DO NOTHING`,
          [d.rolloutId, d.targets, d.at],
        );
      }
      if (d.skipped.length > 0) {
        await tx.exec(
          `INSERT INTO rollout_agents (rollout_id, agent_id, skipped_reason, last_change_at)
           SELECT $1, a, r, $4 FROM unnest($2::text[], $3::text[]) AS s(a, r) ON CONFLICT DO NOTHING`,
          [d.rolloutId, d.skipped.map((s) => s.agentId), d.skipped.map((s) => s.reason), d.at],
        );
      }
      break;
    }
    case 'RolloutPlanned': {
      const d = e.data;
      await tx.exec(
        `INSERT INTO rollouts (rollout_id, component_type, version, notify_on_download, include_independent_and_offline, policy, up_to_date, correlation_id, started_at, pinned, cause, planned_targets)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11::jsonb, $12) ON CONFLICT DO NOTHING`,
        [
          d.rolloutId,
          d.component.type,
          d.component.version,
          d.notifyOnDownload,
          d.includeIndependentAndOffline,
          JSON.stringify(d.policy),
          d.upToDate,
          e.metadata.correlationId ?? null,
          d.at,
          d.component.pinned === true,
          d.cause ? JSON.stringify(d.cause) : null,
          d.targeted,
        ],
      );
      break;
    }
    case 'AgentsTargeted':
      await tx.exec(
        `INSERT INTO rollout_agents (rollout_id, agent_id, targeted, last_change_at)
         SELECT $1, unnest($2::text[]), true, $3 ON CONFLICT DO NOTHING`,
        [e.data.rolloutId, e.data.agentIds, e.data.at],
      );
      break;
    case 'AgentsSkipped':
      await tx.exec(
        `INSERT INTO rollout_agents (rollout_id, agent_id, skipped_reason, last_change_at)
         SELECT $1, unnest($2::text[]), $3, $4 ON CONFLICT DO NOTHING`,
        [e.data.rolloutId, e.data.agentIds, e.data.reason, e.data.at],
      );
      break;
    case 'RolloutCompleted':
      await tx.exec('UPDATE rollouts SET completed_at = $2 WHERE rollout_id = $1 AND completed_at IS NULL', [e.data.rolloutId, e.data.at]);
      break;
    case 'RolloutAborted':
      // Agents of the plan not notified yet never will be; those with a notification open get its close next.
      await tx.exec(`UPDATE rollout_agents SET outcome = 'aborted', outcome_at = $2, last_change_at = greatest(last_change_at, $2) WHERE rollout_id = $1 AND targeted AND outcome IS NULL`, [
        e.data.rolloutId,
        e.data.at,
      ]);
      break;
    default:
      break;
  }
}

/**
 * The agents' side of a batch, in one pass in event order over what the batch needs of the read
 * model (loaded once): which rollouts each notification works for (the one that opened it, those
 * that raised it (R7), and for R2 every rollout the agent had not caught up with at that moment),
 * and what each event changes in those rollouts' rows. Then a few statements write it all. The
 * result is the same however the events are cut into batches.
 */
async function applyAgentEvents(tx: Tx, events: readonly ProgressEvent[], state: ReadModel): Promise<void> {
  const newLinks: Array<{ notificationId: string; rolloutId: string; agentId: string }> = [];
  /** Agents R2 brought into a rollout whose plan did not have them: updated (targeted) or left alone as Independent. */
  const joined = new Map<string, Joined>();
  /** A later reconnect skip's reason for a row an earlier batch made (it applies only to a row R2 made as a skip). */
  const reasons = new Map<string, Joined>();
  const join = (rolloutId: string, agentId: string, at: string, how: { targeted: true; via: 'reconnect' | 'admin' } | { skippedReason: string }) => {
    const key = `${rolloutId}\u0000${agentId}`;
    const skippedReason = 'skippedReason' in how ? how.skippedReason : null;
    const made = joined.get(key);
    // Made by this batch: a later skip brings its reason up to date (a skip never undoes an update).
    if (made) {
      if (skippedReason && !made.targeted) joined.set(key, { ...made, skippedReason, at });
      return;
    }
    if (state.has(rolloutId, agentId)) {
      if (skippedReason) reasons.set(key, { rolloutId, agentId, targeted: false, skippedReason, at });
      return;
    }
    state.row(rolloutId, agentId);
    joined.set(key, { rolloutId, agentId, at, targeted: skippedReason === null, skippedReason, via: 'via' in how ? how.via : 'reconnect' });
  };
  const newScans: Array<{ scanId: string; notificationId: string }> = [];
  const changes = new Map<string, RowChange>();
  const change = (rolloutId: string, agentId: string, at: string | null): RowChange => {
    const key = `${rolloutId}\u0000${agentId}`;
    const c = changes.get(key) ?? newChange(rolloutId, agentId, at);
    changes.set(key, c);
    return c;
  };
  const set = (c: RowChange) => changes.set(`${c.rolloutId}\u0000${c.agentId}`, c);
  const addLink = (notificationId: string, rolloutId: string, agentId: string) => {
    const links = state.links.get(notificationId) ?? [];
    if (links.some((l) => l.rolloutId === rolloutId)) return;
    state.links.set(notificationId, [...links, { rolloutId, agentId }]);
    newLinks.push({ notificationId, rolloutId, agentId });
    // A notification now works for the rollout: the agent's part is in progress again until it
    // ends. (Not a change of its own: whether it meets an updated row depends on the batch cut.)
    const c = change(rolloutId, agentId, null);
    if (c.outcome !== 'updated' && !state.row(rolloutId, agentId).updated) set({ ...c, outcome: null, outcomeAt: null });
  };
  for (const e of events) {
    switch (e.type) {
      case 'RolloutStarted':
        for (const agentId of [...e.data.targets, ...e.data.skipped.map((x) => x.agentId)]) state.row(e.data.rolloutId, agentId);
        state.versions.set(e.data.rolloutId, e.data.component);
        break;
      case 'RolloutPlanned':
        state.versions.set(e.data.rolloutId, e.data.component);
        break;
      case 'AgentsTargeted':
      case 'AgentsSkipped':
        for (const agentId of e.data.agentIds) state.row(e.data.rolloutId, agentId);
        break;
      case 'RolloutJoined':
        // A rollout's target delivered again after the agent got its version: nothing to follow.
        if (!state.row(e.data.rolloutId, e.data.agentId).updated) addLink(e.data.notificationId, e.data.rolloutId, e.data.agentId);
        break;
      case 'UpdateTargeted':
      case 'NotificationTargetRaised':
        if (e.data.rolloutId) addLink(e.data.notificationId, e.data.rolloutId, e.data.agentId);
        else {
          // R2 (or an admin's "update now"): the rollouts of the versions it brings (the agent joins those it was not in), and
          // every other rollout the agent has not caught up with.
          const via = e.data.trigger === 'admin' ? ('admin' as const) : ('reconnect' as const);
          for (const rolloutId of e.data.rolloutIds ?? []) join(rolloutId, e.data.agentId, e.data.at, { targeted: true, via });
          for (const [rolloutId, row] of state.rowsOf(e.data.agentId)) if (!row.updated) addLink(e.data.notificationId, rolloutId, e.data.agentId);
        }
        break;
      case 'TargetSkipped':
        // R2 left an outdated Independent agent alone: a rollout whose plan did not have it shows the skip.
        for (const rolloutId of e.data.rolloutIds ?? []) join(rolloutId, e.data.agentId, e.data.at, { skippedReason: e.data.reason });
        break;
      case 'UpdateNotNeeded': {
        // A rollout's target delivered again after the agent got its version changes nothing.
        if (state.row(e.data.rolloutId, e.data.agentId).updated) break;
        const c = change(e.data.rolloutId, e.data.agentId, e.data.at);
        if (c.outcome !== 'updated') set({ ...c, outcome: 'already-up-to-date', at: later(c.at, e.data.at), outcomeAt: e.data.at });
        break;
      }
      case 'ScanRequested':
        state.scans.set(e.data.scanId, e.data.notificationId);
        newScans.push({ scanId: e.data.scanId, notificationId: e.data.notificationId });
        break;
      default:
        break;
    }
    const notificationId = e.type === 'ScanCompleted' ? state.scans.get(e.data.scanId) : 'notificationId' in e.data ? e.data.notificationId : undefined;
    if (!notificationId || !CHANGES_ROW.has(e.type)) continue;
    for (const { rolloutId, agentId } of state.links.get(notificationId) ?? []) {
      const c = apply(change(rolloutId, agentId, e.data.at), e, state.versions.get(rolloutId));
      set(c);
      // A later R2 reconnect in this batch no longer works for a rollout the agent has caught up with.
      if (c.outcome === 'updated') state.row(rolloutId, agentId).updated = true;
    }
  }
  await write(tx, [...joined.values()], [...reasons.values()], newLinks, newScans, [...changes.values()]);
}

/** A row R2 (or an admin's "update now") makes in a rollout whose plan did not have the agent. */
interface Joined {
  rolloutId: string;
  agentId: string;
  targeted: boolean;
  skippedReason: string | null;
  at: string;
  /** How it came in; a skip on reconnect has no say (its row is R2's). */
  via?: 'reconnect' | 'admin';
}

interface RowChange extends Change {
  rolloutId: string;
  agentId: string;
}

const newChange = (rolloutId: string, agentId: string, at: string | null): RowChange => ({
  rolloutId,
  agentId,
  attempts: 0,
  returned: 0,
  timedOut: 0,
  acknowledged: false,
  outcome: undefined,
  retries: 0,
  scanRequested: false,
  scanned: false,
  at,
  sentAt: null,
  acknowledgedAt: null,
  outcomeAt: null,
});

const later = (a: string | null, b: string): string => (a === null || b > a ? b : a);

/** One event's effect on one rollout's row. Updated is for good; any other outcome may be followed by a new notification. */
/** The version a rollout brings; `pinned`: a pin's rollout, which agents reach only at exactly that version. */
interface RolloutVersion {
  type: string;
  version: string;
  pinned?: boolean;
}

/** Whether an agent with `installed` has the rollout's version (or a newer one, unless the rollout is a pin's). */
function reached(version: RolloutVersion, installed: ReadonlyArray<{ type: string; version: string }>): boolean {
  const have = installed.find((i) => i.type === version.type)?.version;
  return have !== undefined && outdatedComponents([{ type: version.type, version: have }], [version]).length === 0;
}

function apply(c: RowChange, e: ProgressEvent, version: RolloutVersion | undefined): RowChange {
  const at = later(c.at, e.data.at);
  const end = (outcome: RolloutOutcome): RowChange => (c.outcome === 'updated' ? { ...c, at } : { ...c, at, outcome, outcomeAt: e.data.at });
  switch (e.type) {
    case 'AttemptSent':
      return { ...c, at, attempts: c.attempts + 1, sentAt: c.sentAt ?? e.data.at };
    case 'AttemptFailed':
      return e.data.reason === 'no-queue' ? { ...c, at, returned: c.returned + 1 } : { ...c, at, timedOut: c.timedOut + 1 };
    case 'NotificationAcknowledged':
      return { ...c, at, acknowledged: true, acknowledgedAt: c.acknowledgedAt ?? e.data.at };
    case 'UpdateRetryScheduled':
      return { ...c, at, retries: c.retries + 1 };
    case 'UpdateFailed':
      return end('failed');
    case 'NotificationGaveUp':
      return end('gave-up');
    case 'NotificationResolved':
      if (e.data.reason === 'already-up-to-date') {
        // Up to date with what the notification aimed at last: for a rollout whose version the
        // agent does not have (a pin took the notification elsewhere) that is superseded.
        return end(e.data.installed && version && !reached(version, e.data.installed) ? 'superseded' : 'already-up-to-date');
      }
      return end(e.data.reason === 'aborted' ? 'aborted' : 'superseded');
    case 'ScanRequested':
      return { ...c, at, scanRequested: true };
    case 'ScanCompleted':
      return { ...c, at, scanned: true };
    case 'UpdateCompleted': {
      // A rollout's agent is updated once it has the rollout's version (or newer, unless the
      // rollout is a pin's). A notification that reached its target elsewhere (a pin or unpin
      // moved it) ends the agent's part in this rollout as superseded.
      if (version && reached(version, e.data.installed)) return end('updated');
      return e.data.targetReached ? end('superseded') : { ...c, at };
    }
    default:
      return c;
  }
}

type ReadModel = Awaited<ReturnType<typeof load>>;

/** What a batch needs of the read model, loaded in four queries, and kept up to date in memory. */
async function load(tx: Tx, events: readonly ProgressEvent[]) {
  // Agents whose rows decide what a link does: R2 links every rollout they have not caught up
  // with; a joined rollout they have caught up with is not linked, nor marked not needed.
  const reconnecting = [
    ...new Set(
      events.flatMap((e) =>
        ((e.type === 'UpdateTargeted' || e.type === 'NotificationTargetRaised') && !e.data.rolloutId) || (e.type === 'TargetSkipped' && e.data.rolloutIds?.length) || e.type === 'RolloutJoined' || e.type === 'UpdateNotNeeded'
          ? [e.data.agentId]
          : [],
      ),
    ),
  ];
  const scanIds = events.flatMap((e) => (e.type === 'ScanCompleted' ? [e.data.scanId] : []));
  const scans = new Map(scanIds.length === 0 ? [] : (await tx.rows<{ scan_id: string; notification_id: string }>('SELECT scan_id, notification_id FROM rollout_scans WHERE scan_id = ANY($1)', [scanIds])).map((r) => [r.scan_id, r.notification_id]));
  // Every notification the batch is about, also those named only by a scan's result.
  const notifications = [...new Set([...events.flatMap((e) => ('notificationId' in e.data ? [e.data.notificationId] : [])), ...scans.values()])];
  const links = new Map<string, Array<{ rolloutId: string; agentId: string }>>();
  for (const r of notifications.length === 0 ? [] : await tx.rows<{ notification_id: string; rollout_id: string; agent_id: string }>('SELECT notification_id, rollout_id, agent_id FROM rollout_notifications WHERE notification_id = ANY($1)', [notifications])) {
    links.set(r.notification_id, [...(links.get(r.notification_id) ?? []), { rolloutId: r.rollout_id, agentId: r.agent_id }]);
  }
  const rows = new Map<string, Map<string, { updated: boolean }>>();
  const row = (rolloutId: string, agentId: string) => {
    const byRollout = rows.get(agentId) ?? new Map<string, { updated: boolean }>();
    rows.set(agentId, byRollout);
    const r = byRollout.get(rolloutId) ?? { updated: false };
    byRollout.set(rolloutId, r);
    return r;
  };
  for (const r of reconnecting.length === 0 ? [] : await tx.rows<{ rollout_id: string; agent_id: string; updated: boolean }>(`SELECT rollout_id, agent_id, outcome IS NOT DISTINCT FROM 'updated' AS updated FROM rollout_agents WHERE agent_id = ANY($1)`, [reconnecting])) {
    row(r.rollout_id, r.agent_id).updated = r.updated;
  }
  // The versions of every rollout the batch may link a notification to.
  const rollouts = [
    ...new Set([
      ...[...links.values()].flat().map((l) => l.rolloutId),
      ...events.flatMap((e) => ((e.type === 'UpdateTargeted' || e.type === 'NotificationTargetRaised' || e.type === 'RolloutJoined') && e.data.rolloutId ? [e.data.rolloutId] : [])),
      ...events.flatMap((e) => (e.type === 'UpdateTargeted' || e.type === 'NotificationTargetRaised' || e.type === 'TargetSkipped' ? (e.data.rolloutIds ?? []) : [])),
      ...[...rows.values()].flatMap((byRollout) => [...byRollout.keys()]),
    ]),
  ];
  const versions = new Map<string, RolloutVersion>(
    rollouts.length === 0
      ? []
      : (await tx.rows<{ rollout_id: string; component_type: string; version: string; pinned: boolean }>('SELECT rollout_id, component_type, version, pinned FROM rollouts WHERE rollout_id = ANY($1)', [rollouts])).map((r) => [
          r.rollout_id,
          { type: r.component_type, version: r.version, pinned: r.pinned },
        ]),
  );
  return {
    links,
    scans,
    versions,
    row,
    /** Whether the agent has a row in the rollout (loaded for agents R2 touches, or made by this batch). */
    has: (rolloutId: string, agentId: string) => rows.get(agentId)?.has(rolloutId) ?? false,
    rowsOf: (agentId: string) => rows.get(agentId) ?? new Map<string, { updated: boolean }>(),
  };
}

async function write(
  tx: Tx,
  joined: readonly Joined[],
  reasons: readonly Joined[],
  links: ReadonlyArray<{ notificationId: string; rolloutId: string; agentId: string }>,
  scans: ReadonlyArray<{ scanId: string; notificationId: string }>,
  rows: readonly RowChange[],
): Promise<void> {
  if (joined.length > 0) {
    await tx.exec(
      `INSERT INTO rollout_agents (rollout_id, agent_id, targeted, skipped_reason, via, last_change_at)
       SELECT r, a, t, s, v, at FROM unnest($1::uuid[], $2::text[], $3::bool[], $4::text[], $5::text[], $6::timestamptz[]) AS j(r, a, t, s, v, at)
       ON CONFLICT DO NOTHING`,
      [joined.map((j) => j.rolloutId), joined.map((j) => j.agentId), joined.map((j) => j.targeted), joined.map((j) => j.skippedReason), joined.map((j) => j.via ?? 'reconnect'), joined.map((j) => j.at)],
    );
  }
  if (reasons.length > 0) {
    await tx.exec(
      `UPDATE rollout_agents ra SET skipped_reason = u.s, last_change_at = greatest(ra.last_change_at, u.at)
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) AS u(r, a, s, at)
        WHERE ra.rollout_id = u.r AND ra.agent_id = u.a AND ra.via = 'reconnect' AND NOT ra.targeted`,
      [reasons.map((j) => j.rolloutId), reasons.map((j) => j.agentId), reasons.map((j) => j.skippedReason), reasons.map((j) => j.at)],
    );
  }
  if (links.length > 0) {
    await tx.exec(`INSERT INTO rollout_notifications (notification_id, rollout_id, agent_id) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[]) ON CONFLICT DO NOTHING`, [
      links.map((l) => l.notificationId),
      links.map((l) => l.rolloutId),
      links.map((l) => l.agentId),
    ]);
  }
  if (scans.length > 0) {
    await tx.exec(`INSERT INTO rollout_scans (scan_id, notification_id) SELECT * FROM unnest($1::uuid[], $2::uuid[]) ON CONFLICT DO NOTHING`, [scans.map((x) => x.scanId), scans.map((x) => x.notificationId)]);
  }
  if (rows.length === 0) return;
  const col = <T>(f: (c: RowChange) => T) => rows.map(f);
  // Updated stays updated; otherwise the batch's last word on the outcome (if it had one) wins.
  await tx.exec(
    `UPDATE rollout_agents ra SET
       attempts = ra.attempts + u.attempts, returned_attempts = ra.returned_attempts + u.returned, timed_out_attempts = ra.timed_out_attempts + u.timed_out,
       acknowledged = ra.acknowledged OR u.acknowledged,
       outcome = CASE WHEN ra.outcome = 'updated' THEN ra.outcome WHEN u.outcome_set THEN u.outcome ELSE ra.outcome END,
       update_retries = ra.update_retries + u.retries, scan_requested = ra.scan_requested OR u.scan_requested, scanned = ra.scanned OR u.scanned,
       last_change_at = greatest(ra.last_change_at, u.at),
       sent_at = coalesce(ra.sent_at, u.sent_at), acknowledged_at = coalesce(ra.acknowledged_at, u.acknowledged_at),
       outcome_at = CASE WHEN ra.outcome = 'updated' THEN ra.outcome_at WHEN u.outcome_set THEN u.outcome_at ELSE ra.outcome_at END
     FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::int[], $6::bool[], $7::bool[], $8::text[], $9::int[], $10::bool[], $11::bool[], $12::timestamptz[],
                 $13::timestamptz[], $14::timestamptz[], $15::timestamptz[])
       AS u(rollout_id, agent_id, attempts, returned, timed_out, acknowledged, outcome_set, outcome, retries, scan_requested, scanned, at, sent_at, acknowledged_at, outcome_at)
     WHERE ra.rollout_id = u.rollout_id AND ra.agent_id = u.agent_id`,
    [
      col((c) => c.rolloutId),
      col((c) => c.agentId),
      col((c) => c.attempts),
      col((c) => c.returned),
      col((c) => c.timedOut),
      col((c) => c.acknowledged),
      col((c) => c.outcome !== undefined),
      col((c) => c.outcome ?? null),
      col((c) => c.retries),
      col((c) => c.scanRequested),
      col((c) => c.scanned),
      col((c) => c.at),
      col((c) => c.sentAt),
      col((c) => c.acknowledgedAt),
      col((c) => c.outcomeAt),
    ],
  );
}



