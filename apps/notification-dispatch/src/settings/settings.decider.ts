import { z } from 'zod';
import { Labels } from '@herald/contracts';
import type { Decider, Event } from '@herald/domain';

/** The event-triggered update settings (rules R1–R4, R6, retries of failed updates). Defaults are the product's. */
export const EventTriggeredSettings = z.strictObject({
  /** R1: notify agents as soon as a new component version is downloaded and verified. */
  notifyOnDownload: z.boolean(),
  /** R1a: R1 also targets Independent and offline agents. */
  includeIndependentAndOffline: z.boolean(),
  /** R2: an outdated agent that connects is updated at once (Independent agents excluded). */
  updateOnReconnect: z.boolean(),
  /** R3: after an update R1 or R2 started, the agent runs Scan Now (Independent agents excluded). */
  scanAfterUpdate: z.boolean(),
  /** R4: wait between a failed attempt and the next. */
  resendIntervalSeconds: z.number().int().min(1).max(86_400),
  /** R4: attempts in all, the first included. */
  maxAttempts: z.number().int().min(1).max(100),
  /** R4: an attempt not acknowledged within this long has failed. */
  ackTimeoutSeconds: z.number().int().min(1).max(3_600),
  /** After acknowledging, how long an agent has to report its update before it counts as failed. */
  reportTimeoutSeconds: z.number().int().min(10).max(86_400),
  /** R6: at most this many agents between "notified" and "reported" at once. */
  maxInFlight: z.number().int().min(1).max(100_000),
  /** Retries of an update the agent reported as failed (or never reported); 0 gives up at the first failure. */
  updateRetries: z.number().int().min(0).max(20),
  /** The wait before the first retry of a failed update. */
  updateRetryDelaySeconds: z.number().int().min(1).max(86_400),
  /** Each further retry waits this many times longer than the one before (1: always the same). */
  updateRetryBackoff: z.number().min(1).max(10),
  /** 0..1: each retry's wait is lengthened by a random fraction of it up to this, so a fleet that failed together does not retry together. */
  updateRetryJitter: z.number().min(0).max(1),
  /**
   * A running rollout pauses by itself once more than this percentage of its finished agents
   * failed (counted from its last resume); 0 switches the check off.
   */
  rolloutErrorThresholdPercent: z.number().min(0).max(100),
  /** The error threshold applies once at least this many of the rollout's agents finished (since its last resume). */
  rolloutErrorThresholdMinFinished: z.number().int().min(1).max(1_000_000),
  /**
   * R1: a rollout's first attempts are spread at random over this many seconds (in ten steps:
   * a tenth of the agents at once, the rest later), so a release does not reach the whole fleet
   * in one storm; 0 notifies everyone at once.
   */
  rolloutSpreadSeconds: z.number().int().min(0).max(86_400),
  /**
   * R1 in phases: a rollout first notifies a canary group (the agents carrying every one of
   * canaryLabels, or else canaryPercent of its targets drawn per rollout) and the rest only once
   * the canary passed. An empty canaryLabels and a canaryPercent of 0 switch phases off.
   */
  canaryLabels: Labels,
  canaryPercent: z.number().int().min(0).max(99),
  /** The canary passed once at least this percentage of its agents are updated (or found up to date). */
  canarySuccessPercent: z.number().int().min(1).max(100),
  /** automatic: the rest is notified as soon as the canary passed; manual: an admin promotes the rollout. */
  canaryApproval: z.enum(['automatic', 'manual']),
});
export type EventTriggeredSettings = z.infer<typeof EventTriggeredSettings>;

export const DEFAULT_SETTINGS: EventTriggeredSettings = {
  notifyOnDownload: true,
  includeIndependentAndOffline: false,
  updateOnReconnect: true,
  scanAfterUpdate: false,
  resendIntervalSeconds: 900,
  maxAttempts: 5,
  ackTimeoutSeconds: 60,
  reportTimeoutSeconds: 1_800,
  maxInFlight: 1_000,
  updateRetries: 3,
  updateRetryDelaySeconds: 60,
  updateRetryBackoff: 2,
  updateRetryJitter: 0.2,
  rolloutErrorThresholdPercent: 0,
  rolloutErrorThresholdMinFinished: 20,
  rolloutSpreadSeconds: 0,
  canaryLabels: {},
  canaryPercent: 0,
  canarySuccessPercent: 95,
  canaryApproval: 'automatic',
};

export type SettingsChanged = Event<
  'SettingsChanged',
  { settings: EventTriggeredSettings; changes: Array<{ field: string; from: unknown; to: unknown }>; by: string; at: string }
>;

/** Changes the fields given (all of them for a PUT); decided against the current settings, so concurrent changes do not lose each other. */
export type SettingsCommand = { type: 'ChangeSettings'; patch: Partial<EventTriggeredSettings>; by: string; now: Date };

export const SETTINGS_STREAM = 'settings-event-triggered-updates';

export const settingsDecider: Decider<EventTriggeredSettings, SettingsCommand, SettingsChanged> = {
  initialState: () => DEFAULT_SETTINGS,
  // Settings recorded before a field existed read it at its default.
  evolve: (_state, event) => ({ ...DEFAULT_SETTINGS, ...event.data.settings }),
  decide(command, state) {
    const settings = { ...state, ...command.patch };
    const changes = (Object.keys(settings) as Array<keyof EventTriggeredSettings>)
      // By value: canaryLabels is an object, and the same labels again are no change.
      .filter((k) => JSON.stringify(settings[k]) !== JSON.stringify(state[k]))
      .map((field) => ({ field, from: state[field], to: settings[field] }));
    if (changes.length === 0) return [];
    return [{ type: 'SettingsChanged', data: { settings, changes, by: command.by, at: command.now.toISOString() } }];
  },
};
