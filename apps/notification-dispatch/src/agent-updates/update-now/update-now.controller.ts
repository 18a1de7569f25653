import { BadRequestException, Body, Controller, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { AgentId, Labels } from '@herald/contracts';
import { Database } from '@herald/event-store';
import { ApiErrors, CurrentPrincipal, type Principal } from '@herald/platform';
import { Directory } from '../../directory/directory';
import { UpdateNow } from './update-now';

const count = z.number().int().nonnegative();
const Result = z.object({
  opened: count.describe('Agents a new notification was opened for'),
  raised: count.describe("Agents whose open notification now carries newer versions (R7)"),
  alreadyOnTheirWay: count.describe('Agents whose open notification already carried every newest version'),
  upToDate: count.describe('Agents that had every newest version: nothing to do'),
});
class UpdateNowResultDto extends createZodDto(Result) {}
class BulkUpdateNowResultDto extends createZodDto(Result.extend({ matched: count.describe('Agents the filter matched') })) {}

const BulkFilter = z
  .strictObject({
    status: z.enum(['online', 'offline', 'independent']).optional(),
    q: z.string().trim().min(1).max(200).optional().describe('Part of the agent id or hostname, any case'),
    component: z.string().min(1).max(100).optional().describe('Agents that have this component type'),
    version: z.string().min(1).max(100).optional().describe('With component: agents on this version of it'),
    labels: Labels.optional().describe('Agents that carry every one of these labels (as agent-presence shows them)'),
  })
  .refine((f) => f.version === undefined || f.component !== undefined, { message: 'version needs component', path: ['version'] });
class BulkFilterDto extends createZodDto(BulkFilter) {}

/** An admin brings agents to the newest versions now, whatever the rules say. */
@ApiTags('agents')
@Controller('agents')
export class UpdateNowController {
  constructor(
    private readonly updateNow: UpdateNow,
    private readonly db: Database,
    private readonly directory: Directory,
  ) {}

  @Post('update-now')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Update now every agent that matches the filter (all of them with an empty body): one decision per agent, counted',
    description: 'Also offline agents (their attempts follow R4) and Independent ones. Each update counts in the rollouts of the versions it brings; a paused rollout holds it.',
  })
  @ApiOkResponse({ type: BulkUpdateNowResultDto })
  @ApiErrors(400, 403)
  bulk(@Body() filter: BulkFilterDto, @CurrentPrincipal() who: Principal) {
    return this.updateNow.matching(filter as z.infer<typeof BulkFilter>, who.name);
  }

  @Post(':id/update-now')
  @HttpCode(200)
  @ApiOperation({ summary: 'Update this agent now to the newest version of every component it is behind on' })
  @ApiOkResponse({ type: UpdateNowResultDto })
  @ApiErrors(400, 403, 404)
  async one(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    if (!AgentId.safeParse(id).success) throw new BadRequestException(`invalid agent id ${JSON.stringify(id)}`);
    if (!(await this.db.session((sql) => this.directory.agent(sql, id)))) throw new NotFoundException(`unknown agent ${id}`);
    return this.updateNow.agents([id], who.name);
  }
}
