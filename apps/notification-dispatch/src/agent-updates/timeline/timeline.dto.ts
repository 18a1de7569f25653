import { createZodDto } from 'nestjs-zod';
import { z } from 'zod';
import { InstalledComponent } from '@herald/contracts';

export const TimelineEntry = z
  .object({
    position: z.number().int().describe("Position in the agent's timeline, from 1 (ask for entries after it with ?after=)"),
    at: z.string().describe('When the decision was taken (ISO 8601)'),
    type: z
      .enum([
        'UpdateTargeted',
        'NotificationTargetRaised',
        'TargetSkipped',
        'AttemptSent',
        'AttemptFailed',
        'ResendScheduled',
        'NotificationAcknowledged',
        'UpdateCompleted',
        'UpdateFailed',
        'UpdateRetryScheduled',
        'RolloutJoined',
        'UpdateNotNeeded',
        'NotificationGaveUp',
        'NotificationResolved',
        'ScanRequested',
        'ScanCommandSent',
        'ScanCommandFailed',
        'ScanCompleted',
      ])
      .describe('What was decided; see docs/rules.md'),
    correlationId: z.string().optional().describe('The flow that caused it, e.g. the component download'),
  })
  .catchall(z.unknown())
  .describe('One decision, with the details of its type (notificationId, attempt, reason, components, …)');

export const Timeline = z.object({
  agentId: z.string(),
  agent: z
    .object({ online: z.boolean(), independentMode: z.boolean(), independentPrivilege: z.boolean(), components: z.array(InstalledComponent) })
    .nullable()
    .describe('What dispatch last heard of the agent from agent-presence'),
  entries: z.array(TimelineEntry),
});
export class TimelineDto extends createZodDto(Timeline) {}
