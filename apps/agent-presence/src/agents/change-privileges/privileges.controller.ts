import { BadRequestException, Body, Controller, HttpCode, NotFoundException, Param, Post, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { AgentId, Labels } from '@herald/contracts';
import { CommandHandler } from '@herald/event-store';
import { ApiErrors, CurrentPrincipal, Principal } from '@herald/platform';
import { AgentDirectory } from '../agent-directory';
import { agentDecider, agentStreamId } from '../agent.decider';
import { agentIntegrationEvents } from '../agent-integration-events';
import { decideForEvery } from '../bulk-decisions';

const Privileges = z.strictObject({
  /** May this agent run in Independent mode (and be treated as independent by the update rules)? */
  independentMode: z.boolean(),
});
class PrivilegesDto extends createZodDto(Privileges) {}

/** Which agents a bulk change is for: every agent that matches all of these (every agent when none is given). */
export const AgentSelection = z
  .strictObject({
    status: z.enum(['online', 'offline', 'independent']).optional(),
    outdated: z.boolean().optional(),
    q: z.string().trim().min(1).max(200).optional().describe('Part of the agent id or hostname, any case'),
    component: z.string().min(1).max(100).optional(),
    version: z.string().min(1).max(100).optional().describe('With component: agents on this version of it'),
    labels: Labels.optional().describe('Agents that carry every one of these labels'),
  })
  .refine((f) => f.version === undefined || f.component !== undefined, { message: 'version needs component', path: ['version'] });

const BulkPrivileges = z.strictObject({ filter: AgentSelection, independentMode: z.boolean() });
class BulkPrivilegesDto extends createZodDto(BulkPrivileges) {}
class BulkResultDto extends createZodDto(
  z.object({ matched: z.number().int().describe('Agents the filter matched'), changed: z.number().int().describe('Agents whose privilege changed (one event each); the others had it already') }),
) {}

@ApiTags('agents')
@Controller('agents')
export class PrivilegesController {
  constructor(
    private readonly commands: CommandHandler,
    private readonly directory: AgentDirectory,
  ) {}

  /**
   * Grants or revokes the Independent privilege of every agent the filter matches: one event per
   * agent whose privilege changes (recorded with who), a transaction per 500 agents, reaching the
   * other services like a single change.
   */
  @Post('privileges')
  @HttpCode(200)
  @ApiOperation({ summary: "Grant or revoke the Independent-mode privilege of every agent the filter matches ({} matches all); says how many changed" })
  @ApiOkResponse({ type: BulkResultDto })
  @ApiErrors(400, 403)
  async bulk(@Body() body: BulkPrivilegesDto, @CurrentPrincipal() who: Principal) {
    const { filter, independentMode } = body as z.infer<typeof BulkPrivileges>;
    const now = new Date();
    return decideForEvery(this.commands, this.directory, filter, (agentId) => ({ type: 'SetIndependentPrivilege', agentId, granted: independentMode, by: who.name, now }));
  }

  /** Grants or revokes an agent's privileges; the change is an event and reaches the other services. */
  @Put(':id/privileges')
  @ApiOperation({ summary: "Grant or revoke an agent's Independent-mode privilege" })
  @ApiOkResponse({ type: PrivilegesDto })
  @ApiErrors(400, 403, 404)
  async set(@Param('id') id: string, @Body() body: PrivilegesDto, @CurrentPrincipal() who: Principal) {
    if (!AgentId.safeParse(id).success) throw new BadRequestException(`invalid agent id ${JSON.stringify(id)}`);
    if (!(await this.directory.get(id))) throw new NotFoundException(`unknown agent ${id}`);
    await this.commands.handle(
      agentDecider,
      agentStreamId(id),
      { type: 'SetIndependentPrivilege', agentId: id, granted: body.independentMode, by: who.name, now: new Date() },
      { outbox: ({ events, after }) => agentIntegrationEvents(events, after) },
    );
    return (await this.directory.get(id))!.privileges;
  }
}
