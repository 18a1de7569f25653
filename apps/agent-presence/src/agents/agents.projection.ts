import { type InstalledComponent, versionKey } from '@herald/contracts';
import type { Projection, Tx } from '@herald/event-store';
import type { AgentEvent } from './agent.decider';

async function replaceComponents(tx: Tx, agentId: string, components: readonly InstalledComponent[]): Promise<void> {
  await tx.exec('DELETE FROM agent_components WHERE agent_id = $1', [agentId]);
  for (const c of components) {
    await tx.exec(
      `INSERT INTO agent_components (agent_id, component_type, version, version_key)
       VALUES ($1, $2, $3, $4::integer[])`,
      [agentId, c.type, c.version, versionKey(c.version)],
    );
  }
}

/** The agents table: current status, privileges and components of every agent. */
export const agentsProjection: Projection<AgentEvent> = {
  name: 'agents',
  eventTypes: ['AgentConnected', 'AgentDisconnected', 'AgentComponentsReported', 'IndependentPrivilegeChanged'],
  async apply(tx, events) {
    for (const e of events) {
      const seq = e.streamPosition;
      switch (e.type) {
        case 'AgentConnected': {
          const d = e.data;
          await tx.exec(
            `INSERT INTO agents (agent_id, hostname, agent_version, boot_id, online, independent_mode,
                                 first_seen_at, last_connected_at, last_seen_at, sequence)
             VALUES ($1, $2, $3, $4, true, $5, $6, $6, $6, $7)
             ON CONFLICT (agent_id) DO UPDATE SET
               hostname = EXCLUDED.hostname,
               agent_version = CASE WHEN EXCLUDED.agent_version = '' THEN agents.agent_version ELSE EXCLUDED.agent_version END,
               boot_id = EXCLUDED.boot_id, online = true, independent_mode = EXCLUDED.independent_mode,
               last_connected_at = EXCLUDED.last_connected_at,
               last_seen_at = greatest(agents.last_seen_at, EXCLUDED.last_seen_at),
               sequence = EXCLUDED.sequence`,
            [d.agentId, d.hostname, d.agentVersion, d.bootId, d.independentMode, d.at, seq],
          );
          await replaceComponents(tx, d.agentId, d.components);
          break;
        }
        case 'AgentDisconnected':
          await tx.exec(
            `UPDATE agents SET online = false, last_disconnected_at = $2, disconnect_reason = $3, sequence = $4 WHERE agent_id = $1`,
            [e.data.agentId, e.data.at, e.data.reason, seq],
          );
          break;
        case 'AgentComponentsReported':
          await replaceComponents(tx, e.data.agentId, e.data.components);
          await tx.exec('UPDATE agents SET sequence = $2 WHERE agent_id = $1', [e.data.agentId, seq]);
          break;
        case 'IndependentPrivilegeChanged':
          await tx.exec('UPDATE agents SET independent_privilege = $2, sequence = $3 WHERE agent_id = $1', [e.data.agentId, e.data.granted, seq]);
          break;
      }
    }
  },
  async reset(tx: Tx) {
    await tx.exec('TRUNCATE agents CASCADE');
  },
};
