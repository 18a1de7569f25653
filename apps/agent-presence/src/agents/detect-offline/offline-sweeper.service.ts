import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { CommandHandler, Database, ExpectedVersionConflictError } from '@herald/event-store';
import { RUNTIME, ServiceRuntime } from '@herald/platform';
import type { AgentPresenceConfig } from '../../config';
import { agentDecider, agentStreamId } from '../agent.decider';
import { agentIntegrationEvents } from '../agent-integration-events';

/**
 * Marks agents offline when their heartbeats stop. Each candidate is re-checked under a row
 * lock, so a heartbeat racing the sweep wins, and several instances can sweep together.
 */
@Injectable()
export class OfflineSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;

  constructor(
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime<AgentPresenceConfig>,
    private readonly db: Database,
    private readonly commands: CommandHandler,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), this.runtime.config.OFFLINE_SWEEP_INTERVAL_MS);
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Marks every agent silent for longer than the timeout offline; returns how many. */
  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    const timeoutSecs = this.runtime.config.HEARTBEAT_TIMEOUT_MS / 1000;
    let marked = 0;
    try {
      const stale = await this.db.session((sql) =>
        sql.rows<{ agent_id: string }>(
          `SELECT agent_id FROM agents WHERE online AND last_seen_at < now() - make_interval(secs => $1) LIMIT 1000`,
          [timeoutSecs],
        ),
      );
      for (const { agent_id: agentId } of stale) {
        try {
          await this.db.transaction(async (tx) => {
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
      if (marked > 0) this.runtime.logger.info({ marked }, 'agents marked offline after missing heartbeats');
    } catch (err) {
      this.runtime.logger.warn({ err: (err as Error).message }, 'offline sweep failed');
    } finally {
      this.sweeping = false;
    }
    return marked;
  }
}
