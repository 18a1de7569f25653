import { BadRequestException, Body, ConflictException, Controller, Delete, Get, HttpCode, NotFoundException, Param, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { AgentId } from '@herald/contracts';
import { CommandHandler } from '@herald/event-store';
import { ApiErrors, CurrentPrincipal, Principal } from '@herald/platform';
import { AgentAdmission } from './agent-admission';
import { AdmissionConflictError, type IdentityCommand, identityDecider, identityStreamId } from './identity.decider';

const Status = z.enum(['pending', 'accepted', 'rejected', 'revoked']);

const IdentityView = z.object({
  agentId: z.string(),
  status: Status,
  enrolledWith: z.string().meta({ description: 'Name of the enrolment token the agent first logged in with (AGENT_ENROLMENT_TOKENS)' }),
  enrolledAt: z.iso.datetime(),
  decidedAt: z.iso.datetime().nullable(),
  decidedBy: z.string().nullable().meta({ description: 'Who accepted, rejected or revoked it ("auto-accept" for AGENT_AUTO_ACCEPT)' }),
  reason: z.string().nullable(),
});
class IdentityViewDto extends createZodDto(IdentityView) {}
class IdentityListDto extends createZodDto(z.object({ total: z.number().int(), identities: z.array(IdentityView) })) {}

class ForgottenDto extends createZodDto(z.object({ agentId: z.string(), forgotten: z.literal(true) })) {}

const ListQuery = z.strictObject({
  status: Status.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
class ListQueryDto extends createZodDto(ListQuery) {}

const Decision = z.strictObject({ reason: z.string().max(500).optional() }).default({});
class DecisionDto extends createZodDto(Decision) {}

/**
 * Admission of agents with their own broker identities: who enrolled, and the admin's decisions.
 * A pending, rejected or revoked agent is refused at its next broker login; an accepted one logs
 * in with the secret it enrolled with, and nothing else.
 */
@ApiTags('identities')
@Controller('identities')
export class IdentitiesController {
  constructor(
    private readonly admission: AgentAdmission,
    private readonly commands: CommandHandler,
  ) {}

  @Get()
  @ApiOperation({ summary: 'Enrolled agents and their admission status (pending ones wait for an admin)' })
  @ApiOkResponse({ type: IdentityListDto })
  @ApiErrors(400)
  list(@Query() query: ListQueryDto) {
    const q = query as z.infer<typeof ListQuery>;
    return this.admission.list(q.status, q.limit, q.offset);
  }

  @Get(':id')
  @ApiOperation({ summary: "One agent's identity: its admission status and who decided it" })
  @ApiOkResponse({ type: IdentityViewDto })
  @ApiErrors(400, 404)
  async get(@Param('id') id: string) {
    const found = await this.admission.get(checked(id));
    if (!found) throw new NotFoundException(`agent ${id} has not enrolled`);
    return found;
  }

  @Post(':id/accept')
  @HttpCode(200)
  @ApiOperation({ summary: 'Let a pending (or rejected or revoked) agent in: its next broker login succeeds' })
  @ApiOkResponse({ type: IdentityViewDto })
  @ApiErrors(400, 403, 404)
  accept(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    return this.decide(id, (agentId, now) => ({ type: 'Accept', agentId, by: who.name, now }));
  }

  @Post(':id/reject')
  @HttpCode(200)
  @ApiOperation({ summary: 'Refuse a pending agent' })
  @ApiOkResponse({ type: IdentityViewDto })
  @ApiErrors(400, 403, 404)
  reject(@Param('id') id: string, @Body() body: DecisionDto, @CurrentPrincipal() who: Principal) {
    return this.decide(id, (agentId, now) => ({ type: 'Reject', agentId, by: who.name, reason: body.reason ?? null, now }));
  }

  @Post(':id/revoke')
  @HttpCode(200)
  @ApiOperation({ summary: "Take an accepted agent's access away: refused from its next broker login" })
  @ApiOkResponse({ type: IdentityViewDto })
  @ApiErrors(400, 403, 404)
  revoke(@Param('id') id: string, @Body() body: DecisionDto, @CurrentPrincipal() who: Principal) {
    return this.decide(id, (agentId, now) => ({ type: 'Revoke', agentId, by: who.name, reason: body.reason ?? null, now }));
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Forget the identity: the id may enrol again with a new secret (a reinstalled agent)' })
  @ApiOkResponse({ type: ForgottenDto })
  @ApiErrors(400, 403)
  async forget(@Param('id') id: string, @CurrentPrincipal() who: Principal) {
    const agentId = checked(id);
    await this.commands.handle(identityDecider, identityStreamId(agentId), { type: 'Forget', agentId, by: who.name, now: new Date() });
    return { agentId, forgotten: true };
  }

  private async decide(id: string, command: (agentId: string, now: Date) => IdentityCommand) {
    const agentId = checked(id);
    try {
      await this.commands.handle(identityDecider, identityStreamId(agentId), command(agentId, new Date()));
    } catch (err) {
      if (!(err instanceof AdmissionConflictError)) throw err;
      if (!(await this.admission.get(agentId))) throw new NotFoundException(err.message);
      throw new ConflictException(err.message);
    }
    return (await this.admission.get(agentId))!;
  }
}

function checked(id: string): string {
  if (!AgentId.safeParse(id).success) throw new BadRequestException(`invalid agent id ${JSON.stringify(id)}`);
  return id;
}
