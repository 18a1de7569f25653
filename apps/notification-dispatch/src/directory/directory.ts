import { Injectable } from '@nestjs/common';
import { AgentChanged, AgentConnected, AgentDisconnected, ComponentTarget, type FleetTarget, InstalledComponent, type PinState, versionKey } from '@herald/contracts';
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

/** A catalog row's target: the pin (marked) when there is one, else the newest version. */
const EFFECTIVE = `(COALESCE(pin || '{"pinned": true}'::jsonb, target) || CASE WHEN pin_sequence > 0 THEN jsonb_build_object('pinSequence', pin_sequence) ELSE '{}'::jsonb END)`;

const sameTarget = (a: FleetTarget, b: FleetTarget) => a.version === b.version && !!a.pinned === !!b.pinned;

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

  /** Keeps the newer version of each component type (a pinned type keeps its pin besides). */
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

  /**
   * Applies a type's pin, unless the catalog has one from later in component-download's history
   * (events arrive out of order). Returns the type's target before and after when it changed.
   */
  async applyPin(tx: Tx, componentType: string, pin: PinState): Promise<{ before: FleetTarget; after: FleetTarget } | null> {
    const before = await tx.one<{ target: FleetTarget; pin_sequence: string }>(`SELECT ${EFFECTIVE} AS target, pin_sequence FROM catalog WHERE component_type = $1 FOR UPDATE`, [componentType]);
    if (!before || Number(before.pin_sequence) >= pin.sequence) return null;
    const rows = await tx.rows<{ target: FleetTarget }>(
      `UPDATE catalog SET pin = $2::jsonb, pin_sequence = $3, pin_rollout_id = NULL, updated_at = now() WHERE component_type = $1 RETURNING ${EFFECTIVE} AS target`,
      [componentType, pin.pinned ? JSON.stringify(pin.pinned) : null, pin.sequence],
    );
    const after = rows[0]!.target;
    return sameTarget(before.target, after) ? null : { before: before.target, after };
  }

  /** The rollout that moves agents to a type's target: R1's for the newest version, or the pin's. */
  async setRolloutOf(tx: Tx, target: FleetTarget, rolloutId: string): Promise<void> {
    if (target.pinned) await tx.exec(`UPDATE catalog SET pin_rollout_id = $3 WHERE component_type = $1 AND pin->>'version' = $2`, [target.type, target.version, rolloutId]);
    else await tx.exec(`UPDATE catalog SET rollout_id = $3 WHERE component_type = $1 AND target->>'version' = $2`, [target.type, target.version, rolloutId]);
  }

  /**
   * The rollout that brought each type's target, where it came with one: a function from the
   * targets an agent is to reach to their rollouts (one query for a whole batch of agents).
   */
  async rolloutsOfNewest(tx: Tx): Promise<(targets: readonly FleetTarget[]) => string[]> {
    const rows = await tx.rows<{ component_type: string; version: string; rollout_id: string }>(
      `SELECT component_type, ${EFFECTIVE}->>'version' AS version, CASE WHEN pin IS NULL THEN rollout_id ELSE pin_rollout_id END AS rollout_id FROM catalog`,
    );
    const byVersion = new Map(rows.filter((r) => r.rollout_id).map((r) => [`${r.component_type}@${r.version}`, r.rollout_id]));
    return (targets) => targets.flatMap((t) => byVersion.get(`${t.type}@${t.version}`) ?? []);
  }

  /** What the fleet is to run: each type's newest version, or the version it is pinned to (marked pinned). */
  async catalog(tx: Tx): Promise<FleetTarget[]> {
    return (await tx.rows<{ target: FleetTarget }>(`SELECT ${EFFECTIVE} AS target FROM catalog ORDER BY component_type`)).map((r) => r.target);
  }

  /** Whether a type is pinned now. */
  async pinned(tx: Tx, componentType: string): Promise<boolean> {
    return (await tx.one<{ pinned: boolean }>('SELECT pin IS NOT NULL AS pinned FROM catalog WHERE component_type = $1', [componentType]))?.pinned ?? false;
  }
}
