import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { EventStore, closeBooks } from '@herald/event-store';
import { ServiceConfig } from '@herald/platform';
import type { NotificationDispatchConfig } from '../config';
import { type AgentUpdateState, agentUpdatesDecider } from './agent-updates.decider';

/** Streams examined per transaction. */
const STREAMS_PER_PASS = 200;
/** Old events looked at per pass to find those streams, oldest first. */
const EVENTS_SCANNED_PER_PASS = 5_000;

/**
 * The retention policy of agents' update histories (docs/operations.md): every
 * AGENT_HISTORY_PRUNE_INTERVAL_MS, the events of each agent's stream older than
 * AGENT_HISTORY_RETENTION_MS are deleted up to the last moment the agent had no notification
 * open and no scan pending (closeBooks), so a stream holds its recent history and any update
 * still in progress, however many rollouts the agent has seen. Rollout streams (with their
 * compact skip facts) and the rollout read model are kept. AGENT_HISTORY_RETENTION_MS=0 keeps
 * everything.
 */
@Injectable()
export class AgentHistoryRetention extends BackgroundWorker {
  /** Where the scan for old events goes on from; back to the start once it has seen them all. */
  private after = '0';

  constructor(
    @Inject(ServiceConfig) private readonly config: NotificationDispatchConfig,
    private readonly store: EventStore,
    log: PinoLogger,
  ) {
    super({ name: 'agent-history-retention', idleMs: config.AGENT_HISTORY_PRUNE_INTERVAL_MS, logger: log, enabled: config.AGENT_HISTORY_RETENTION_MS > 0 });
    log.setContext('agent-history-retention');
  }

  protected async pass(): Promise<boolean> {
    return (await this.prune()).more;
  }

  /** One step of the scan: deletes what it may from the streams whose old events come next. */
  async prune(now = new Date()): Promise<{ streams: number; deleted: number; more: boolean }> {
    if (this.config.AGENT_HISTORY_RETENTION_MS === 0) return { streams: 0, deleted: 0, more: false };
    const before = new Date(now.getTime() - this.config.AGENT_HISTORY_RETENTION_MS);
    return this.store.db.transaction(async (tx) => {
      const rows = await tx.rows<{ stream_id: string; last: string }>(
        `SELECT stream_id, max(global_position)::text AS last FROM (
           SELECT stream_id, global_position FROM events
            WHERE global_position > $1::bigint AND recorded_at < $2 AND stream_id LIKE 'agent-%'
            ORDER BY global_position LIMIT $3) old
          GROUP BY stream_id ORDER BY min(global_position) LIMIT $4`,
        [this.after, before, EVENTS_SCANNED_PER_PASS, STREAMS_PER_PASS],
      );
      if (rows.length === 0) {
        this.after = '0';
        return { streams: 0, deleted: 0, more: false };
      }
      // At rest: nothing open, no scan pending. The last notification's id (kept against
      // redeliveries, which never come months late) does not hold the books open.
      const deleted = await closeBooks(this.store, tx, agentUpdatesDecider, rows.map((r) => r.stream_id), before, atRest);
      this.after = rows.reduce((m, r) => (BigInt(r.last) > BigInt(m) ? r.last : m), this.after);
      return { streams: rows.length, deleted, more: true };
    });
  }
}

const atRest = (s: AgentUpdateState): boolean => s.open === null && Object.keys(s.pendingScans).length === 0;
