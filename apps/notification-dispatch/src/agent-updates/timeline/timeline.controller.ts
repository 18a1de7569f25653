import { BadRequestException, Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '@herald/platform';
import { TimelineDto } from './timeline.dto';
import { AgentId } from '@herald/contracts';
import type { RecordedEvent } from '@herald/domain';
import { Database, EventStore } from '@herald/event-store';
import { Directory } from '../../directory/directory';
import { agentUpdatesStreamId } from '../agent-updates.decider';
import type { AgentUpdateEvent } from '../agent-updates.events';
import type { AgentsSkipped } from '../../rollouts/rollout.decider';

/** A timeline entry: the decision, its time, and its details; a rollout's skip reads as the agent's own. */
function entryOf(e: RecordedEvent<AgentUpdateEvent | AgentsSkipped>): { at: string; type: string; correlationId?: string } & Record<string, unknown> {
  if (e.type === 'AgentsSkipped') {
    const { rolloutId, reason, at } = e.data;
    return { at, type: 'TargetSkipped', correlationId: e.metadata.correlationId, rolloutId, trigger: 'download', reason };
  }
  const { agentId: _agentId, at, ...details } = e.data as AgentUpdateEvent['data'] & { agentId: string; at: string };
  return { at, type: e.type, correlationId: e.metadata.correlationId, ...details };
}

/** An agent's timeline: every decision the server took about it, in order. */
const TimelineQuery = z.strictObject({
  /** Only entries after this position (a client that polls asks for what is new). */
  after: z.coerce.number().int().min(0).default(0),
});
class TimelineQueryDto extends createZodDto(TimelineQuery) {}

@ApiTags('agents')
@Controller('agents')
export class TimelineController {
  constructor(
    private readonly store: EventStore,
    private readonly db: Database,
    private readonly directory: Directory,
  ) {}

  @Get(':id/timeline')
  @ApiOperation({ summary: "Every decision about one agent, in order" })
  @ApiOkResponse({ type: TimelineDto })
  @ApiErrors(400, 404)
  async timeline(@Param('id') id: string, @Query() query: TimelineQueryDto) {
    const { after } = query as z.infer<typeof TimelineQuery>;
    if (!AgentId.safeParse(id).success) throw new BadRequestException(`invalid agent id ${JSON.stringify(id)}`);
    // The agent's own stream, and the rollouts' skips that name it (recorded once per rollout).
    const events = await this.store.readStreamWithMentions<AgentUpdateEvent | AgentsSkipped>(agentUpdatesStreamId(id), { type: 'AgentsSkipped', field: 'agentIds', value: id });
    const agent = await this.db.session((sql) => this.directory.agent(sql, id));
    // A known agent with no decisions yet has an empty timeline; an unknown one has none.
    if (events.length === 0 && !agent) throw new NotFoundException(`unknown agent ${id}`);
    return {
      agentId: id,
      /** What dispatch last heard about the agent from agent-presence. */
      agent: agent ? { online: agent.online, independentMode: agent.independentMode, independentPrivilege: agent.independentPrivilege, components: agent.components } : null,
      entries: events.map((e, i) => ({ position: i + 1, ...entryOf(e) })).filter((e) => e.position > after),
    };
  }
}
