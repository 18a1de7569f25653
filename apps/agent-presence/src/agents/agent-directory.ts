import { Injectable } from '@nestjs/common';
import { Database } from '@herald/event-store';
import type { InstalledComponent } from '@herald/contracts';

export type AgentStatus = 'online' | 'offline' | 'independent';

export interface AgentView {
  agentId: string;
  hostname: string;
  agentVersion: string;
  status: AgentStatus;
  independentMode: boolean;
  privileges: { independentMode: boolean };
  components: Array<InstalledComponent & { latest: string | null; outdated: boolean }>;
  outdated: boolean;
  firstSeenAt: Date;
  lastConnectedAt: Date;
  lastDisconnectedAt: Date | null;
  disconnectReason: string | null;
  lastSeenAt: Date;
}

export interface AgentFilter {
  status?: AgentStatus;
  outdated?: boolean;
  limit: number;
  offset: number;
}

interface Row {
  agent_id: string;
  hostname: string;
  agent_version: string;
  online: boolean;
  independent_mode: boolean;
  independent_privilege: boolean;
  first_seen_at: Date;
  last_connected_at: Date;
  last_disconnected_at: Date | null;
  disconnect_reason: string | null;
  last_seen_at: Date;
  components: Array<{ type: string; version: string; latest: string | null; outdated: boolean }>;
  outdated: boolean;
}

const STATUS_SQL = `CASE WHEN NOT a.online THEN 'offline' WHEN a.independent_mode THEN 'independent' ELSE 'online' END`;

const SELECT = `
  SELECT a.*,
         coalesce((SELECT json_agg(json_build_object('type', c.component_type, 'version', c.version, 'latest', l.version,
                                                     'outdated', coalesce(c.version_key < l.version_key, false))
                                   ORDER BY c.component_type)
                     FROM agent_components c LEFT JOIN latest_components l USING (component_type)
                    WHERE c.agent_id = a.agent_id), '[]') AS components,
         EXISTS (SELECT 1 FROM agent_components c JOIN latest_components l USING (component_type)
                  WHERE c.agent_id = a.agent_id AND c.version_key < l.version_key) AS outdated
    FROM agents a`;

/** Queries over the agents read model. */
@Injectable()
export class AgentDirectory {
  constructor(private readonly db: Database) {}

  async list(filter: AgentFilter): Promise<{ total: number; agents: AgentView[] }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status) {
      params.push(filter.status);
      where.push(`${STATUS_SQL} = $${params.length}`);
    }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const outdatedClause = filter.outdated === undefined ? '' : `WHERE outdated = ${filter.outdated ? 'true' : 'false'}`;
    return this.db.session(async (sql) => {
      const rows = await sql.rows<Row & { total: string }>(
        `SELECT *, count(*) OVER () AS total FROM (${SELECT} ${clause}) x ${outdatedClause}
          ORDER BY agent_id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
        [...params, filter.limit, filter.offset],
      );
      return { total: Number(rows[0]?.total ?? 0), agents: rows.map(toView) };
    });
  }

  async get(agentId: string): Promise<AgentView | undefined> {
    const row = await this.db.session((sql) => sql.one<Row>(`${SELECT} WHERE a.agent_id = $1`, [agentId]));
    return row && toView(row);
  }

  /** Counts by status and outdated, for the dashboard and metrics. */
  async summary(): Promise<Record<AgentStatus, number> & { outdated: number; total: number }> {
    const row = await this.db.session((sql) =>
      sql.one<Record<string, string>>(
        `SELECT count(*) FILTER (WHERE status = 'online') AS online, count(*) FILTER (WHERE status = 'offline') AS offline,
                count(*) FILTER (WHERE status = 'independent') AS independent, count(*) FILTER (WHERE outdated) AS outdated,
                count(*) AS total
           FROM (SELECT ${STATUS_SQL} AS status,
                        EXISTS (SELECT 1 FROM agent_components c JOIN latest_components l USING (component_type)
                                 WHERE c.agent_id = a.agent_id AND c.version_key < l.version_key) AS outdated
                   FROM agents a) s`,
      ),
    );
    return {
      online: Number(row?.online ?? 0),
      offline: Number(row?.offline ?? 0),
      independent: Number(row?.independent ?? 0),
      outdated: Number(row?.outdated ?? 0),
      total: Number(row?.total ?? 0),
    };
  }
}

function toView(r: Row): AgentView {
  return {
    agentId: r.agent_id,
    hostname: r.hostname,
    agentVersion: r.agent_version,
    status: !r.online ? 'offline' : r.independent_mode ? 'independent' : 'online',
    independentMode: r.independent_mode,
    privileges: { independentMode: r.independent_privilege },
    components: r.components,
    outdated: r.outdated,
    firstSeenAt: r.first_seen_at,
    lastConnectedAt: r.last_connected_at,
    lastDisconnectedAt: r.last_disconnected_at,
    disconnectReason: r.disconnect_reason,
    lastSeenAt: r.last_seen_at,
  };
}
