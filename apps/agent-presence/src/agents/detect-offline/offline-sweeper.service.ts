import { Inject, Injectable } from '@nestjs/common';
import { PinoLogger } from 'nestjs-pino';
import { BackgroundWorker } from '@herald/common';
import { CommandHandler, Database, ExpectedVersionConflictError } from '@herald/event-store';
import { ServiceConfig } from '@herald/platform';
import type { AgentPresenceConfig } from '../../config';
import { agentDecider, agentStreamId } from '../agent.decider';
import { agentIntegrationEvents } from '../agent-integration-events';

const BATCH = 1000;

/**
 * Marks agents offline when their heartbeats stop. Each candidate is re-checked under a row
 * lock, so a heartbeat racing the sweep wins, and several instances can sweep together.
 */
@Injectable()
export class OfflineSweeper extends BackgroundWorker {
  constructor(
    @Inject(ServiceConfig) private readonly config: AgentPresenceConfig,
    private readonly db: Database,
    private readonly commands: CommandHandler,
    private readonly log: PinoLogger,
  ) {
    super({ name: 'offline-sweeper', idleMs: config.OFFLINE_SWEEP_INTERVAL_MS, logger: log });
    log.setContext('offline-sweeper');
  }

  protected async pass(): Promise<boolean> {
    return (await this.sweep()) >= BATCH;
  }

  /** Marks agents silent for longer than the timeout offline, up to a batch; returns how many. */
  async sweep(): Promise<number> {
    const timeoutSecs = this.config.HEARTBEAT_TIMEOUT_MS / 1000;
    const stale = await this.db.session((sql) =>
      sql.rows<{ agent_id: string }>(`SELECT agent_id FROM agents WHERE online AND last_seen_at < now() - make_interval(secs => $1) LIMIT ${BATCH}`, [timeoutSecs]),
    );
    let marked = 0;
    for (const { agent_id: agentId } of stale) {
      try {
        // Retried after a deadlock or serialization failure (a hello for the same agent, say).
        await this.commands.transaction(async (tx) => {
          const still = await tx.one(
            `SELECT 1 FROM agents WHERE agent_id = $1 AND online AND last_seen_at < now() - make_interval(secs => $2) FOR UPDATE SKIP LOCKED`,
            [agentId, timeoutSecs],
          );
          if (!still) return;
          await this.commands.handleIn(tx, agentDecider, agentStreamId(agentId), { type: 'MarkTimedOut', agentId, now: new Date() }, {
            outbox: ({ events, after }) => agentIntegrationEvents(events, after),
          });
          marked++;
        });
      } catch (err) {
        if (!(err instanceof ExpectedVersionConflictError)) throw err; // the agent changed meanwhile: next sweep decides
      }
    }
    if (marked > 0) this.log.info({ marked }, 'agents marked offline after missing heartbeats');
    return stale.length;
  }
}
