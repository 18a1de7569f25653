import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

export const AgentView = z.object({
  agentId: z.string(),
  hostname: z.string(),
  agentVersion: z.string(),
  status: z.enum(['online', 'offline', 'independent']),
  independentMode: z.boolean().describe('The agent reports running in Independent mode'),
  privileges: z.object({ independentMode: z.boolean().describe('An admin granted the Independent-mode privilege') }),
  labels: z.record(z.string(), z.string()).describe("The agent's labels: those it reported in its last hello, with those admins set over them"),
  adminLabels: z.record(z.string(), z.string()).describe('The labels admins set on this agent (they win over the same key reported by the agent)'),
  patchFormats: z
    .array(z.string())
    .nullable()
    .describe('The patch formats the agent declared in its last hello (docs/asyncapi.yaml section 6a); null: none declared, so herald-delta-1 only (agents before protocol 1.3)'),
  components: z.array(
    z.object({ type: z.string(), version: z.string(), latest: z.string().nullable(), outdated: z.boolean() }),
  ),
  outdated: z.boolean().describe('At least one component is older than the latest verified version'),
  firstSeenAt: z.string(),
  lastConnectedAt: z.string(),
  lastDisconnectedAt: z.string().nullable(),
  disconnectReason: z.enum(['goodbye', 'heartbeat-timeout']).nullable(),
  lastSeenAt: z.string(),
});
export class AgentViewDto extends createZodDto(AgentView) {}
export class AgentListDto extends createZodDto(z.object({ total: z.number().int(), agents: z.array(AgentView) })) {}
export class AgentSummaryDto extends createZodDto(
  z.object({ online: z.number().int(), offline: z.number().int(), independent: z.number().int(), outdated: z.number().int(), total: z.number().int() }),
) {}
