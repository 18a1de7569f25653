import { BadRequestException, Body, Controller, HttpCode, NotFoundException, Param, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { AgentId, LabelKey, Labels, MAX_LABELS } from '@herald/contracts';
import { CommandHandler } from '@herald/event-store';
import { ApiErrors, CurrentPrincipal, type Principal } from '@herald/platform';
import { AgentDirectory } from '../agent-directory';
import { agentDecider, agentStreamId, applyLabelChange } from '../agent.decider';
import { agentIntegrationEvents } from '../agent-integration-events';
import { decideForEvery } from '../bulk-decisions';
import { AgentSelection } from '../change-privileges/privileges.controller';

const LabelChange = {
  set: Labels.default({}).describe('Labels to add or replace (they win over the same key reported by the agent)'),
  remove: z.array(LabelKey).max(MAX_LABELS).default([]).describe("Keys of admins' labels to take away (a label the agent reports itself stays)"),
};
const nothingAsked = (c: { set: Labels; remove: string[] }) => Object.keys(c.set).length > 0 || c.remove.length > 0;

const AgentLabelChange = z.strictObject(LabelChange).refine(nothingAsked, { message: 'set or remove at least one label' });
class AgentLabelChangeDto extends createZodDto(AgentLabelChange) {}
const BulkLabelChange = z.strictObject({ filter: AgentSelection, ...LabelChange }).refine(nothingAsked, { message: 'set or remove at least one label' });
class BulkLabelChangeDto extends createZodDto(BulkLabelChange) {}

class AgentLabelsDto extends createZodDto(
  z.object({
    labels: z.record(z.string(), z.string()).describe("The agent's labels: its own with admins' over them"),
    adminLabels: z.record(z.string(), z.string()).describe('The labels admins set'),
  }),
) {}
class BulkResultDto extends createZodDto(
  z.object({
    matched: z.number().int().describe('Agents the filter matched'),
    changed: z.number().int().describe(`Agents whose labels changed (one event each); the others had them already, or would have had more than ${MAX_LABELS} labels of admins`),
  }),
) {}

/** Labels of admins' own on agents: for filters, bulk actions and canary groups. */
@ApiTags('agents')
@Controller('agents')
export class LabelsController {
  constructor(
    private readonly commands: CommandHandler,
    private readonly directory: AgentDirectory,
  ) {}

  @Post('labels')
  @HttpCode(200)
  @ApiOperation({ summary: 'Set or remove labels of admins on every agent the filter matches ({} matches all); says how many changed' })
  @ApiOkResponse({ type: BulkResultDto })
  @ApiErrors(400, 403)
  bulk(@Body() body: BulkLabelChangeDto, @CurrentPrincipal() who: Principal) {
    const { filter, set, remove } = body as z.infer<typeof BulkLabelChange>;
    const now = new Date();
    return decideForEvery(this.commands, this.directory, filter, (agentId) => ({ type: 'SetLabels', agentId, set, remove, by: who.name, now }));
  }

  @Post(':id/labels')
  @HttpCode(200)
  @ApiOperation({ summary: "Set or remove labels of admins on one agent; answers the agent's labels" })
  @ApiOkResponse({ type: AgentLabelsDto })
  @ApiErrors(400, 403, 404)
  async set(@Param('id') id: string, @Body() body: AgentLabelChangeDto, @CurrentPrincipal() who: Principal) {
    if (!AgentId.safeParse(id).success) throw new BadRequestException(`invalid agent id ${JSON.stringify(id)}`);
    const agent = await this.directory.get(id);
    if (!agent) throw new NotFoundException(`unknown agent ${id}`);
    const { set, remove } = body as z.infer<typeof AgentLabelChange>;
    if (Object.keys(applyLabelChange(agent.adminLabels, set, remove)).length > MAX_LABELS) {
      throw new BadRequestException(`an agent carries at most ${MAX_LABELS} labels of admins`);
    }
    await this.commands.handle(
      agentDecider,
      agentStreamId(id),
      { type: 'SetLabels', agentId: id, set, remove, by: who.name, now: new Date() },
      { outbox: ({ events, after }) => agentIntegrationEvents(events, after) },
    );
    const after = (await this.directory.get(id))!;
    return { labels: after.labels, adminLabels: after.adminLabels };
  }
}
