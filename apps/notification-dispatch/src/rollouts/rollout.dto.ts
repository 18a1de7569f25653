import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

const count = z.number().int().nonnegative();

export const Rollout = z.object({
  rolloutId: z.uuid(),
  component: z.object({ type: z.string(), version: z.string() }),
  startedAt: z.string(),
  notifyOnDownload: z.boolean().describe('R1 was on: false means the version was only recorded'),
  includeIndependentAndOffline: z.boolean().describe('R1a was on'),
  policy: z.object({
    resendIntervalMs: count,
    maxAttempts: count,
    ackTimeoutMs: count,
    reportTimeoutMs: count,
    scanAfterUpdate: z.boolean(),
    updateRetry: z
      .object({ retries: count, delayMs: count, backoff: z.number(), jitter: z.number() })
      .optional()
      .describe('Retries of failed updates (absent for rollouts started before retries existed)'),
  }),
  correlationId: z.string().nullable(),
  counts: z.object({
    targeted: count.describe("Agents notified of this version: R1's plan, and those R2 updated to it on reconnect (onReconnect.targeted)"),
    skipped: z
      .object({ offline: count, independent: count, 'no-privilege': count })
      .describe("Agents not notified, by reason: R1's plan, and outdated Independent agents R2 left alone on reconnect (onReconnect.skipped)"),
    upToDate: count,
    notified: count.describe('Targeted agents at least one attempt reached'),
    acknowledged: count,
    updated: count.describe('Targeted agents that reached the version (or newer)'),
    failed: count.describe('Targeted agents whose update failed, and every retry of it'),
    gaveUp: count.describe('Targeted agents that never acknowledged (R4 gave up)'),
    alreadyUpToDate: count.describe('Targeted agents that had the version before their update went out'),
    superseded: count.describe('Targeted agents whose notification a reconnect (R2) replaced'),
    inProgress: count.describe('Targeted agents with no outcome yet; the five outcomes and this add up to targeted'),
    retried: count.describe('Targeted agents whose update failed at least once and was retried'),
    scanRequested: count,
    scanned: count,
    updatedAfterSkip: count.describe('Skipped agents that R2 later brought up to date'),
    onReconnect: z
      .object({
        targeted: count.describe('Agents the plan did not have (they registered after the release) that R2 updated to this version on reconnect'),
        updated: count.describe('Of those, updated'),
        skipped: count.describe('Outdated Independent agents the plan did not have, left alone on reconnect (R8)'),
      })
      .describe('Agents that came into the rollout on reconnect (R2) rather than through its plan; included in targeted, skipped and the outcomes'),
  }),
  complete: z.boolean().describe('Every targeted agent has an outcome'),
});
export class RolloutDto extends createZodDto(Rollout) {}
export class RolloutListDto extends createZodDto(z.object({ total: z.number().int(), rollouts: z.array(Rollout) })) {}
export class RolloutAgentsDto extends createZodDto(
  z.object({
    rolloutId: z.uuid(),
    total: z.number().int(),
    agents: z.array(
      z.object({
        agentId: z.string(),
        via: z.enum(['plan', 'reconnect']).describe("How the agent came into the rollout: R1's plan, or a reconnect (R2) after it"),
        targeted: z.boolean(),
        skippedReason: z.enum(['offline', 'independent', 'no-privilege']).nullable(),
        attempts: count,
        returnedAttempts: count,
        timedOutAttempts: count,
        notified: z.boolean(),
        acknowledged: z.boolean(),
        updated: z.boolean(),
        failed: z.boolean(),
        gaveUp: z.boolean(),
        scanRequested: z.boolean(),
        scanned: z.boolean(),
        lastChangeAt: z.string().nullable(),
      }),
    ),
  }),
) {}
