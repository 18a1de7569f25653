import { Injectable } from '@nestjs/common';
import { AgentChanged, AgentConnected, AgentDisconnected, ComponentTarget, InstalledComponent, versionKey } from '@herald/contracts';
import type { Tx } from '@herald/event-store';
import type { DirectoryAgent } from '../rollouts/rollout.decider';


interface AgentRow {
  agent_id: string;
  online: boolean;
  independent_mode: boolean;
  independent_privilege: boolean;
  components: InstalledComponent[];
  labels: Record<string, string>;
}

const toAgent = (r: AgentRow): DirectoryAgent => ({
  agentId: r.agent_id,
  online: r.online,
  independentMode: r.independent_mode,
  independentPrivilege: r.independent_privilege,
  components: r.components,
  labels: r.labels,
});

/**
 * What dispatch knows of other services' facts: agents (from agent-presence) and the newest
 * version of each component (from component-download). Updated from their integration events;
 * an event older than what is stored (by sequence or version) changes nothing.
 */
@Injectable()
export class Directory {
  /**
   * Applies an agent fact. Events are consumed side by side, so they can arrive out of order:
   * whether the agent is online and its other facts (mode, privilege, components) are each
   * kept from the newest event that carried them (by the agent stream's position), and an older
   * event changes only what it is newer on. True when this event's online fact was applied (for
   * agent.connected: the agent is online now, by this connection).
   */
  async applyAgentEvent(tx: Tx, e: AgentConnected | AgentDisconnected | AgentChanged): Promise<boolean> {
    if (e.type === 'agent.disconnected') {
      // Before the facts ever arrived: a row that only says offline, until the facts follow.
      const rows = await tx.rows(
        `INSERT INTO directory_agents AS d (agent_id, online, independent_mode, independent_privilege, components, sequence, online_sequence)
         VALUES ($1, false, false, false, '[]', 0, $2)
         ON CONFLICT (agent_id) DO UPDATE SET online = false, online_sequence = EXCLUDED.online_sequence, updated_at = now()
         WHERE d.online_sequence < EXCLUDED.online_sequence
         RETURNING agent_id`,
        [e.agentId, e.sequence],
      );
      return rows.length === 1;
    }
    const online = e.type === 'agent.connected' ? true : e.online;
    const newer = (column: string) => `CASE WHEN d.sequence < EXCLUDED.sequence THEN EXCLUDED.${column} ELSE d.${column} END`;
    const rows = await tx.rows<{ online_applied: boolean }>(
      `INSERT INTO directory_agents AS d (agent_id, online, independent_mode, independent_privilege, components, sequence, online_sequence, hostname, labels)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $6, $7, $8::jsonb)
       ON CONFLICT (agent_id) DO UPDATE SET
         independent_mode = ${newer('independent_mode')}, independent_privilege = ${newer('independent_privilege')}, hostname = ${newer('hostname')},
         labels = ${newer('labels')},
         components = ${newer('components')}, sequence = greatest(d.sequence, EXCLUDED.sequence),
         online = CASE WHEN d.online_sequence < EXCLUDED.online_sequence THEN EXCLUDED.online ELSE d.online END,
         online_sequence = greatest(d.online_sequence, EXCLUDED.online_sequence), updated_at = now()
       WHERE d.sequence < EXCLUDED.sequence OR d.online_sequence < EXCLUDED.online_sequence
       RETURNING online_sequence = $6 AS online_applied`,
      [e.agentId, online, e.independentMode, e.independentPrivilege, JSON.stringify(e.components), e.sequence, e.hostname, JSON.stringify(e.labels ?? {})],
    );
    return rows[0]?.online_applied === true;
  }

  async agent(tx: Tx, agentId: string): Promise<DirectoryAgent | undefined> {
    const row = await tx.one<AgentRow>('SELECT * FROM directory_agents WHERE agent_id = $1', [agentId]);
    return row && toAgent(row);
  }

  async agentsByIds(tx: Tx, agentIds: readonly string[]): Promise<DirectoryAgent[]> {
    return (await tx.rows<AgentRow>('SELECT * FROM directory_agents WHERE agent_id = ANY($1)', [agentIds])).map(toAgent);
  }

  async agents(tx: Tx): Promise<DirectoryAgent[]> {
    return (await tx.rows<AgentRow>('SELECT * FROM directory_agents ORDER BY agent_id')).map(toAgent);
  }

  /** Keeps the newer version of each component type. */
  async applyCatalog(tx: Tx, targets: readonly ComponentTarget[]): Promise<void> {
    for (const t of targets) {
      await tx.exec(
        `INSERT INTO catalog (component_type, version_key, target) VALUES ($1, $2::integer[], $3::jsonb)
         ON CONFLICT (component_type) DO UPDATE SET version_key = EXCLUDED.version_key, target = EXCLUDED.target, updated_at = now()
         WHERE catalog.version_key < EXCLUDED.version_key`,
        [t.type, versionKey(t.version), JSON.stringify(t)],
      );
    }
  }

  /** The rollout that brought the newest version of a component type (set when R1 plans it). */
  async setRolloutOf(tx: Tx, target: Pick<ComponentTarget, 'type' | 'version'>, rolloutId: string): Promise<void> {
    await tx.exec(`UPDATE catalog SET rollout_id = $3 WHERE component_type = $1 AND target->>'version' = $2`, [target.type, target.version, rolloutId]);
  }

  /**
   * The rollout that brought each newest version, where it came with one: a function from the
   * versions an agent is behind on to their rollouts (one query for a whole batch of agents).
   */
  async rolloutsOfNewest(tx: Tx): Promise<(targets: readonly ComponentTarget[]) => string[]> {
    const rows = await tx.rows<{ component_type: string; version: string; rollout_id: string }>(
      `SELECT component_type, target->>'version' AS version, rollout_id FROM catalog WHERE rollout_id IS NOT NULL`,
    );
    const byVersion = new Map(rows.map((r) => [`${r.component_type}@${r.version}`, r.rollout_id]));
    return (targets) => targets.flatMap((t) => byVersion.get(`${t.type}@${t.version}`) ?? []);
  }

  async catalog(tx: Tx): Promise<ComponentTarget[]> {
    return (await tx.rows<{ target: ComponentTarget }>('SELECT target FROM catalog ORDER BY component_type')).map((r) => r.target);
  }
}
