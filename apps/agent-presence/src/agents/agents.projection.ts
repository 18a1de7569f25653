import { versionKey } from '@herald/contracts';
import type { Projection, Tx } from '@herald/event-store';
import type { AgentEvent } from './agent.decider';

type Positioned<T extends AgentEvent['type']> = Extract<AgentEvent, { type: T }> & { streamPosition: number };

/**
 * One statement per kind of change for a whole run of events (see `runs`): a registration storm
 * of a thousand hellos costs three statements, not four thousand.
 */
const applyRun: { [T in AgentEvent['type']]?: (tx: Tx, run: Array<Positioned<T>>) => Promise<void> } = {
  async AgentConnected(tx, run) {
    await tx.exec(
      `INSERT INTO agents (agent_id, hostname, agent_version, boot_id, online, independent_mode,
                           first_seen_at, last_connected_at, last_seen_at, sequence, reported_labels, labels, patch_formats)
       SELECT a.agent_id, a.hostname, a.agent_version, a.boot_id, true, a.independent_mode, a.at, a.at, a.at, a.seq,
              coalesce(a.labels, '{}'), coalesce(a.labels, '{}'), a.patch_formats
         FROM jsonb_to_recordset($1::jsonb) AS a(agent_id text, hostname text, agent_version text, boot_id text,
                                                independent_mode boolean, at timestamptz, seq integer, labels jsonb, patch_formats text[])
       ON CONFLICT (agent_id) DO UPDATE SET
         hostname = EXCLUDED.hostname,
         reported_labels = EXCLUDED.reported_labels, labels = EXCLUDED.reported_labels || agents.admin_labels,
         agent_version = CASE WHEN EXCLUDED.agent_version = '' THEN agents.agent_version ELSE EXCLUDED.agent_version END,
         boot_id = EXCLUDED.boot_id, online = true, independent_mode = EXCLUDED.independent_mode, patch_formats = EXCLUDED.patch_formats,
         last_connected_at = EXCLUDED.last_connected_at,
         last_seen_at = greatest(agents.last_seen_at, EXCLUDED.last_seen_at),
         sequence = EXCLUDED.sequence`,
      [
        JSON.stringify(
          run.map(({ data: d, streamPosition }) => ({
            agent_id: d.agentId,
            hostname: d.hostname,
            agent_version: d.agentVersion,
            boot_id: d.bootId,
            independent_mode: d.independentMode,
            labels: d.labels ?? {},
            patch_formats: d.patchFormats ?? null,
            at: d.at,
            seq: streamPosition,
          })),
        ),
      ],
    );
    await replaceComponents(tx, run);
  },
  async AgentDisconnected(tx, run) {
    await tx.exec(
      `UPDATE agents SET online = false, last_disconnected_at = u.at, disconnect_reason = u.reason, sequence = u.seq
         FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::integer[]) AS u(agent_id, at, reason, seq)
        WHERE agents.agent_id = u.agent_id`,
      [run.map((e) => e.data.agentId), run.map((e) => e.data.at), run.map((e) => e.data.reason), run.map((e) => e.streamPosition)],
    );
  },
  async AgentComponentsReported(tx, run) {
    await replaceComponents(tx, run);
    await tx.exec(`UPDATE agents SET sequence = u.seq FROM unnest($1::text[], $2::integer[]) AS u(agent_id, seq) WHERE agents.agent_id = u.agent_id`, [
      run.map((e) => e.data.agentId),
      run.map((e) => e.streamPosition),
    ]);
  },
  async AgentLabelsChanged(tx, run) {
    await tx.exec(
      `UPDATE agents SET admin_labels = n.admin_labels, labels = agents.reported_labels || n.admin_labels, sequence = n.seq
         FROM (SELECT u.agent_id, u.seq, (a.admin_labels || u.set) - ARRAY(SELECT jsonb_array_elements_text(u.removed)) AS admin_labels
                 FROM jsonb_to_recordset($1::jsonb) AS u(agent_id text, set jsonb, removed jsonb, seq integer)
                 JOIN agents a USING (agent_id)) n
        WHERE agents.agent_id = n.agent_id`,
      [JSON.stringify(run.map((e) => ({ agent_id: e.data.agentId, set: e.data.set, removed: e.data.removed, seq: e.streamPosition })))],
    );
  },
  async IndependentPrivilegeChanged(tx, run) {
    await tx.exec(
      `UPDATE agents SET independent_privilege = u.granted, sequence = u.seq
         FROM unnest($1::text[], $2::boolean[], $3::integer[]) AS u(agent_id, granted, seq) WHERE agents.agent_id = u.agent_id`,
      [run.map((e) => e.data.agentId), run.map((e) => e.data.granted), run.map((e) => e.streamPosition)],
    );
  },
};

async function replaceComponents(tx: Tx, run: ReadonlyArray<Positioned<'AgentConnected' | 'AgentComponentsReported'>>): Promise<void> {
  await tx.exec('DELETE FROM agent_components WHERE agent_id = ANY($1::text[])', [run.map((e) => e.data.agentId)]);
  const rows = run.flatMap((e) => e.data.components.map((c) => ({ agent_id: e.data.agentId, component_type: c.type, version: c.version, version_key: versionKey(c.version) })));
  if (rows.length === 0) return;
  await tx.exec(
    `INSERT INTO agent_components (agent_id, component_type, version, version_key)
     SELECT * FROM jsonb_to_recordset($1::jsonb) AS c(agent_id text, component_type text, version text, version_key integer[])`,
    [JSON.stringify(rows)],
  );
}

/**
 * Cuts a batch, in order, into runs of one event type in which no agent appears twice. Applying
 * the runs one after the other gives what applying the events one by one gives, whatever the
 * batch size.
 */
export function runs<E extends { type: string; data: { agentId: string } }>(events: readonly E[]): E[][] {
  const out: E[][] = [];
  let run: E[] = [];
  let agents = new Set<string>();
  for (const e of events) {
    if (run.length > 0 && (run[0].type !== e.type || agents.has(e.data.agentId))) {
      out.push(run);
      run = [];
      agents = new Set();
    }
    run.push(e);
    agents.add(e.data.agentId);
  }
  if (run.length > 0) out.push(run);
  return out;
}

/** The agents table: current status, privileges and components of every agent. */
export const agentsProjection: Projection<AgentEvent> = {
  name: 'agents',
  eventTypes: ['AgentConnected', 'AgentDisconnected', 'AgentComponentsReported', 'IndependentPrivilegeChanged', 'AgentLabelsChanged'],
  async apply(tx, events) {
    for (const run of runs(events)) {
      const apply = applyRun[run[0].type] as ((tx: Tx, run: readonly unknown[]) => Promise<void>) | undefined;
      if (apply) await apply(tx, run);
    }
  },
  async reset(tx: Tx) {
    await tx.exec('TRUNCATE agents CASCADE');
  },
};
