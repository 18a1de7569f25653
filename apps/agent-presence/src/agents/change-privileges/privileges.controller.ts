import { BadRequestException, Body, Controller, NotFoundException, Param, Put } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { AgentId } from '@herald/contracts';
import { CommandHandler } from '@herald/event-store';
import { ApiErrors, CurrentPrincipal, Principal } from '@herald/platform';
import { AgentDirectory } from '../agent-directory';
import { agentDecider, agentStreamId } from '../agent.decider';
import { agentIntegrationEvents } from '../agent-integration-events';

const Privileges = z.strictObject({
  /** May this agent run in Independent mode (and be treated as independent by the update rules)? */
  independentMode: z.boolean(),
});
class PrivilegesDto extends createZodDto(Privileges) {}

@ApiTags('agents')
@Controller('agents')
export class PrivilegesController {
  constructor(
    private readonly commands: CommandHandler,
    private readonly directory: AgentDirectory,
  ) {}

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
