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
}

const toAgent = (r: AgentRow): DirectoryAgent => ({
  agentId: r.agent_id,
  online: r.online,
  independentMode: r.independent_mode,
  independentPrivilege: r.independent_privilege,
  components: r.components,
});

/**
 * What dispatch knows of other services' facts: agents (from agent-presence) and the newest
 * version of each component (from component-download). Updated from their integration events;
 * an event older than what is stored (by sequence or version) changes nothing.
 */
@Injectable()
export class Directory {
  /** Applies an agent fact; false when it was older than what is stored. */
  async applyAgentEvent(tx: Tx, e: AgentConnected | AgentDisconnected | AgentChanged): Promise<boolean> {
    if (e.type === 'agent.disconnected') {
      return (await tx.exec('UPDATE directory_agents SET online = false, sequence = $2, updated_at = now() WHERE agent_id = $1 AND sequence < $2', [e.agentId, e.sequence])) === 1;
    }
    const online = e.type === 'agent.connected' ? true : e.online;
    const changed = await tx.exec(
      `INSERT INTO directory_agents (agent_id, online, independent_mode, independent_privilege, components, sequence)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6)
       ON CONFLICT (agent_id) DO UPDATE SET online = EXCLUDED.online, independent_mode = EXCLUDED.independent_mode,
         independent_privilege = EXCLUDED.independent_privilege, components = EXCLUDED.components,
         sequence = EXCLUDED.sequence, updated_at = now()
       WHERE directory_agents.sequence < EXCLUDED.sequence`,
      [e.agentId, online, e.independentMode, e.independentPrivilege, JSON.stringify(e.components), e.sequence],
    );
    return changed === 1;
  }

  async agent(tx: Tx, agentId: string): Promise<DirectoryAgent | undefined> {
    const row = await tx.one<AgentRow>('SELECT * FROM directory_agents WHERE agent_id = $1', [agentId]);
    return row && toAgent(row);
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

  async catalog(tx: Tx): Promise<ComponentTarget[]> {
    return (await tx.rows<{ target: ComponentTarget }>('SELECT target FROM catalog ORDER BY component_type')).map((r) => r.target);
  }
}
