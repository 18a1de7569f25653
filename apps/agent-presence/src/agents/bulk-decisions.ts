import type { CommandHandler } from '@herald/event-store';
import type { AgentDirectory, AgentFilter } from './agent-directory';
import { type AgentCommand, agentDecider, agentStreamId } from './agent.decider';
import { agentIntegrationEvents } from './agent-integration-events';

/** Agents decided on per transaction in a bulk change. */
const BULK_CHUNK = 500;

/**
 * One admin decision for every agent the filter matches, a transaction per 500 agents in id
 * order: one event per agent it changes, reaching the other services like a single change.
 * Says how many agents matched and how many changed (the others were as asked already).
 */
export async function decideForEvery(
  commands: CommandHandler,
  directory: AgentDirectory,
  filter: Omit<AgentFilter, 'limit' | 'offset'>,
  command: (agentId: string) => AgentCommand,
): Promise<{ matched: number; changed: number }> {
  let matched = 0;
  let changed = 0;
  for (let after = ''; ; ) {
    const ids = await directory.ids(filter, after, BULK_CHUNK);
    if (ids.length === 0) break;
    after = ids.at(-1)!;
    matched += ids.length;
    const { streams } = await commands.transaction((tx) =>
      commands.batchIn(
        tx,
        agentDecider,
        ids.map(agentStreamId),
        (b) => {
          for (const agentId of ids) b.decide(agentStreamId(agentId), command(agentId));
        },
        { outbox: ({ streams: s }) => s.flatMap((o) => agentIntegrationEvents(o.events, o.after)) },
      ),
    );
    changed += streams.filter((o) => o.events.length > 0).length;
  }
  return { matched, changed };
}
