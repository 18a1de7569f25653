import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

const count = z.number().int().nonnegative();

export const ComponentCompliance = z.object({
  componentType: z.string(),
  latest: z.string().describe('The newest version dispatch knows'),
  agents: count.describe('Agents that report the component'),
  upToDate: count,
  behind: count.describe('Agents on an older version'),
  byVersionsBehind: z
    .array(z.object({ versionsBehind: count, agents: count }))
    .describe('Agents by how many announced versions they are behind (0: up to date)'),
  oldestBehindSince: z.string().nullable().describe('When the first version the longest-waiting agent lacks was announced'),
});

export class ComplianceDto extends createZodDto(z.object({ generatedAt: z.string(), components: z.array(ComponentCompliance) })) {}

export const AgentBehind = z.object({
  agentId: z.string(),
  online: z.boolean(),
  componentType: z.string(),
  installed: z.string(),
  latest: z.string(),
  versionsBehind: z.number().int().min(1).describe('Announced versions newer than the installed one (at least 1)'),
  behindSince: z.string().nullable().describe('When the first version it lacks was announced; null when dispatch has no rollout for it'),
});

export class AgentsBehindDto extends createZodDto(z.object({ total: z.number().int(), agents: z.array(AgentBehind) })) {}

export const BehindQuery = z.strictObject({
  component: z
    .string()
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/)
    .optional()
    .describe('Only this component type'),
  minBehind: z.coerce.number().int().min(1).max(1000).default(1).describe('Only agents at least this many versions behind'),
  limit: z.coerce.number().int().min(1).max(10_000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});
export class BehindQueryDto extends createZodDto(BehindQuery) {}

/** The CSV export takes every agent behind unless told otherwise. */
export const BehindCsvQuery = BehindQuery.extend({ limit: z.coerce.number().int().min(1).max(100_000).default(100_000) });
export class BehindCsvQueryDto extends createZodDto(BehindCsvQuery) {}
