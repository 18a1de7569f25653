import { randomUUID } from 'node:crypto';
import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { PinoLogger } from 'nestjs-pino';
import {
  type AgentChanged,
  type AgentConnected,
  type AgentDisconnected,
  type ComponentPinned,
  type ComponentUnpinned,
  type ComponentVersionAvailable,
  type FleetTarget,
  type IntegrationEvent,
  deterministicUuid,
  outdatedComponents,
} from '@herald/contracts';
import { CommandHandler, EventStore, type OutboxMessage, type Tx } from '@herald/event-store';
import { Outcome, batchOf } from '@herald/messaging';
import { agentUpdatesStreamId } from '../agent-updates/agent-updates.decider';
import { AgentUpdates } from '../agent-updates/agent-updates.service';
import { NotificationSender, type UpdateToPublish } from '../agent-updates/send-notifications/notification-sender';
import { spreadNotifyChunks, workItem } from '../agent-updates/work-messages';
import { type CanaryPolicy, pickCanary } from '../rollouts/canary';
import { Directory } from '../directory/directory';
import { type RolloutCause, planRollout, rolloutDecider, rolloutStreamId } from '../rollouts/rollout.decider';
import { SettingsService, policyOf } from '../settings/settings.service';
import { DispatchQueues } from '../topology';
import { WebhookOutbox } from '../webhooks/webhook-outbox';

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
    private readonly sender: NotificationSender,
    private readonly webhooks: WebhookOutbox,
    private readonly log: PinoLogger,
  ) {
    log.setContext('triggers');
  }

  /** R1: decide whom to notify about the new version, and fan the decisions out per agent. */
  @EventPattern(DispatchQueues.integration.pattern('component.version-available'))
  onVersionAvailable(@Payload() event: ComponentVersionAvailable): Promise<Outcome> {
    return this.once(event, (tx) => this.onNewVersion(tx, event));
  }

  /**
   * An admin pinned a component type (a rollback when older than the newest) or unpinned it: a
   * rollout moves every agent on another version to the type's new target, at once (no canary
   * phase: a rollback is the remedy, not the risk).
   */
  @EventPattern(DispatchQueues.integration.pattern('component.pinned'))
  onPinned(@Payload() event: ComponentPinned): Promise<Outcome> {
    return this.once(event, (tx) => this.onPinChange(tx, event, { kind: 'pin', by: event.by, reason: event.reason }));
  }

  @EventPattern(DispatchQueues.integration.pattern('component.unpinned'))
  onUnpinned(@Payload() event: ComponentUnpinned): Promise<Outcome> {
    return this.once(event, (tx) => this.onPinChange(tx, event, { kind: 'unpin', by: event.by, reason: null }));
  }

  /**
   * R2: agents that connect are updated at once if they are behind. Taken in batches (a fleet
   * reconnecting after an outage is thousands at once): one transaction records the directory and
   * every update and first attempt, then the commands go out with one wait for the confirms.
   */
  @EventPattern(DispatchQueues.integration.pattern('agent.connected'), batchOf({ maxMessages: 200, maxWaitMs: 20 }))
  async onAgentsConnected(@Payload() events: AgentConnected[]): Promise<Outcome[]> {
    const updates = await this.commands.transaction(async (tx) => {
      await tx.rows(`SELECT pg_advisory_xact_lock_shared(hashtext('herald:directory'))`);
      const fresh = await this.store.markProcessedMany(tx, CONSUMER, events.map((e) => e.messageId));
      const newer: AgentConnected[] = [];
      // In agent id order, as every batch writes its rows: concurrent batches never deadlock.
      const ordered = [...events].sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
      for (const e of ordered) if (fresh.has(e.messageId) && (await this.directory.applyAgentEvent(tx, e))) newer.push(e);
      return this.updateOnReconnect(tx, newer);
    });
    await this.sender.publish(updates);
    return events.map(() => Outcome.ack());
  }

  /** A rollout's agents all report their new components within seconds: their facts are kept a batch per transaction. */
  @EventPattern(DispatchQueues.integration.pattern('agent.disconnected'), batchOf({ maxMessages: 200, maxWaitMs: 20 }))
  onAgentsDisconnected(@Payload() events: AgentDisconnected[]): Promise<Outcome[]> {
    return this.applyAgentFacts(events);
  }

  @EventPattern(DispatchQueues.integration.pattern('agent.changed'), batchOf({ maxMessages: 200, maxWaitMs: 20 }))
  onAgentsChanged(@Payload() events: AgentChanged[]): Promise<Outcome[]> {
    return this.applyAgentFacts(events);
  }

  private async applyAgentFacts(events: ReadonlyArray<AgentDisconnected | AgentChanged>): Promise<Outcome[]> {
    await this.commands.transaction(async (tx) => {
      await tx.rows(`SELECT pg_advisory_xact_lock_shared(hashtext('herald:directory'))`);
      const fresh = await this.store.markProcessedMany(tx, CONSUMER, events.map((e) => e.messageId));
      // In agent id order, as every batch writes its rows (no deadlocks), and in stream order per agent.
      const ordered = [...events].sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : a.sequence - b.sequence));
      for (const e of ordered) if (fresh.has(e.messageId)) await this.directory.applyAgentEvent(tx, e);
    });
    return events.map(() => Outcome.ack());
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
      const exclusive = event.type.startsWith('component.');
      await tx.rows(`SELECT ${exclusive ? 'pg_advisory_xact_lock' : 'pg_advisory_xact_lock_shared'}(hashtext('herald:directory'))`);
      if (!(await this.store.markProcessed(tx, CONSUMER, event.messageId))) return;
      await handle(tx);
    });
    return Outcome.ack();
  }

  /**
   * A new version: kept in the catalog, and rolled out (R1) unless its type is pinned. The
   * announcement carries the type's pin too, so a pin whose own event is late still applies.
   */
  private async onNewVersion(tx: Tx, event: ComponentVersionAvailable): Promise<void> {
    await this.directory.applyCatalog(tx, [...event.catalog, event.component]);
    const moved = event.pin ? await this.directory.applyPin(tx, event.component.type, event.pin) : null;
    if (moved) {
      // The pin moved (its own event is late): the rollout to the type's new target covers this version too.
      const cause: RolloutCause = { kind: moved.after.pinned ? 'pin' : 'unpin', by: null, reason: null };
      await this.startRollout(tx, moved.after, cause, event.messageId, event.correlationId);
      return;
    }
    if (await this.directory.pinned(tx, event.component.type)) {
      this.log.info({ correlationId: event.correlationId, component: event.component.type, version: event.component.version }, 'new version kept; its type is pinned, so it is not rolled out');
      return;
    }
    await this.startRollout(tx, event.component, null, event.messageId, event.correlationId);
  }

  private async onPinChange(tx: Tx, event: ComponentPinned | ComponentUnpinned, cause: RolloutCause): Promise<void> {
    await this.directory.applyCatalog(tx, [event.latest]);
    const moved = await this.directory.applyPin(tx, event.componentType, event.pin);
    if (!moved) {
      this.log.info({ correlationId: event.correlationId, component: event.componentType, sequence: event.pin.sequence }, 'pin change already known or superseded; nothing to roll out');
      return;
    }
    await this.startRollout(tx, moved.after, cause, event.messageId, event.correlationId);
  }

  /** Plans whom to move to `target` (R1/R1a/R8), records the plan and fans the notifications out. */
  private async startRollout(tx: Tx, target: FleetTarget, cause: RolloutCause | null, messageId: string, eventCorrelationId: string | undefined): Promise<void> {
    const settings = await this.settings.current(tx);
    const catalog = await this.directory.catalog(tx);
    const agents = await this.directory.agents(tx);
    const takeOver = cause ? new Set((await tx.rows<{ agent_id: string }>('SELECT agent_id FROM open_notifications')).map((r) => r.agent_id)) : undefined;
    const plan = planRollout(agents, catalog, target, settings.includeIndependentAndOffline, takeOver);
    const rolloutId = deterministicUuid('rollout', messageId, ...(cause ? [cause.kind] : []));
    // Phases: only the canary group is notified now; the rest when the rollout is promoted. A pin's rollout goes to all at once.
    const policy: CanaryPolicy = { labels: settings.canaryLabels, percent: settings.canaryPercent, successPercent: settings.canarySuccessPercent, approval: settings.canaryApproval };
    // R1's switch is about new versions; an admin's pin always moves the fleet.
    const notify = cause !== null || settings.notifyOnDownload;
    const canaryIds = notify && !cause ? pickCanary(rolloutId, plan.targets.map((t) => t.agentId), new Map(agents.map((a) => [a.agentId, a])), policy) : null;
    const canary = canaryIds && new Set(canaryIds);
    const notifyNow = plan.targets.map((t) => t.agentId).filter((id) => !canary || canary.has(id));
    // Later updates to this target on reconnect (R2) belong to this rollout too.
    await this.directory.setRolloutOf(tx, target, rolloutId);
    const correlationId = eventCorrelationId ?? rolloutId;
    const spreadMs = settings.rolloutSpreadSeconds * 1000;
    await this.commands.handleIn(
      tx,
      rolloutDecider,
      rolloutStreamId(rolloutId),
      {
        type: 'StartRollout',
        rolloutId,
        component: target,
        ...(cause ? { cause } : {}),
        notifyOnDownload: notify,
        includeIndependentAndOffline: settings.includeIndependentAndOffline,
        policy: policyOf(settings),
        plan,
        spreadMs,
        ...(canaryIds ? { canary: { agentIds: canaryIds, policy } } : {}),
        now: new Date(),
      },
      {
        metadata: { correlationId },
        inTransaction: async ({ events, after }) => {
          await this.webhooks.enqueue(tx, events);
          if (events.length === 0 || after.phase === 'all') return;
          await tx.exec(
            `INSERT INTO rollout_control (rollout_id, state, phase, canary_success_percent, canary_approval) VALUES ($1, 'running', $2, $3, $4) ON CONFLICT (rollout_id) DO NOTHING`,
            [rolloutId, after.phase, policy.successPercent, policy.approval],
          );
          if (canaryIds && canaryIds.length > 0) {
            await tx.exec('INSERT INTO rollout_canary (rollout_id, agent_id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING', [rolloutId, canaryIds]);
          }
        },
        // The targets in chunks, reachable agents first; skipped agents cost nothing more.
        // With a spread, the chunks of later steps wait in the delay queues.
        outbox: ({ events }): OutboxMessage[] =>
          events.length === 0 || !notify
            ? []
            : spreadNotifyChunks(rolloutId, notifyNow, spreadMs).map(({ agentIds, delayMs }) =>
                workItem({ kind: 'notify', rolloutId, agentIds, ...(cause ? { retarget: target.type } : {}) }, { correlationId, delayMs: delayMs > 0 ? delayMs : undefined }),
              ),
      },
    );
    this.log.info(
      { correlationId, rolloutId, component: target.type, version: target.version, cause, targets: plan.targets.length, skipped: plan.skipped.length, canary: canaryIds?.length },
      notify ? 'rollout started' : 'new version recorded; notify-on-download is off',
    );
  }

  /**
   * R2: outdated, non-independent agents that connect are updated at once (their first attempts
   * recorded here), in the rollouts of the versions they get. An outdated Independent agent is
   * left alone, and that skip recorded (R8) in the same rollouts; a heartbeat after a timeout is
   * no new connection, so it records no skip.
   */
  private async updateOnReconnect(tx: Tx, connected: readonly AgentConnected[]): Promise<UpdateToPublish[]> {
    const settings = await this.settings.current(tx);
    const events = settings.updateOnReconnect ? connected.filter((e) => !e.independentMode || e.via !== 'heartbeat') : [];
    if (events.length === 0) return [];
    const catalog = await this.directory.catalog(tx);
    const rolloutsOf = await this.directory.rolloutsOfNewest(tx);
    const agentIds = [...new Set(events.map((e) => e.agentId))];
    const updating = new Set(events.filter((e) => !e.independentMode).map((e) => e.agentId));
    const now = new Date();
    const { result } = await this.updates.batch(tx, agentIds, (b) => {
      for (const e of events) {
        const components = outdatedComponents(e.components, catalog);
        const metadata = { causationId: e.messageId, correlationId: `reconnect-${e.messageId}` };
        const rolloutIds = rolloutsOf(components);
        if (e.independentMode) {
          const reason = e.independentPrivilege ? 'independent' : 'no-privilege';
          b.decide(agentUpdatesStreamId(e.agentId), { type: 'Skip', agentId: e.agentId, rolloutId: null, trigger: 'reconnect', reason, components, rolloutIds, now }, metadata);
          continue;
        }
        const command = { type: 'Target' as const, agentId: e.agentId, rolloutId: null, rolloutIds, trigger: 'reconnect' as const, components, policy: policyOf(settings), notificationId: randomUUID(), via: e.via, installed: e.components, now };
        b.decide(agentUpdatesStreamId(e.agentId), command, metadata);
      }
      return this.sender.recordDue(tx, b, [...updating], { maxInFlight: settings.maxInFlight, metadata: {} });
    });
    return result;
  }
}
