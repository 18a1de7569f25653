import { randomUUID } from 'node:crypto';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { PinoLogger } from 'nestjs-pino';
import { type AgentChanged, type AgentConnected, type AgentDisconnected, type ComponentVersionAvailable, type IntegrationEvent, deterministicUuid, outdatedComponents } from '@herald/contracts';
import { CommandHandler, EventStore, type OutboxMessage, type Tx } from '@herald/event-store';
import { Outcome } from '@herald/messaging';
import { AgentUpdates } from '../agent-updates/agent-updates.service';
import { workItem } from '../agent-updates/work-messages';
import { Directory } from '../directory/directory';
import { planRollout, rolloutDecider, rolloutStreamId } from '../rollouts/rollout.decider';
import { SettingsService, policyOf } from '../settings/settings.service';
import { DispatchQueues } from '../topology';

const CONSUMER = 'dispatch-integration';

/**
 * The triggers: a verified component version starts a rollout (R1); an agent connecting is
 * checked for missed updates (R2); every agent fact keeps the directory current. Each reads the
 * settings at that moment, so a settings change applies from the next trigger on.
 */
@Controller()
export class TriggersController {
  constructor(
    private readonly store: EventStore,
    private readonly commands: CommandHandler,
    private readonly directory: Directory,
    private readonly settings: SettingsService,
    private readonly updates: AgentUpdates,
    private readonly log: PinoLogger,
  ) {
    log.setContext('triggers');
  }

  /** R1: decide whom to notify about the new version, and fan the decisions out per agent. */
  @EventPattern(DispatchQueues.integration.pattern('component.version-available'))
  onVersionAvailable(@Payload() event: ComponentVersionAvailable): Promise<Outcome> {
    return this.once(event, (tx) => this.startRollout(tx, event));
  }

  /** R2: an agent that connects is updated at once if it is behind. */
  @EventPattern(DispatchQueues.integration.pattern('agent.connected'))
  onAgentConnected(@Payload() event: AgentConnected): Promise<Outcome> {
    return this.once(event, async (tx) => {
      if (await this.directory.applyAgentEvent(tx, event)) await this.updateOnReconnect(tx, event);
    });
  }

  @EventPattern(DispatchQueues.integration.pattern('agent.disconnected'))
  onAgentDisconnected(@Payload() event: AgentDisconnected): Promise<Outcome> {
    return this.once(event, (tx) => this.directory.applyAgentEvent(tx, event));
  }

  @EventPattern(DispatchQueues.integration.pattern('agent.changed'))
  onAgentChanged(@Payload() event: AgentChanged): Promise<Outcome> {
    return this.once(event, (tx) => this.directory.applyAgentEvent(tx, event));
  }

  /**
   * Handles an event once (the inbox), in a transaction. Events are handled concurrently. A rollout
   * must not be planned from a directory that misses an agent whose hello is being handled at that
   * moment, while that hello's R2 check reads the catalog from before the new version: the agent
   * would be left out of both. Agent events share a lock that planning takes alone, so each sees
   * the other's outcome.
   */
  private async once(event: IntegrationEvent, handle: (tx: Tx) => Promise<unknown>): Promise<Outcome> {
    await this.commands.transaction(async (tx) => {
      const exclusive = event.type === 'component.version-available';
      await tx.rows(`SELECT ${exclusive ? 'pg_advisory_xact_lock' : 'pg_advisory_xact_lock_shared'}(hashtext('herald:directory'))`);
      if (!(await this.store.markProcessed(tx, CONSUMER, event.messageId))) return;
      await handle(tx);
    });
    return Outcome.ack();
  }

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
    this.log.info(
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
