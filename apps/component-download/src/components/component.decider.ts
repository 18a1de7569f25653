import { Decider, Event } from '@herald/event-store';
import { isNewer } from '@herald/contracts';

/*
 * One stream per component type ("component-virus-pattern"): every version the server has
 * verified and kept, and every download it refused.
 */

export type ComponentVersionDownloaded = Event<
  'ComponentVersionDownloaded',
  {
    componentType: string;
    version: string;
    sha256: string;
    size: number;
    previousVersion: string | null;
    /** How the file was obtained from upstream. */
    source: 'full' | 'incremental';
    downloadedAt: string;
  }
>;

export type ComponentDownloadRejected = Event<
  'ComponentDownloadRejected',
  {
    componentType: string;
    version: string;
    reason: RejectionReason;
    detail: string;
    at: string;
  }
>;

export type RejectionReason = 'digest-mismatch' | 'size-mismatch' | 'download-failed' | 'not-newer';

export type ComponentEvent = ComponentVersionDownloaded | ComponentDownloadRejected;

export interface ComponentState {
  latest: { version: string; sha256: string; size: number } | null;
}

export type ComponentCommand =
  | {
      type: 'RecordVerifiedDownload';
      componentType: string;
      version: string;
      sha256: string;
      size: number;
      source: 'full' | 'incremental';
      now: Date;
    }
  | { type: 'RecordRejectedDownload'; componentType: string; version: string; reason: RejectionReason; detail: string; now: Date };

export const componentStreamId = (componentType: string): string => `component-${componentType}`;

export const componentDecider: Decider<ComponentState, ComponentCommand, ComponentEvent> = {
  initialState: (): ComponentState => ({ latest: null }),

  evolve(state: ComponentState, event: ComponentEvent): ComponentState {
    switch (event.type) {
      case 'ComponentVersionDownloaded':
        return { latest: { version: event.data.version, sha256: event.data.sha256, size: event.data.size } };
      case 'ComponentDownloadRejected':
        return state;
      default: {
        const unknown: never = event;
        throw new Error(`unknown event ${JSON.stringify(unknown)}`);
      }
    }
  },

  decide(command: ComponentCommand, state: ComponentState): ComponentEvent[] {
    switch (command.type) {
      case 'RecordVerifiedDownload': {
        // A second instance that downloaded the same version concurrently records nothing.
        if (state.latest && !isNewer(command.version, state.latest.version)) return [];
        return [
          {
            type: 'ComponentVersionDownloaded',
            data: {
              componentType: command.componentType,
              version: command.version,
              sha256: command.sha256,
              size: command.size,
              previousVersion: state.latest?.version ?? null,
              source: command.source,
              downloadedAt: command.now.toISOString(),
            },
          },
        ];
      }
      case 'RecordRejectedDownload':
        return [
          {
            type: 'ComponentDownloadRejected',
            data: {
              componentType: command.componentType,
              version: command.version,
              reason: command.reason,
              detail: command.detail,
              at: command.now.toISOString(),
            },
          },
        ];
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },
};
