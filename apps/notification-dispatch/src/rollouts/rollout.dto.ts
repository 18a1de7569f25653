import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';

const count = z.number().int().nonnegative();

export const Rollout = z.object({
  rolloutId: z.uuid(),
  component: z.object({
    type: z.string(),
    version: z.string(),
    pinned: z.boolean().describe('The rollout of a pin: agents on any other version, newer ones too, go to exactly this one'),
  }),
  cause: z
    .object({ kind: z.enum(['pin', 'unpin']), by: z.string().nullable(), reason: z.string().nullable() })
    .nullable()
    .describe('null: a new version started it (R1); else an admin pinned the type to this version (a rollback when older) or unpinned it'),
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
    aborted: count.describe('Targeted agents whose notification an abort of the rollout closed, or that the abort left un-notified'),
    inProgress: count.describe('Targeted agents with no outcome yet; the six outcomes and this add up to targeted'),
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
  completedAt: z.string().nullable().describe('When Herald first saw it complete (RolloutCompleted; webhooks get rollout.completed), checked every ROLLOUT_GUARD_INTERVAL_MS; null until then'),
  control: z
    .object({
      state: z.enum(['running', 'paused', 'aborted']).describe('paused: no attempt of its notifications goes out (first attempts, resends and retries are held); aborted: over'),
      heldAttempts: count.describe('Attempts held while the rollout is paused (a resume sends them), or in its canary phase for agents outside the group (the promotion sends them)'),
      phase: z
        .enum(['canary', 'awaiting-approval', 'all'])
        .describe('canary: only its canary group is notified; awaiting-approval: the canary passed (or nobody matched), an admin promotes it; all: everyone in the plan'),
      canary: z
        .object({
          agents: count.describe('Agents in the canary group'),
          succeeded: count.describe('Of those, updated (or found up to date)'),
          finished: count.describe('Of those, with an outcome'),
          successPercent: count.describe('The share of the group that must succeed for the canary to pass'),
          approval: z.enum(['automatic', 'manual']).describe('automatic: the rest follows as soon as the canary passed; manual: an admin promotes it'),
        })
        .nullable()
        .describe('The canary group, when the rollout started with one'),
    })
    .describe('Where admins (or the error threshold, or the canary) have put the rollout'),
});
export class RolloutDto extends createZodDto(Rollout) {}

export const RolloutDecision = z.object({
  action: z.enum(['paused', 'resumed', 'aborted', 'retried-failed', 'canary-passed', 'promoted']),
  by: z.string().describe('The admin token name, or "herald" when Herald decided (the error threshold, the canary)'),
  reason: z.string().nullable().describe("The admin's note, or why Herald decided"),
  details: z
    .record(z.string(), z.unknown())
    .describe(
      'paused: trigger (admin | error-threshold | canary-failed) and, for the threshold, failed, finished, thresholdPercent, for the canary, succeeded, canary, successPercent; resumed: the counts the threshold counts from; retried-failed: agents; canary-passed and promoted: succeeded, canary',
    ),
  at: z.string(),
});
export class RolloutDecisionsDto extends createZodDto(z.object({ rolloutId: z.uuid(), decisions: z.array(RolloutDecision) })) {}

/** An admin's reason for a pause or an abort (shown with the decision). */
export const ControlNote = z.strictObject({ reason: z.string().trim().min(1).max(500).optional() }).default({});
export class ControlNoteDto extends createZodDto(ControlNote) {}

export const ControlResult = z.object({
  rollout: Rollout,
  changed: z.boolean().describe('False when the rollout already was in the state asked for (nothing was recorded)'),
  agents: count.describe('resume: held attempts sent; abort: open notifications closed; retry-failed: agents given a new notification; promote: agents of the rest of the plan notified'),
});
export class ControlResultDto extends createZodDto(ControlResult) {}
export class RolloutListDto extends createZodDto(z.object({ total: z.number().int(), rollouts: z.array(Rollout) })) {}
export class RolloutAgentsDto extends createZodDto(
  z.object({
    rolloutId: z.uuid(),
    total: z.number().int(),
    agents: z.array(
      z.object({
        agentId: z.string(),
        via: z.enum(['plan', 'reconnect', 'admin']).describe("How the agent came into the rollout: R1's plan, a reconnect (R2) after it, or an admin's update now"),
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
        outcome: z.enum(['updated', 'failed', 'gave-up', 'already-up-to-date', 'superseded', 'aborted']).nullable().describe('How its part ended; null while in progress'),
        scanRequested: z.boolean(),
        scanned: z.boolean(),
        lastChangeAt: z.string().nullable(),
      }),
    ),
  }),
) {}

export const ProgressPoints = z.strictObject({
  points: z.coerce.number().int().min(2).max(500).default(60).describe('How many moments, evenly spaced from the start to the completion (or now)'),
});
export class ProgressPointsDto extends createZodDto(ProgressPoints) {}
export class RolloutProgressDto extends createZodDto(
  z.object({
    rolloutId: z.uuid(),
    targeted: count.describe('Its targeted agents: the most any count can reach'),
    from: z.iso.datetime().describe('When it started'),
    to: z.iso.datetime().describe('When it completed, or now while it runs'),
    points: z.array(
      z.object({
        at: z.iso.datetime(),
        sent: count.describe('Targeted agents sent a notification by then'),
        acknowledged: count.describe('…that had acknowledged one'),
        updated: count.describe('…that were updated'),
        failed: count.describe('…whose update failed for good or that were given up on (R4)'),
      }),
    ),
  }),
) {}
