import { Injectable } from '@nestjs/common';
import type { EventMetadata } from '@herald/domain';
import { type BatchOptions, CommandHandler, EventStore, type HandleResult, type StreamBatch, type StreamOutcome, type Tx } from '@herald/event-store';
import { agentUpdateWork, agentUpdateWorkForBatch } from './agent-update-work';
import { type AgentUpdateCommand, type AgentUpdateState, agentOfStream, agentUpdatesDecider, agentUpdatesStreamId } from './agent-updates.decider';
import type { AgentUpdateEvent } from './agent-updates.events';
import { InFlightSlots } from './in-flight-slots';
import { OpenNotifications } from './open-notifications';

export interface DecideOptions {
  metadata?: EventMetadata | ((state: AgentUpdateState) => EventMetadata);
  /** De-duplicate by this message id (for messages whose effect is not naturally idempotent). */
  dedupe?: { consumer: string; messageId: string };
}

/** Decisions on many agents' streams in one transaction (see CommandHandler.batchIn). */
export type AgentBatch = StreamBatch<AgentUpdateState, AgentUpdateCommand, AgentUpdateEvent>;
export type AgentOutcome = StreamOutcome<AgentUpdateState, AgentUpdateEvent>;

/**
 * The one way to decide on agents' update streams: the decider, the follow-up work through the
 * outbox, and the tables kept in step with each agent's state (R6 slots, open notifications),
 * in the transaction of the decision. One agent at a time, or many in one transaction.
 */
@Injectable()
export class AgentUpdates {
  constructor(
    private readonly store: EventStore,
    private readonly commands: CommandHandler,
    private readonly slots: InFlightSlots,
    private readonly open: OpenNotifications,
  ) {}

  decide(command: AgentUpdateCommand, options: DecideOptions = {}, tx?: Tx): Promise<HandleResult<AgentUpdateState, AgentUpdateEvent>> {
    const handleOptions = {
      metadata: options.metadata,
      idempotency: options.dedupe,
      outbox: ({ events, after }: { events: Parameters<typeof agentUpdateWork>[0]; after: AgentUpdateState }) => agentUpdateWork(events, after),
      inTransaction: async ({ after, tx: t }: { after: AgentUpdateState; tx: Tx }) => this.keepInStep(t, [{ agentId: command.agentId, state: after }]),
    };
    const stream = agentUpdatesStreamId(command.agentId);
    return tx ? this.commands.handleIn(tx, agentUpdatesDecider, stream, command, handleOptions) : this.commands.handle(agentUpdatesDecider, stream, command, handleOptions);
  }

  /** Decides on many agents in the caller's transaction: `work` decides through the batch. */
  batch<T>(tx: Tx, agentIds: readonly string[], work: (batch: AgentBatch) => T | Promise<T>): Promise<{ result: T; streams: AgentOutcome[] }> {
    const options: BatchOptions<AgentUpdateState, AgentUpdateEvent> = {
      outbox: ({ streams }) => agentUpdateWorkForBatch(streams),
      inTransaction: ({ streams, tx: t }) => this.keepInStep(t, streams.map((s) => ({ agentId: agentOfStream(s.streamId), state: s.after }))),
    };
    return this.commands.batchIn(tx, agentUpdatesDecider, agentIds.map(agentUpdatesStreamId), work, options);
  }

  async state(agentId: string, tx?: Tx): Promise<AgentUpdateState> {
    const { events } = await this.store.readStream<AgentUpdateEvent>(agentUpdatesStreamId(agentId), tx);
    return events.reduce(agentUpdatesDecider.evolve, agentUpdatesDecider.initialState());
  }

  /**
   * The R6 slots and the open notifications, as the agents' states now say. Rows are written in
   * agent id order, so concurrent batches never wait on each other in a circle.
   */
  private async keepInStep(tx: Tx, states: ReadonlyArray<{ agentId: string; state: AgentUpdateState }>): Promise<void> {
    const ordered = [...states].sort((a, b) => (a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0));
    await this.slots.sync(tx, ordered);
    await this.open.sync(tx, ordered);
  }
}
