import { Injectable } from '@nestjs/common';
import { stringify } from 'csv-stringify/sync';
import { Database, type Tx } from '@herald/event-store';

/** One agent's component that is older than the newest version dispatch knows. */
export interface AgentBehind {
  agentId: string;
  online: boolean;
  componentType: string;
  installed: string;
  latest: string;
  /** How many announced versions of the component are newer than the installed one (at least 1). */
  versionsBehind: number;
  /** When the first version it lacks was announced (its rollout); null when dispatch has no rollout for it. */
  behindSince: Date | null;
}

export interface ComponentCompliance {
  componentType: string;
  latest: string;
  /** Agents that report the component. */
  agents: number;
  upToDate: number;
  behind: number;
  /** Agents by how many versions they are behind: 0 (up to date), 1, 2, … */
  byVersionsBehind: Array<{ versionsBehind: number; agents: number }>;
  /** When the longest-waiting agent's first missing version was announced. */
  oldestBehindSince: Date | null;
}

// A version as a key that compares numerically part by part (versions are 1–4 numbers, see
// @herald/contracts versionKey); the catalog stores its newest versions' keys the same way.
const key = (v: string) => `(string_to_array(${v}, '.')::int[] || array_fill(0, ARRAY[4 - cardinality(string_to_array(${v}, '.'))]))`;

/**
 * Every (agent, component) with the versions behind it and since when: the components agents
 * report (directory), against the newest version of each (catalog) and the versions announced
 * before it (the rollouts, one per version, with when it came). Worked out once per distinct
 * installed version, not per agent: a fleet runs a handful of versions of each component
 * (MATERIALIZED, or the planner works it out again for every agent after the join).
 */
const INSTALLED = `directory_agents d, jsonb_to_recordset(d.components) AS x(type text, version text)`;
const PRELUDE = `
  WITH installed AS MATERIALIZED (
    SELECT x.type, x.version, count(*) AS agents FROM ${INSTALLED} GROUP BY x.type, x.version
  ), announced AS (
    SELECT component_type AS type, min(started_at) AS at, ${key('version')} AS key
      FROM rollouts GROUP BY component_type, version
  ), standing AS MATERIALIZED (
    SELECT v.type, v.version, v.agents, c.target->>'version' AS latest,
           CASE WHEN v.key >= c.version_key THEN 0
                ELSE greatest(1, (SELECT count(*) FROM announced a WHERE a.type = v.type AND a.key > v.key AND a.key <= c.version_key)) END AS behind,
           CASE WHEN v.key >= c.version_key THEN NULL
                ELSE (SELECT min(a.at) FROM announced a WHERE a.type = v.type AND a.key > v.key AND a.key <= c.version_key) END AS since
      FROM (SELECT type, version, agents, ${key('version')} AS key FROM installed) v
      JOIN catalog c ON c.component_type = v.type
  )`;

/** Per agent and component (a second pass over the agents, joined to the few versions in use). */
const STANDING = `${PRELUDE}
  SELECT d.agent_id, d.online, x.type, x.version, s.latest, s.behind, s.since
    FROM ${INSTALLED} JOIN standing s ON s.type = x.type AND s.version = x.version`;

/** Per installed version, with how many agents run it: what the summary and the metric need (one pass). */
const BY_VERSION = `${PRELUDE} SELECT type, latest, behind, since, agents FROM standing`;

interface StandingRow {
  agent_id: string;
  online: boolean;
  type: string;
  version: string;
  latest: string;
  behind: string;
  since: Date | null;
}

/** Compliance: which agents run older versions than the newest, by how many, and since when. */
@Injectable()
export class ComplianceViews {
  constructor(private readonly db: Database) {}

  /**
   * A read without JIT: the planner cannot know how many components each agent reports, guesses
   * 100, and at fleet size would spend a second compiling a query that runs in a fraction of it.
   */
  private read<T>(fn: (sql: Tx) => Promise<T>): Promise<T> {
    // One snapshot, too: a page of agents behind and its total agree.
    return this.db.snapshot(async (tx) => {
      await tx.exec('SET LOCAL jit = off');
      return fn(tx);
    });
  }

  async summary(): Promise<ComponentCompliance[]> {
    const rows = await this.read((sql) =>
      sql.rows<{ type: string; latest: string; behind: string; agents: string; since: Date | null }>(
        `SELECT type, latest, behind, sum(agents) AS agents, min(since) AS since FROM (${BY_VERSION}) s GROUP BY type, latest, behind ORDER BY type, behind`,
      ),
    );
    const byType = new Map<string, ComponentCompliance>();
    for (const r of rows) {
      const c = byType.get(r.type) ?? { componentType: r.type, latest: r.latest, agents: 0, upToDate: 0, behind: 0, byVersionsBehind: [], oldestBehindSince: null };
      const n = Number(r.agents);
      const behind = Number(r.behind);
      c.agents += n;
      if (behind === 0) c.upToDate += n;
      else c.behind += n;
      c.byVersionsBehind.push({ versionsBehind: behind, agents: n });
      if (r.since && (!c.oldestBehindSince || r.since < c.oldestBehindSince)) c.oldestBehindSince = r.since;
      byType.set(r.type, c);
    }
    return [...byType.values()];
  }

  /** Agents behind, the longest-waiting first; optionally one component, and at least `minBehind` versions. */
  async behind(filter: { componentType?: string; minBehind: number; limit: number; offset: number }): Promise<{ total: number; agents: AgentBehind[] }> {
    return this.read(async (sql) => {
      const where = `WHERE behind >= $1 AND ($2::text IS NULL OR type = $2)`;
      const params = [Math.max(1, filter.minBehind), filter.componentType ?? null];
      const total = await sql.one<{ n: string }>(`SELECT count(*) AS n FROM (${STANDING}) s ${where}`, params);
      const rows = await sql.rows<StandingRow>(`SELECT * FROM (${STANDING}) s ${where} ORDER BY since NULLS LAST, behind DESC, agent_id, type LIMIT $3 OFFSET $4`, [
        ...params,
        filter.limit,
        filter.offset,
      ]);
      return { total: Number(total?.n ?? 0), agents: rows.map(toAgent) };
    });
  }

  /** Agents behind per component, for the metric. */
  async behindCounts(): Promise<Array<{ componentType: string; agents: number }>> {
    const rows = await this.read((sql) => sql.rows<{ type: string; n: string }>(`SELECT type, coalesce(sum(agents) FILTER (WHERE behind > 0), 0) AS n FROM (${BY_VERSION}) s GROUP BY type`));
    return rows.map((r) => ({ componentType: r.type, agents: Number(r.n) }));
  }
}

const toAgent = (r: StandingRow): AgentBehind => ({
  agentId: r.agent_id,
  online: r.online,
  componentType: r.type,
  installed: r.version,
  latest: r.latest,
  versionsBehind: Number(r.behind),
  behindSince: r.since,
});

/**
 * RFC 4180 CSV (csv-stringify): a header line, then one line per agent and component. Fields a
 * spreadsheet would take for a formula (an agent id starting with "-") are escaped.
 */
export function toCsv(agents: readonly AgentBehind[]): string {
  return stringify(
    agents.map((a) => ({ ...a, behindSince: a.behindSince?.toISOString() ?? '' })),
    {
      header: true,
      columns: ['agentId', 'componentType', 'installed', 'latest', 'versionsBehind', 'behindSince', 'online'],
      escape_formulas: true,
      record_delimiter: 'windows',
      cast: { boolean: (v) => String(v) },
    },
  );
}
