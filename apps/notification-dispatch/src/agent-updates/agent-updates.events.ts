import type { AppliedComponent, FleetTarget, InstalledComponent } from '@herald/contracts';
import type { Event } from '@herald/domain';

/*
 * The per-agent stream of notification-dispatch ("agent-<id>"): every decision the server takes
 * about one agent. Read back in order, it is that agent's timeline.
 */

/** What opened a notification: a rollout's plan (R1), a reconnect (R2), or an admin (retry of a rollout's failed agents). */
export type Trigger = 'download' | 'reconnect' | 'admin';

/** Why an agent was not notified. */
export type SkipReason =
  /** R1 without R1a: the agent is offline. */
  | 'offline'
  /** R1 without R1a: the agent runs in Independent mode with the privilege to do so. */
  | 'independent'
  /** The agent runs in Independent mode without holding the privilege; an admin should look. */
  | 'no-privilege';

/** The resend policy and options in force when the notification was opened (R3, R4). */
export interface NotificationPolicy {
  resendIntervalMs: number;
  maxAttempts: number;
  ackTimeoutMs: number;
  /** After an acknowledgement, how long the agent has to report; then the update counts as failed. */
  reportTimeoutMs: number;
  scanAfterUpdate: boolean;
  /** Retries of an update the agent reported as failed (absent in notifications opened before retries existed: none). */
  updateRetry?: UpdateRetryPolicy;
}

/**
 * How a failed update is tried again: retry n is due after delayMs × backoff^(n−1), lengthened
 * by up to `jitter` of itself (so a fleet that failed together does not retry together).
 */
export interface UpdateRetryPolicy {
  /** Retries after the first failure; 0 gives up at once. */
  retries: number;
  delayMs: number;
  backoff: number;
  /** 0..1: the largest fraction a delay is lengthened by. */
  jitter: number;
}

export type UpdateTargeted = Event<
  'UpdateTargeted',
  {
    agentId: string;
    notificationId: string;
    /** The rollout that opened it (its plan, or an admin's retry of its failed agents); null when R2 or an admin's "update now" opened it. */
    rolloutId: string | null;
    /**
     * R2 and "update now" only: the rollouts of the versions it brings (one per component whose newest version
     * came with a rollout). The update counts in each, also where the agent was not in the plan.
     * Absent in events written before updates on reconnect were attributed.
     */
    rolloutIds?: string[];
    trigger: Trigger;
    components: FleetTarget[];
    policy: NotificationPolicy;
    /** trigger admin: who asked (the admin token's name). */
    by?: string;
    at: string;
  }
>;

/** R7: a newer version arrived while the notification was open; later attempts carry it. */
export type NotificationTargetRaised = Event<
  'NotificationTargetRaised',
  {
    agentId: string;
    notificationId: string;
    /** The rollout that raised it; null when R2 did, on reconnect. */
    rolloutId: string | null;
    /** R2 or an admin's "update now": the rollouts of the versions it brings now (as in UpdateTargeted). */
    rolloutIds?: string[];
    /** Present when an admin's "update now" raised it (absent: a rollout, or R2 on reconnect), with who asked. */
    trigger?: 'admin';
    by?: string;
    components: FleetTarget[];
    at: string;
  }
>;

/**
 * R8: an agent that was not notified, and why. By a rollout (download trigger, rolloutId set), or
 * on reconnect (R2 leaves an outdated Independent agent alone): then `rolloutIds` are the
 * rollouts of the versions it is behind on and `components` those versions.
 */
export type TargetSkipped = Event<
  'TargetSkipped',
  { agentId: string; rolloutId: string | null; rolloutIds?: string[]; trigger: Trigger; reason: SkipReason; components?: FleetTarget[]; at: string }
>;

/** Attempt n is being published to the agent's queue (recorded just before the publish). */
export type AttemptSent = Event<
  'AttemptSent',
  { agentId: string; notificationId: string; attempt: number; commandId: string; components: FleetTarget[]; ackDeadlineAt: string; at: string }
>;

export type AttemptFailed = Event<
  'AttemptFailed',
  {
    agentId: string;
    notificationId: string;
    attempt: number;
    /** no-queue: the agent had no live command queue (not connected); ack-timeout: no acknowledgement in time. */
    reason: 'no-queue' | 'ack-timeout';
    at: string;
  }
>;

export type ResendScheduled = Event<'ResendScheduled', { agentId: string; notificationId: string; nextAttempt: number; dueAt: string; at: string }>;

export type NotificationAcknowledged = Event<'NotificationAcknowledged', { agentId: string; notificationId: string; attempt: number; at: string }>;

export type UpdateCompleted = Event<
  'UpdateCompleted',
  {
    agentId: string;
    notificationId: string;
    components: AppliedComponent[];
    installed: InstalledComponent[];
    /** False when the target was raised meanwhile: another attempt follows with the newer versions. */
    targetReached: boolean;
    at: string;
  }
>;

/**
 * The update failed for good: the agent reported a failure (or never reported) and no retry is
 * left. `retries` is how many retries came before (absent in events written before retries).
 */
export type UpdateFailed = Event<'UpdateFailed', { agentId: string; notificationId: string; error: string; installed: InstalledComponent[]; retries?: number; at: string }>;

/**
 * The update failed and will be tried again: retry `retry` of `retries` goes out as attempt
 * `nextAttempt` at `dueAt` (through the delay queues), with the target as it is then (R7).
 */
export type UpdateRetryScheduled = Event<
  'UpdateRetryScheduled',
  { agentId: string; notificationId: string; error: string; installed: InstalledComponent[]; retry: number; retries: number; nextAttempt: number; dueAt: string; at: string }
>;

/** A rollout's target is already on its way in the agent's open notification: the rollout follows that one. */
export type RolloutJoined = Event<'RolloutJoined', { agentId: string; notificationId: string; rolloutId: string; at: string }>;

/** A rollout came to this agent and found it already up to date (it caught up meanwhile): nothing to send. */
export type UpdateNotNeeded = Event<'UpdateNotNeeded', { agentId: string; notificationId: string; rolloutId: string; at: string }>;

export type NotificationGaveUp = Event<'NotificationGaveUp', { agentId: string; notificationId: string; attempts: number; at: string }>;

/**
 * Closed without an update: replaced by an R2 update on reconnect, the agent caught up on its
 * own, or an admin aborted a rollout it works for (`rolloutId`, `by`).
 */
export type NotificationResolved = Event<
  'NotificationResolved',
  {
    agentId: string;
    notificationId: string;
    reason: 'superseded-by-reconnect' | 'already-up-to-date' | 'aborted';
    rolloutId?: string;
    by?: string;
    /** already-up-to-date: what the agent said it has, so each rollout the notification worked for can tell whether its version was reached. */
    installed?: InstalledComponent[];
    at: string;
  }
>;

export type ScanRequested = Event<'ScanRequested', { agentId: string; notificationId: string; scanId: string; at: string }>;
export type ScanCommandSent = Event<'ScanCommandSent', { agentId: string; scanId: string; commandId: string; at: string }>;
export type ScanCommandFailed = Event<'ScanCommandFailed', { agentId: string; scanId: string; reason: 'no-queue'; at: string }>;
export type ScanCompleted = Event<
  'ScanCompleted',
  { agentId: string; scanId: string; outcome: 'clean' | 'threats-found' | 'failed'; threatsFound: number; at: string }
>;

export type AgentUpdateEvent =
  | UpdateTargeted
  | NotificationTargetRaised
  | TargetSkipped
  | AttemptSent
  | AttemptFailed
  | ResendScheduled
  | NotificationAcknowledged
  | UpdateCompleted
  | UpdateFailed
  | UpdateRetryScheduled
  | RolloutJoined
  | UpdateNotNeeded
  | NotificationGaveUp
  | NotificationResolved
  | ScanRequested
  | ScanCommandSent
  | ScanCommandFailed
  | ScanCompleted;

export type AgentUpdateEventType = AgentUpdateEvent['type'];
