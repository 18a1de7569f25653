import type { Decider, Event } from '@herald/domain';

/*
 * The upstream's manifests, one stream ("upstream-manifest"): the highest manifest version
 * accepted, so an older one is refused (rollback protection), and every manifest refused and why.
 */

export type ManifestRejectionReason = 'unsigned' | 'bad-signature' | 'malformed-manifest' | 'rollback';

export type UpstreamManifestAccepted = Event<'UpstreamManifestAccepted', { manifestVersion: number; publishedAt: string; at: string }>;

export type UpstreamManifestRejected = Event<
  'UpstreamManifestRejected',
  { reason: ManifestRejectionReason; detail: string; manifestVersion: number | null; at: string }
>;

export type UpstreamEvent = UpstreamManifestAccepted | UpstreamManifestRejected;

export interface UpstreamState {
  highestVersion: number | null;
  /** The last refusal, so the same one is not recorded on every scheduled check. */
  lastRejection: { reason: ManifestRejectionReason; manifestVersion: number | null } | null;
}

export type UpstreamCommand =
  /** A manifest whose signature verified: accepted unless older than one accepted before. */
  | { type: 'RecordVerifiedManifest'; manifestVersion: number; publishedAt: string; now: Date }
  | { type: 'RecordRejectedManifest'; reason: Exclude<ManifestRejectionReason, 'rollback'>; detail: string; manifestVersion: number | null; now: Date };

export const UPSTREAM_STREAM = 'upstream-manifest';

/** True when the state accepts this manifest version (after the command was handled). */
export const manifestAccepted = (state: UpstreamState, manifestVersion: number): boolean =>
  state.highestVersion !== null && manifestVersion >= state.highestVersion;

const rejected = (state: UpstreamState, reason: ManifestRejectionReason, manifestVersion: number | null, detail: string, now: Date): UpstreamEvent[] =>
  state.lastRejection?.reason === reason && state.lastRejection.manifestVersion === manifestVersion
    ? []
    : [{ type: 'UpstreamManifestRejected', data: { reason, detail, manifestVersion, at: now.toISOString() } }];

export const upstreamDecider: Decider<UpstreamState, UpstreamCommand, UpstreamEvent> = {
  initialState: () => ({ highestVersion: null, lastRejection: null }),

  evolve(state, event) {
    switch (event.type) {
      case 'UpstreamManifestAccepted':
        return { highestVersion: event.data.manifestVersion, lastRejection: null };
      case 'UpstreamManifestRejected':
        return { ...state, lastRejection: { reason: event.data.reason, manifestVersion: event.data.manifestVersion } };
      default: {
        const unknown: never = event;
        throw new Error(`unknown event ${JSON.stringify(unknown)}`);
      }
    }
  },

  decide(command, state) {
    switch (command.type) {
      case 'RecordVerifiedManifest': {
        const highest = state.highestVersion;
        if (highest !== null && command.manifestVersion < highest) {
          return rejected(state, 'rollback', command.manifestVersion, `manifest version ${command.manifestVersion} is older than ${highest}, accepted before`, command.now);
        }
        if (highest === command.manifestVersion) return [];
        return [{ type: 'UpstreamManifestAccepted', data: { manifestVersion: command.manifestVersion, publishedAt: command.publishedAt, at: command.now.toISOString() } }];
      }
      case 'RecordRejectedManifest':
        return rejected(state, command.reason, command.manifestVersion, command.detail, command.now);
      default: {
        const unknown: never = command;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  },
};
