import { BadRequestException, Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { ApiErrors } from '@herald/platform';
import { AgentListDto, AgentSummaryDto, AgentViewDto } from '../agent.dto';
import { z } from 'zod';
import { AgentId, LabelKey, LabelValue, MAX_LABELS } from '@herald/contracts';
import { AgentDirectory } from '../agent-directory';

/** `label=site:paris&label=os:linux`: one or several key:value pairs, as a labels object. */
export const LabelQuery = z
  .union([z.string(), z.array(z.string()).max(MAX_LABELS)])
  .transform((v) => (Array.isArray(v) ? v : [v]))
  .pipe(z.array(z.string().regex(/^[^:]+:.+$/s, 'a label is key:value')))
  .transform((pairs) => pairs.map((p) => [p.slice(0, p.indexOf(':')), p.slice(p.indexOf(':') + 1)]))
  .pipe(z.array(z.tuple([LabelKey, LabelValue])))
  .transform((pairs) => Object.fromEntries(pairs) as Record<string, string>);

const ListAgentsQuery = z.strictObject({
  status: z.enum(['online', 'offline', 'independent']).optional(),
  /** true: only agents with at least one component older than the server's latest. */
  outdated: z
    .enum(['true', 'false'])
    .transform((v) => v === 'true')
    .optional(),
  q: z.string().trim().min(1).max(200).optional().describe('Part of the agent id or hostname, any case'),
  component: z.string().min(1).max(100).optional().describe('Only agents that have this component type'),
  version: z.string().min(1).max(100).optional().describe('With component: only agents on this version of it'),
  label: LabelQuery.optional().describe('key:value (repeat for several): only agents that carry every one of these labels'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
class ListAgentsQueryDto extends createZodDto(ListAgentsQuery) {}

@ApiTags('agents')
@Controller('agents')
export class AgentsController {
  constructor(private readonly directory: AgentDirectory) {}

  @Get()
  @ApiOperation({ summary: 'Agents in natural id order (sim-2 before sim-10), a page at a time, filtered by status, outdatedness, component and version, labels and text' })
  @ApiOkResponse({ type: AgentListDto })
  @ApiErrors(400)
  list(@Query() query: ListAgentsQueryDto) {
    const { label, ...filter } = query as z.infer<typeof ListAgentsQuery>;
    if (filter.version !== undefined && filter.component === undefined) throw new BadRequestException('version needs component');
    return this.directory.list({ ...filter, labels: label });
  }

  @Get('summary')
  @ApiOperation({ summary: 'How many agents are online, offline, independent and outdated' })
  @ApiOkResponse({ type: AgentSummaryDto })
  @ApiErrors()
  summary() {
    return this.directory.summary();
  }

  @Get(':id')
  @ApiOperation({ summary: 'One agent: status, components against the latest versions, privileges' })
  @ApiOkResponse({ type: AgentViewDto })
  @ApiErrors(400, 404)
  async get(@Param('id') id: string) {
    if (!AgentId.safeParse(id).success) throw new BadRequestException(`invalid agent id ${JSON.stringify(id)}`);
    const agent = await this.directory.get(id);
    if (!agent) throw new NotFoundException(`unknown agent ${id}`);
    return agent;
  }
}
