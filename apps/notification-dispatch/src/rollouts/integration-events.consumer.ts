import { randomUUID } from 'node:crypto';
import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { AgentConnected, ComponentVersionAvailable, IntegrationEvent, deterministicUuid, outdatedComponents } from '@herald/contracts';
import { CommandHandler, EventStore, OutboxMessage, Tx } from '@herald/event-store';
import { AmqpClient, Outcome, declareWorkQueue } from '@herald/messaging';
import { RUNTIME, ServiceRuntime, integrationEventHandler } from '@herald/platform';
import { AgentUpdates } from '../agent-updates/agent-updates.service';
import { workItem } from '../agent-updates/work-messages';
import { Directory } from '../directory/directory';
import { SettingsService, policyOf } from '../settings/settings.service';
import { DispatchQueues } from '../topology';
import { planRollout, rolloutDecider, rolloutStreamId } from './rollout.decider';

const CONSUMER = 'dispatch-integration';

/**
 * The triggers: a verified component version starts a rollout (R1); an agent connecting is
 * checked for missed updates (R2). Both read the settings at that moment, so a settings
 * change applies from the next trigger on.
 */
@Injectable()
export class IntegrationEventsConsumer implements OnApplicationBootstrap {
  constructor(
    @Inject(RUNTIME) private readonly runtime: ServiceRuntime,
    private readonly amqp: AmqpClient,
    private readonly store: EventStore,
    private readonly commands: CommandHandler,
    private readonly directory: Directory,
    private readonly settings: SettingsService,
    private readonly updates: AgentUpdates,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.amqp.addTopology((ch) => declareWorkQueue(ch, DispatchQueues.integration));
    const log = this.runtime.logger.child({ component: 'triggers' });
    await this.amqp.consume(DispatchQueues.integration.name, integrationEventHandler(log, (e) => this.handle(e)), { prefetch: 16 });
  }

  async handle(event: IntegrationEvent): Promise<Outcome> {
    await this.commands.transaction(async (tx) => {
      // Events are handled concurrently. A rollout must not be planned from a directory that misses
      // an agent whose hello is being handled at that moment, while that hello's R2 check reads the
      // catalog from before the new version: the agent would be left out of both. Agent events
      // share a lock that planning takes alone, so each sees the other's outcome.
      const exclusive = event.type === 'component.version-available';
      await tx.rows(`SELECT ${exclusive ? 'pg_advisory_xact_lock' : 'pg_advisory_xact_lock_shared'}(hashtext('herald:directory'))`);
      if (!(await this.store.markProcessed(tx, CONSUMER, event.messageId))) return;
      switch (event.type) {
        case 'component.version-available':
          return this.startRollout(tx, event);
        case 'agent.connected': {
          const fresh = await this.directory.applyAgentEvent(tx, event);
          if (fresh) await this.updateOnReconnect(tx, event);
          return;
        }
        case 'agent.disconnected':
        case 'agent.changed':
          await this.directory.applyAgentEvent(tx, event);
          return;
      }
    });
    return Outcome.ack();
  }

  /** R1: decide whom to notify about the new version, and fan the decisions out per agent. */
  private async startRollout(tx: Tx, event: ComponentVersionAvailable): Promise<void> {
    await this.directory.applyCatalog(tx, [...event.catalog, event.component]);
    const settings = await this.settings.current(tx);
    const catalog = await this.directory.catalog(tx);
    const plan = planRollout(await this.directory.agents(tx), catalog, event.component, settings.includeIndependentAndOffline);
    const rolloutId = deterministicUuid('rollout', event.messageId);
    const correlationId = event.correlationId ?? rolloutId;
    await this.commands.handleIn(
      tx,
      rolloutDecider,
      rolloutStreamId(rolloutId),
      {
        type: 'StartRollout',
        rolloutId,
        component: event.component,
        notifyOnDownload: settings.notifyOnDownload,
        includeIndependentAndOffline: settings.includeIndependentAndOffline,
        policy: policyOf(settings),
        plan,
        now: new Date(),
      },
      {
        metadata: { correlationId },
        outbox: ({ events }): OutboxMessage[] =>
          events.length === 0 || !settings.notifyOnDownload
            ? []
            : [
                ...plan.targets.map((t) =>
                  workItem({ kind: 'target', agentId: t.agentId, rolloutId, notificationId: randomUUID(), components: t.components }, { correlationId }),
                ),
                ...plan.skipped.map((s) => workItem({ kind: 'skip', agentId: s.agentId, rolloutId, reason: s.reason }, { correlationId })),
              ],
      },
    );
    this.runtime.logger.info(
      { correlationId, rolloutId, component: event.component.type, version: event.component.version, targets: plan.targets.length, skipped: plan.skipped.length },
      settings.notifyOnDownload ? 'rollout started' : 'new version recorded; notify-on-download is off',
    );
  }

  /** R2: an outdated, non-independent agent that connects is updated at once. */
  private async updateOnReconnect(tx: Tx, event: AgentConnected): Promise<void> {
    const settings = await this.settings.current(tx);
    if (!settings.updateOnReconnect || event.independentMode) return;
    const components = outdatedComponents(event.components, await this.directory.catalog(tx));
    await this.updates.decide(
      {
        type: 'Target',
        agentId: event.agentId,
        rolloutId: null,
        trigger: 'reconnect',
        components,
        policy: policyOf(settings),
        notificationId: randomUUID(),
        now: new Date(),
      },
      { metadata: { causationId: event.messageId, correlationId: `reconnect-${event.messageId}` } },
      tx,
    );
  }
}
