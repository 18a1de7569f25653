import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { containsPattern } from '@herald/common';
import { outdatedComponents } from '@herald/contracts';
import { CommandHandler, type Tx } from '@herald/event-store';
import { Directory } from '../../directory/directory';
import { SettingsService, policyOf } from '../../settings/settings.service';
import { agentUpdatesStreamId } from '../agent-updates.decider';
import { AgentUpdates } from '../agent-updates.service';
import { NotificationSender } from '../send-notifications/notification-sender';
import { NOTIFY_CHUNK } from '../work-messages';

/** Which agents a bulk "update now" is for: every outdated agent dispatch knows that matches all of these. */
export interface UpdateNowFilter {
  status?: 'online' | 'offline' | 'independent';
  /** Part of the agent id or hostname, any case (as agent-presence's list matches it). */
  q?: string;
  /** Agents that have this component (on `version`, when given). */
  component?: string;
  version?: string;
  /** Agents that carry every one of these labels. */
  labels?: Record<string, string>;
}

/** What an "update now" did, agent by agent, summed. */
export interface UpdateNowResult {
  /** Agents a new notification was opened for. */
  opened: number;
  /** Agents whose open notification now carries newer versions (R7). */
  raised: number;
  /** Agents whose open notification already carried every newest version. */
  alreadyOnTheirWay: number;
  /** Agents that had every newest version. */
  upToDate: number;
}

/**
 * An admin's "update now": each agent is brought to the newest version of every component it is
 * behind on, at once, whatever the rules (also an offline agent, whose attempts then follow R4,
 * and an Independent one: the admin decided). Like R2, the update counts in the rollouts of the
 * versions it brings (`via: admin`), and an open notification is raised, never doubled (R7). A
 * paused rollout holds it like any attempt. One transaction and one wait for confirms per chunk.
 */
@Injectable()
export class UpdateNow {
  constructor(
    private readonly commands: CommandHandler,
    private readonly directory: Directory,
    private readonly settings: SettingsService,
    private readonly updates: AgentUpdates,
    private readonly sender: NotificationSender,
  ) {}

  /** For the agents given (those dispatch does not know are left out). */
  async agents(agentIds: readonly string[], by: string): Promise<UpdateNowResult> {
    const total: UpdateNowResult = { opened: 0, raised: 0, alreadyOnTheirWay: 0, upToDate: 0 };
    const correlationId = `update-now-${randomUUID()}`;
    for (let i = 0; i < agentIds.length; i += NOTIFY_CHUNK) {
      const r = await this.chunk(agentIds.slice(i, i + NOTIFY_CHUNK), by, correlationId);
      for (const k of Object.keys(total) as Array<keyof UpdateNowResult>) total[k] += r[k];
    }
    return total;
  }

  /** For every agent the filter matches, a chunk at a time in id order; returns how many matched too. */
  async matching(filter: UpdateNowFilter, by: string): Promise<UpdateNowResult & { matched: number }> {
    const total: UpdateNowResult & { matched: number } = { matched: 0, opened: 0, raised: 0, alreadyOnTheirWay: 0, upToDate: 0 };
    let after = '';
    const correlationId = `update-now-${randomUUID()}`;
    for (;;) {
      const ids = await this.commands.transaction((tx) => this.page(tx, filter, after));
      if (ids.length === 0) return total;
      after = ids.at(-1)!;
      total.matched += ids.length;
      const r = await this.chunk(ids, by, correlationId);
      for (const k of ['opened', 'raised', 'alreadyOnTheirWay', 'upToDate'] as const) total[k] += r[k];
    }
  }

  private async page(tx: Tx, filter: UpdateNowFilter, after: string): Promise<string[]> {
    const where = ['agent_id > $1'];
    const params: unknown[] = [after];
    const param = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (filter.status === 'offline') where.push('NOT online');
    if (filter.status === 'online') where.push('online AND NOT independent_mode');
    if (filter.status === 'independent') where.push('online AND independent_mode');
    if (filter.q) {
      const like = param(containsPattern(filter.q));
      where.push(`(agent_id ILIKE ${like} OR hostname ILIKE ${like})`);
    }
    if (filter.labels && Object.keys(filter.labels).length > 0) where.push(`labels @> ${param(JSON.stringify(filter.labels))}::jsonb`);
    if (filter.component) {
      where.push(`components @> ${param(JSON.stringify([{ type: filter.component, ...(filter.version === undefined ? {} : { version: filter.version }) }]))}::jsonb`);
    }
    const rows = await tx.rows<{ agent_id: string }>(`SELECT agent_id FROM directory_agents WHERE ${where.join(' AND ')} ORDER BY agent_id LIMIT ${param(NOTIFY_CHUNK)}`, params);
    return rows.map((r) => r.agent_id);
  }

  /** One request's updates follow one correlation id (its timeline entries, its commands). */
  private async chunk(agentIds: readonly string[], by: string, correlationId: string): Promise<UpdateNowResult> {
    const settings = await this.settings.current();
    const result: UpdateNowResult = { opened: 0, raised: 0, alreadyOnTheirWay: 0, upToDate: 0 };
    const now = new Date();
    const updates = await this.commands.transaction(async (tx) => {
      const catalog = await this.directory.catalog(tx);
      const rolloutsOf = await this.directory.rolloutsOfNewest(tx);
      const agents = await this.directory.agentsByIds(tx, agentIds);
      const { result: toPublish } = await this.updates.batch(
        tx,
        agents.map((a) => a.agentId),
        (b) => {
          const due: string[] = [];
          for (const agent of agents) {
            const components = outdatedComponents(agent.components, catalog);
            if (components.length === 0) {
              result.upToDate++;
              continue;
            }
            const stream = agentUpdatesStreamId(agent.agentId);
            const target = { type: 'Target' as const, agentId: agent.agentId, rolloutId: null, rolloutIds: rolloutsOf(components), trigger: 'admin' as const, components, policy: policyOf(settings), by, now };
            const events = b.decide(stream, { ...target, notificationId: randomUUID() }, { correlationId });
            if (events.some((e) => e.type === 'UpdateTargeted')) result.opened++;
            else if (events.some((e) => e.type === 'NotificationTargetRaised')) result.raised++;
            else result.alreadyOnTheirWay++;
            due.push(agent.agentId);
          }
          return this.sender.recordDue(tx, b, due, { maxInFlight: settings.maxInFlight, metadata: {} });
        },
      );
      return toPublish;
    });
    await this.sender.publish(updates);
    return result;
  }
}
