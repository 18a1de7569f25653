import { Injectable } from '@nestjs/common';
import { CommandHandler, EventStore, HandleResult, Tx } from '@herald/event-store';
import { EventMetadata } from '@herald/domain';
import { agentUpdateWork } from './agent-update-work';
import { AgentUpdateCommand, AgentUpdateState, agentUpdatesDecider, agentUpdatesStreamId } from './agent-updates.decider';
import type { AgentUpdateEvent } from './agent-updates.events';
import { InFlightSlots } from './in-flight-slots';

export interface DecideOptions {
  metadata?: EventMetadata | ((state: AgentUpdateState) => EventMetadata);
  /** De-duplicate by this message id (for messages whose effect is not naturally idempotent). */
  dedupe?: { consumer: string; messageId: string };
}

/**
 * The one way to decide on an agent's update stream: the decider, its follow-up work through the
 * outbox, and the R6 slot bookkeeping, in one transaction.
 */
@Injectable()
export class AgentUpdates {
  constructor(
    private readonly store: EventStore,
    private readonly commands: CommandHandler,
    private readonly slots: InFlightSlots,
  ) {}

  decide(command: AgentUpdateCommand, options: DecideOptions = {}, tx?: Tx): Promise<HandleResult<AgentUpdateState, AgentUpdateEvent>> {
    const handleOptions = {
      metadata: options.metadata,
      idempotency: options.dedupe,
      outbox: ({ events, after }: { events: Parameters<typeof agentUpdateWork>[0]; after: AgentUpdateState }) => agentUpdateWork(events, after),
      inTransaction: async ({ after, tx: t }: { after: AgentUpdateState; tx: Tx }) => this.slots.sync(t, command.agentId, after),
    };
    const stream = agentUpdatesStreamId(command.agentId);
    return tx ? this.commands.handleIn(tx, agentUpdatesDecider, stream, command, handleOptions) : this.commands.handle(agentUpdatesDecider, stream, command, handleOptions);
  }

  async state(agentId: string, tx?: Tx): Promise<AgentUpdateState> {
    const { events } = await this.store.readStream<AgentUpdateEvent>(agentUpdatesStreamId(agentId), tx);
    return events.reduce(agentUpdatesDecider.evolve, agentUpdatesDecider.initialState());
  }
}
