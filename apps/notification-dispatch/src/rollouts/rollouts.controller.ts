import { BadRequestException, Controller, Get, NotFoundException, Param, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { ApiErrors } from '@herald/platform';
import { RolloutAgentsDto, RolloutDto, RolloutListDto } from './rollout.dto';
import { z } from 'zod';
import { RolloutViews } from './rollout-views';

const Page = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});
class PageDto extends createZodDto(Page) {}

/** Rollouts: one per verified component version (the R1 trigger), with live progress. */
@ApiTags('rollouts')
@Controller('rollouts')
export class RolloutsController {
  constructor(private readonly views: RolloutViews) {}

  @Get()
  @ApiOperation({ summary: 'Rollouts, newest first, with their progress' })
  @ApiOkResponse({ type: RolloutListDto })
  @ApiErrors(400)
  async list(@Query() page: PageDto) {
    const { limit, offset } = page as z.infer<typeof Page>;
    return this.views.list(limit, offset);
  }

  @Get(':id')
  @ApiOperation({ summary: "One rollout's progress: targeted, skipped by reason, notified, acknowledged, updated, failed, given up, scanned" })
  @ApiOkResponse({ type: RolloutDto })
  @ApiErrors(400, 404)
  async get(@Param('id') id: string) {
    return this.find(id);
  }

  /** Where each agent of the rollout stands. */
  @Get(':id/agents')
  @ApiOperation({ summary: 'Where each agent of the rollout stands' })
  @ApiOkResponse({ type: RolloutAgentsDto })
  @ApiErrors(400, 404)
  async agents(@Param('id') id: string, @Query() page: PageDto) {
    await this.find(id);
    const { limit, offset } = page as z.infer<typeof Page>;
    return { rolloutId: id, ...(await this.views.agents(id, limit, offset)) };
  }

  private async find(id: string) {
    if (!z.uuid().safeParse(id).success) throw new BadRequestException(`invalid rollout id ${JSON.stringify(id)}`);
    const view = await this.views.get(id);
    if (!view) throw new NotFoundException(`unknown rollout ${id}`);
    return view;
  }
}
