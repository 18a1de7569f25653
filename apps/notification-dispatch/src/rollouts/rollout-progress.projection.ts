import { compareVersions } from '@herald/contracts';
import type { Projection, Tx } from '@herald/event-store';
import type { AgentUpdateEvent } from '../agent-updates/agent-updates.events';
import type { RolloutEvent } from './rollout.decider';

type Flag = 'acknowledged' | 'failed' | 'gave_up' | 'scan_requested' | 'scanned';

async function setFlag(tx: Tx, notificationId: string, flag: Flag, at: string): Promise<void> {
  await tx.exec(
    `UPDATE rollout_agents ra SET ${flag} = true, last_change_at = $2
       FROM rollout_notifications rn
      WHERE rn.notification_id = $1 AND ra.rollout_id = rn.rollout_id AND ra.agent_id = rn.agent_id`,
    [notificationId, at],
  );
}

async function count(tx: Tx, notificationId: string, column: 'attempts' | 'returned_attempts' | 'timed_out_attempts', at: string): Promise<void> {
  await tx.exec(
    `UPDATE rollout_agents ra SET ${column} = ra.${column} + 1, last_change_at = $2
       FROM rollout_notifications rn
      WHERE rn.notification_id = $1 AND ra.rollout_id = rn.rollout_id AND ra.agent_id = rn.agent_id`,
    [notificationId, at],
  );
}

async function link(tx: Tx, notificationId: string, rolloutId: string, agentId: string): Promise<void> {
  await tx.exec('INSERT INTO rollout_notifications (notification_id, rollout_id, agent_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [
    notificationId,
    rolloutId,
    agentId,
  ]);
}

/**
 * Live progress of every rollout: per agent, how far it got (targeted or skipped and why,
 * notified, acknowledged, updated, failed, given up, scanned). Built asynchronously from the
 * rollout and agent streams; rebuildable from the first event.
 */
export const rolloutProgressProjection: Projection<AgentUpdateEvent | RolloutEvent> = {
  name: 'rollout-progress',
  eventTypes: [
    'RolloutStarted',
    'RolloutPlanned',
    'AgentsTargeted',
    'AgentsSkipped',
    'UpdateTargeted',
    'NotificationTargetRaised',
    'AttemptSent',
    'AttemptFailed',
    'NotificationAcknowledged',
    'UpdateCompleted',
    'UpdateFailed',
    'NotificationGaveUp',
    'ScanRequested',
    'ScanCompleted',
  ],
  async apply(tx, events) {
    for (const e of events) {
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
            `INSERT INTO rollouts (rollout_id, component_type, version, notify_on_download, include_independent_and_offline, policy, up_to_date, correlation_id, started_at)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9) ON CONFLICT DO NOTHING`,
            [d.rolloutId, d.component.type, d.component.version, d.notifyOnDownload, d.includeIndependentAndOffline, JSON.stringify(d.policy), d.upToDate, e.metadata.correlationId ?? null, d.at],
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
        case 'UpdateTargeted':
          if (e.data.rolloutId) {
            await link(tx, e.data.notificationId, e.data.rolloutId, e.data.agentId);
          } else {
            // R2 on reconnect: works for every rollout this agent has not caught up with.
            await tx.exec(
              `INSERT INTO rollout_notifications (notification_id, rollout_id, agent_id)
               SELECT $1, rollout_id, agent_id FROM rollout_agents WHERE agent_id = $2 AND NOT updated
               ON CONFLICT DO NOTHING`,
              [e.data.notificationId, e.data.agentId],
            );
          }
          break;
        case 'NotificationTargetRaised':
          if (e.data.rolloutId) await link(tx, e.data.notificationId, e.data.rolloutId, e.data.agentId);
          break;
        case 'AttemptSent':
          await count(tx, e.data.notificationId, 'attempts', e.data.at);
          break;
        case 'AttemptFailed':
          await count(tx, e.data.notificationId, e.data.reason === 'no-queue' ? 'returned_attempts' : 'timed_out_attempts', e.data.at);
          break;
        case 'NotificationAcknowledged':
          await setFlag(tx, e.data.notificationId, 'acknowledged', e.data.at);
          break;
        case 'UpdateCompleted': {
          // A rollout's agent is updated once it has the rollout's version (or newer).
          const linked = await tx.rows<{ rollout_id: string; component_type: string; version: string }>(
            `SELECT r.rollout_id, r.component_type, r.version FROM rollout_notifications rn JOIN rollouts r USING (rollout_id)
              WHERE rn.notification_id = $1`,
            [e.data.notificationId],
          );
          const reached = linked
            .filter((r) => {
              const have = e.data.installed.find((c) => c.type === r.component_type)?.version;
              return have !== undefined && compareVersions(have, r.version) >= 0;
            })
            .map((r) => r.rollout_id);
          if (reached.length > 0) {
            await tx.exec(`UPDATE rollout_agents SET updated = true, failed = false, last_change_at = $3 WHERE agent_id = $1 AND rollout_id = ANY($2::uuid[])`, [
              e.data.agentId,
              reached,
              e.data.at,
            ]);
          }
          break;
        }
        case 'UpdateFailed':
          await setFlag(tx, e.data.notificationId, 'failed', e.data.at);
          break;
        case 'NotificationGaveUp':
          await setFlag(tx, e.data.notificationId, 'gave_up', e.data.at);
          break;
        case 'ScanRequested':
          await tx.exec('INSERT INTO rollout_scans (scan_id, notification_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [e.data.scanId, e.data.notificationId]);
          await setFlag(tx, e.data.notificationId, 'scan_requested', e.data.at);
          break;
        case 'ScanCompleted': {
          const scan = await tx.one<{ notification_id: string }>('SELECT notification_id FROM rollout_scans WHERE scan_id = $1', [e.data.scanId]);
          if (scan) await setFlag(tx, scan.notification_id, 'scanned', e.data.at);
          break;
        }
        default:
          break;
      }
    }
  },
  async reset(tx: Tx) {
    await tx.exec('TRUNCATE rollout_scans, rollout_notifications, rollout_agents, rollouts');
  },
};
