import { Injectable } from '@nestjs/common';
import { CommandHandler, EventStore, Tx } from '@herald/event-store';
import { RecordedEvent } from '@herald/domain';
import { DEFAULT_SETTINGS, EventTriggeredSettings, SETTINGS_STREAM, SettingsChanged, settingsDecider } from './settings.decider';
import type { NotificationPolicy } from '../agent-updates/agent-updates.events';

/** Reads and changes the settings; every decision reads them fresh, so a change applies to the next trigger. */
@Injectable()
export class SettingsService {
  constructor(
    private readonly store: EventStore,
    private readonly commands: CommandHandler,
  ) {}

  async current(tx?: Tx): Promise<EventTriggeredSettings> {
    const { events } = await this.store.readStream<SettingsChanged>(SETTINGS_STREAM, tx);
    return events.reduce(settingsDecider.evolve, DEFAULT_SETTINGS);
  }

  async history(): Promise<RecordedEvent<SettingsChanged>[]> {
    return (await this.store.readStream<SettingsChanged>(SETTINGS_STREAM)).events;
  }

  async change(patch: Partial<EventTriggeredSettings>, by: string): Promise<EventTriggeredSettings> {
    const result = await this.commands.handle(settingsDecider, SETTINGS_STREAM, { type: 'ChangeSettings', patch, by, now: new Date() });
    return result.kind === 'handled' ? result.state : this.current();
  }
}

/** The part of the settings a notification keeps for its whole life. */
export function policyOf(s: EventTriggeredSettings): NotificationPolicy {
  return {
    resendIntervalMs: s.resendIntervalSeconds * 1000,
    maxAttempts: s.maxAttempts,
    ackTimeoutMs: s.ackTimeoutSeconds * 1000,
    reportTimeoutMs: s.reportTimeoutSeconds * 1000,
    scanAfterUpdate: s.scanAfterUpdate,
    updateRetry: { retries: s.updateRetries, delayMs: s.updateRetryDelaySeconds * 1000, backoff: s.updateRetryBackoff, jitter: s.updateRetryJitter },
  };
}
