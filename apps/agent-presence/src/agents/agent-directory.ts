import { Injectable } from '@nestjs/common';
import { containsPattern } from '@herald/common';
import { Database } from '@herald/event-store';
import type { InstalledComponent, Labels } from '@herald/contracts';

export type AgentStatus = 'online' | 'offline' | 'independent';

export interface AgentView {
  agentId: string;
  hostname: string;
  agentVersion: string;
  status: AgentStatus;
  independentMode: boolean;
  privileges: { independentMode: boolean };
  /** What admins see and filter by: the agent's own labels with admins' over them. */
  labels: Labels;
  /** The labels admins set (a subset of `labels`). */
  adminLabels: Labels;
  /** The patch formats the agent declared in its last hello; null: it declared none (herald-delta-1 only, protocol before 1.3). */
  patchFormats: string[] | null;
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
  /** Part of the agent id or hostname, any case. */
  q?: string;
  /** Agents that have this component (at `version`, when given). */
  component?: string;
  version?: string;
  /** Agents that carry every one of these labels. */
  labels?: Labels;
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
  labels: Labels;
  admin_labels: Labels;
  patch_formats: string[] | null;
  first_seen_at: Date;
  last_connected_at: Date;
  last_disconnected_at: Date | null;
  disconnect_reason: string | null;
  last_seen_at: Date;
  components: Array<{ type: string; version: string; latest: string | null; outdated: boolean }>;
  outdated: boolean;
}

const STATUS_SQL = `CASE WHEN NOT a.online THEN 'offline' WHEN a.independent_mode THEN 'independent' ELSE 'online' END`;

/** Whether agent `a` has a component older than the newest the server knows. */
const OUTDATED_SQL = `EXISTS (SELECT 1 FROM agent_components c JOIN latest_components l USING (component_type)
                  WHERE c.agent_id = a.agent_id AND c.version_key < l.version_key)`;

const SELECT = `
  SELECT a.*,
         coalesce((SELECT json_agg(json_build_object('type', c.component_type, 'version', c.version, 'latest', l.version,
                                                     'outdated', coalesce(c.version_key < l.version_key, false))
                                   ORDER BY c.component_type)
                     FROM agent_components c LEFT JOIN latest_components l USING (component_type)
                    WHERE c.agent_id = a.agent_id), '[]') AS components,
         ${OUTDATED_SQL} AS outdated
    FROM agents a`;

/** The WHERE clause of a filter over agents `a`, with its parameters (and a way to add more). */
function whereOf(filter: Omit<AgentFilter, 'limit' | 'offset'>, where: string[] = [], params: unknown[] = []) {
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.status) where.push(`${STATUS_SQL} = ${param(filter.status)}`);
  if (filter.q) {
    const like = param(containsPattern(filter.q));
    where.push(`(a.agent_id ILIKE ${like} OR a.hostname ILIKE ${like})`);
  }
  if (filter.component) {
    const version = filter.version === undefined ? '' : ` AND c.version = ${param(filter.version)}`;
    where.push(`EXISTS (SELECT 1 FROM agent_components c WHERE c.agent_id = a.agent_id AND c.component_type = ${param(filter.component)}${version})`);
  }
  if (filter.labels && Object.keys(filter.labels).length > 0) where.push(`a.labels @> ${param(JSON.stringify(filter.labels))}::jsonb`);
  if (filter.outdated !== undefined) where.push(`${filter.outdated ? '' : 'NOT '}${OUTDATED_SQL}`);
  return { clause: where.length ? `WHERE ${where.join(' AND ')}` : '', params, param };
}

/** Queries over the agents read model. */
@Injectable()
export class AgentDirectory {
  constructor(private readonly db: Database) {}

  /**
   * A page of agents in natural id order (sim-2 before sim-10) and how many match in all, from
   * one snapshot. The filters pick agent ids first (from the index in that order); only the page's
   * agents get their components against the latest versions.
   */
  async list(filter: AgentFilter): Promise<{ total: number; agents: AgentView[] }> {
    const { clause, params, param } = whereOf(filter);
    return this.db.snapshot(async (sql) => {
      const total = await sql.one<{ n: string }>(`SELECT count(*) AS n FROM agents a ${clause}`, params);
      const page = `SELECT a.agent_id FROM agents a ${clause} ORDER BY a.agent_id COLLATE herald_natural LIMIT ${param(filter.limit)} OFFSET ${param(filter.offset)}`;
      const rows = await sql.rows<Row>(`${SELECT} WHERE a.agent_id IN (${page}) ORDER BY a.agent_id COLLATE herald_natural`, params);
      return { total: Number(total?.n ?? 0), agents: rows.map(toView) };
    });
  }

  /** The ids of the agents the filter matches, after `after` in id order, at most `limit` (for bulk actions). */
  async ids(filter: Omit<AgentFilter, 'limit' | 'offset'>, after: string, limit: number): Promise<string[]> {
    const { clause, params, param } = whereOf(filter, [`a.agent_id > $1`], [after]);
    const rows = await this.db.session((sql) => sql.rows<{ agent_id: string }>(`SELECT a.agent_id FROM agents a ${clause} ORDER BY a.agent_id LIMIT ${param(limit)}`, params));
    return rows.map((r) => r.agent_id);
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
    labels: r.labels,
    adminLabels: r.admin_labels,
    patchFormats: r.patch_formats,
    components: r.components,
    outdated: r.outdated,
    firstSeenAt: r.first_seen_at,
    lastConnectedAt: r.last_connected_at,
    lastDisconnectedAt: r.last_disconnected_at,
    disconnectReason: r.disconnect_reason,
    lastSeenAt: r.last_seen_at,
  };
}
