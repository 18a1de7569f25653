import { BadRequestException, Body, ConflictException, Controller, Get, HttpCode, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { ApiErrors, CurrentPrincipal, type Principal } from '@herald/platform';
import { type ControlResult, RolloutControl } from './rollout-control';
import { RolloutControlConflict } from './rollout.decider';
import { ControlNoteDto, ControlResultDto, ProgressPoints, ProgressPointsDto, RolloutAgentsDto, RolloutDecisionsDto, RolloutDto, RolloutListDto, RolloutProgressDto } from './rollout.dto';
import { RolloutViews } from './rollout-views';

const Page = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});
class PageDto extends createZodDto(Page) {}

function assertRolloutId(id: string): void {
  if (!z.uuid().safeParse(id).success) throw new BadRequestException(`invalid rollout id ${JSON.stringify(id)}`);
}

/** Rollouts: one per verified component version (the R1 trigger), with live progress. */
@ApiTags('rollouts')
@Controller('rollouts')
export class RolloutsController {
  constructor(
    private readonly views: RolloutViews,
    private readonly control: RolloutControl,
  ) {}

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

  @Get(':id/progress')
  @ApiOperation({ summary: 'Progress over time: how many of its agents were sent, acknowledged, updated and failed at evenly spaced moments' })
  @ApiOkResponse({ type: RolloutProgressDto })
  @ApiErrors(400, 404)
  async progress(@Param('id') id: string, @Query() query: ProgressPointsDto) {
    const { points } = query as z.infer<typeof ProgressPoints>;
    assertRolloutId(id);
    const progress = await this.views.progress(id, points);
    if (!progress) throw new NotFoundException(`unknown rollout ${id}`);
    return progress;
  }

  @Get(':id/decisions')
  @ApiOperation({ summary: 'Who paused, resumed, aborted or retried the rollout, and when (oldest first)' })
  @ApiOkResponse({ type: RolloutDecisionsDto })
  @ApiErrors(400, 404)
  async decisions(@Param('id') id: string) {
    await this.find(id);
    return { rolloutId: id, decisions: await this.views.decisions(id) };
  }

  @Post(':id/pause')
  @HttpCode(200)
  @ApiOperation({ summary: 'Pause: no attempt of its notifications goes out (first attempts, resends and retries are held) until it is resumed' })
  @ApiOkResponse({ type: ControlResultDto })
  @ApiErrors(400, 403, 404, 409)
  async pause(@Param('id') id: string, @Body() body: ControlNoteDto, @CurrentPrincipal() who: Principal) {
    return this.steer(id, () => this.control.pause(id, { by: who.name, reason: 'admin', note: body.reason ?? null }));
  }

  @Post(':id/resume')
  @HttpCode(200)
  @ApiOperation({ summary: 'Resume a paused rollout: its held attempts go out; the error threshold counts again from here' })
  @ApiOkResponse({ type: ControlResultDto })
  @ApiErrors(400, 403, 404, 409)
  async resume(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    return this.steer(id, () => this.control.resume(id, who.name));
  }

  @Post(':id/abort')
  @HttpCode(200)
  @ApiOperation({ summary: 'Abort: its open notifications close (reason "aborted") and the rest of its plan is not notified. R2 still brings agents that reconnect to the newest version.' })
  @ApiOkResponse({ type: ControlResultDto })
  @ApiErrors(400, 403, 404, 409)
  async abort(@Param('id') id: string, @Body() body: ControlNoteDto, @CurrentPrincipal() who: Principal) {
    return this.steer(id, () => this.control.abort(id, who.name, body.reason ?? null));
  }

  @Post(':id/retry-failed')
  @HttpCode(200)
  @ApiOperation({ summary: 'A new notification for each of its agents whose update failed or was given up (R4); a paused rollout holds them' })
  @ApiOkResponse({ type: ControlResultDto })
  @ApiErrors(400, 403, 404, 409)
  async retryFailed(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    return this.steer(id, () => this.control.retryFailed(id, who.name));
  }

  @Post(':id/promote')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Promote a rollout in its canary phase (or awaiting approval): the rest of its plan is notified, and the attempts held for agents outside the canary group go out. Promoting before the canary passed is the admin’s call.',
  })
  @ApiOkResponse({ type: ControlResultDto })
  @ApiErrors(400, 403, 404, 409)
  async promote(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    return this.steer(id, () => this.control.promote(id, who.name));
  }

  private async steer(id: string, command: () => Promise<ControlResult>) {
    await this.find(id);
    let result: ControlResult;
    try {
      result = await command();
    } catch (err) {
      if (err instanceof RolloutControlConflict) throw new ConflictException(err.message);
      throw err;
    }
    return { rollout: await this.find(id), changed: result.changed, agents: result.agents };
  }

  private async find(id: string) {
    assertRolloutId(id);
    const view = await this.views.get(id);
    if (!view) throw new NotFoundException(`unknown rollout ${id}`);
    return view;
  }
}
