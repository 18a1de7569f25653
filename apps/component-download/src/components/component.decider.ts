import { type Decider, type Event, unreachable } from '@herald/domain';
import { type SignedStatement, compareVersions, isNewer } from '@herald/contracts';

/*
 * One stream per component type ("component-virus-pattern"): every version the server has
 * verified and kept, every download it refused, the incremental patches it holds and what
 * retention removed. Retention (R5) is decided here, from settings that come in the command.
 */

export type ComponentVersionDownloaded = Event<
  'ComponentVersionDownloaded',
  {
    componentType: string;
    version: string;
    sha256: string;
    size: number;
    previousVersion: string | null;
    /** How the file was obtained from upstream: whole, or rebuilt from an upstream patch. */
    source: 'full' | 'incremental';
    /** The version the upstream patch started from, when source is incremental. */
    patchedFrom?: string | null;
    /** The upstream's signed statement for this version, passed on to agents (absent in events of earlier releases). */
    statement?: SignedStatement | null;
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

/** A patch from an earlier version to the latest, kept for agents (content-addressed like fulls). */
export type ComponentPatchBuilt = Event<
  'ComponentPatchBuilt',
  {
    componentType: string;
    fromVersion: string;
    toVersion: string;
    sha256: string;
    size: number;
    /** diff: from two fulls; composed: joined from two patches; upstream: the upstream's own. */
    method: PatchMethod;
    /** herald-delta-1, bsdiff40 or zstd-patch-from (docs/asyncapi.yaml); absent in events from before formats: herald-delta-1. */
    format?: string;
    builtAt: string;
  }
>;

/** Retention removed these fulls and patches; their files go once nothing refers to them. */
export type ComponentFilesRetired = Event<
  'ComponentFilesRetired',
  {
    componentType: string;
    fullVersions: string[];
    patches: Array<{ fromVersion: string; toVersion: string }>;
    at: string;
  }
>;

/**
 * A kept file that could not be handed to an agent: missing from the store, or its bytes no
 * longer its digest. Recorded once per file and fault until a newer version is kept.
 */
export type StoredFileFaulted = Event<
  'StoredFileFaulted',
  {
    componentType: string;
    sha256: string;
    fault: StoredFileFault;
    /** The full version the file is, or the patch it is. */
    version: string;
    patchFrom: string | null;
    detail: string;
    at: string;
  }
>;

export type StoredFileFault = 'missing' | 'corrupt';

/**
 * An admin pinned the type to a kept version (possibly older than the latest: a rollback), or
 * moved the pin. Agents are to run that version; retention keeps its full file while pinned.
 */
export type ComponentPinned = Event<'ComponentPinned', { componentType: string; version: string; by: string; reason: string | null; at: string }>;

/** An admin removed the pin: agents follow the latest version again. */
export type ComponentUnpinned = Event<'ComponentUnpinned', { componentType: string; version: string; by: string; at: string }>;

/**
 * A full file compressed for HTTP content coding (gzip or zstd), or found not worth it: `sha256`
 * null when the coded file was not smaller than the file itself (nothing stored).
 */
export type ComponentFullEncoded = Event<
  'ComponentFullEncoded',
  { componentType: string; version: string; coding: ContentCoding; sha256: string | null; size: number; at: string }
>;

/**
 * A patch was built but not kept: it was not smaller than the file it leads to. Recorded so that
 * later passes (every restart) do not build it again; a new latest version starts afresh.
 */
export type ComponentPatchNotKept = Event<
  'ComponentPatchNotKept',
  { componentType: string; fromVersion: string; toVersion: string; format: string; size: number; at: string }
>;

/** HTTP content codings full files are stored in besides identity (RFC 9110 section 8.4.1; zstd: RFC 8878). */
export const CONTENT_CODINGS = ['zstd', 'gzip'] as const;
export type ContentCoding = (typeof CONTENT_CODINGS)[number];

export type PatchMethod = 'diff' | 'composed' | 'upstream';

export type RejectionReason =
  | 'digest-mismatch'
  | 'size-mismatch'
  | 'truncated'
  | 'download-failed'
  | 'rollback'
  | 'patch-failed'
  | 'not-newer'
  /** The component store could not take the file (read-only, full, I/O error); the next check tries again. */
  | 'store-unavailable'
  /** The manifest entry's signed statement does not verify, or says something else than the entry. */
  | 'bad-statement';

export type ComponentEvent =
  | ComponentVersionDownloaded
  | ComponentDownloadRejected
  | ComponentPatchBuilt
  | ComponentFilesRetired
  | StoredFileFaulted
  | ComponentPinned
  | ComponentUnpinned
  | ComponentFullEncoded
  | ComponentPatchNotKept;

export interface KeptFile {
  version: string;
  sha256: string;
  size: number;
}

export interface KeptPatch {
  fromVersion: string;
  toVersion: string;
  format: string;
  sha256: string;
  size: number;
}

/** The format of patches recorded before there were several. */
export const FIRST_PATCH_FORMAT = 'herald-delta-1';

export interface ComponentState {
  latest: KeptFile | null;
  /** Full versions kept, oldest first. */
  fulls: KeptFile[];
  patches: KeptPatch[];
  /** The versions this server has kept, oldest first (the last 64): the patch window counts in these. */
  history: string[];
  /** `version|reason` of rejections recorded since the last kept version, so a check does not repeat them. */
  rejected: string[];
  /** `sha256|fault` of stored-file faults recorded since the last kept version (once each, not per download). */
  faulted: string[];
  /** The version an admin pinned the type to, or null. */
  pinned: string | null;
  /** `version|coding` of the content codings tried for kept fulls (stored or found not smaller). */
  encoded: string[];
  /** `from>to|format` of patches to the latest built and found not smaller than it. */
  notKept: string[];
}

export type ComponentCommand =
  | {
      type: 'RecordVerifiedDownload';
      componentType: string;
      version: string;
      sha256: string;
      size: number;
      source: 'full' | 'incremental';
      patchedFrom?: string | null;
      statement?: SignedStatement | null;
      now: Date;
    }
  | { type: 'RecordRejectedDownload'; componentType: string; version: string; reason: RejectionReason; detail: string; now: Date }
  | { type: 'RecordPatchBuilt'; componentType: string; fromVersion: string; toVersion: string; format: string; sha256: string; size: number; method: PatchMethod; now: Date }
  | { type: 'RecordStoredFileFault'; componentType: string; sha256: string; fault: StoredFileFault; version: string; patchFrom: string | null; detail: string; now: Date }
  | { type: 'ApplyRetention'; componentType: string; keepFullVersions: number; patchWindow: number; now: Date }
  | { type: 'Pin'; componentType: string; version: string; by: string; reason: string | null; now: Date }
  | { type: 'Unpin'; componentType: string; by: string; now: Date }
  | { type: 'RecordFullEncoded'; componentType: string; version: string; coding: ContentCoding; sha256: string | null; size: number; now: Date }
  | { type: 'RecordPatchNotKept'; componentType: string; fromVersion: string; toVersion: string; format: string; size: number; now: Date };

/** A pin the component's history does not allow: nothing of the type is kept, or not that version. */
export class PinRefusedError extends Error {
  constructor(
    readonly code: 'unknown-type' | 'not-kept',
    message: string,
  ) {
    super(message);
  }
}

export const componentStreamId = (componentType: string): string => `component-${componentType}`;

const HISTORY = 64;

/** The versions an agent may patch from to reach the latest: the `window` versions kept before it. */
export function patchWindow(state: ComponentState, window: number): string[] {
  if (!state.latest) return [];
  const before = state.history.filter((v) => compareVersions(v, state.latest!.version) < 0);
  return before.slice(-window).reverse();
}

export const componentDecider: Decider<ComponentState, ComponentCommand, ComponentEvent> = {
  initialState: (): ComponentState => ({ latest: null, fulls: [], patches: [], history: [], rejected: [], faulted: [], pinned: null, encoded: [], notKept: [] }),

  evolve(state: ComponentState, event: ComponentEvent): ComponentState {
    switch (event.type) {
      case 'ComponentVersionDownloaded': {
        const kept = { version: event.data.version, sha256: event.data.sha256, size: event.data.size };
        return {
          ...state,
          latest: kept,
          fulls: [...state.fulls, kept],
          history: [...state.history, kept.version].slice(-HISTORY),
          rejected: [],
          faulted: [],
          notKept: [],
        };
      }
      case 'ComponentDownloadRejected':
        return { ...state, rejected: [...state.rejected, `${event.data.version}|${event.data.reason}`] };
      case 'StoredFileFaulted':
        return { ...state, faulted: [...state.faulted, `${event.data.sha256}|${event.data.fault}`] };
      case 'ComponentPatchBuilt': {
        const { fromVersion, toVersion, sha256, size, format = FIRST_PATCH_FORMAT } = event.data;
        return { ...state, patches: [...state.patches, { fromVersion, toVersion, format, sha256, size }] };
      }
      case 'ComponentFilesRetired': {
        const fulls = new Set(event.data.fullVersions);
        const patches = new Set(event.data.patches.map((p) => `${p.fromVersion}>${p.toVersion}`));
        return {
          ...state,
          fulls: state.fulls.filter((f) => !fulls.has(f.version)),
          patches: state.patches.filter((p) => !patches.has(`${p.fromVersion}>${p.toVersion}`)),
          encoded: state.encoded.filter((e) => !fulls.has(e.slice(0, e.lastIndexOf('|')))),
        };
      }
      case 'ComponentFullEncoded':
        return { ...state, encoded: [...state.encoded, `${event.data.version}|${event.data.coding}`] };
      case 'ComponentPatchNotKept':
        return { ...state, notKept: [...state.notKept, `${event.data.fromVersion}>${event.data.toVersion}|${event.data.format}`] };
      case 'ComponentPinned':
        return { ...state, pinned: event.data.version };
      case 'ComponentUnpinned':
        return { ...state, pinned: null };
      default:
        return unreachable(event, 'event');
    }
  },

  decide,
};

type Command<T extends ComponentCommand['type']> = Extract<ComponentCommand, { type: T }>;

function decide(command: ComponentCommand, state: ComponentState): ComponentEvent[] {
  switch (command.type) {
    case 'RecordVerifiedDownload':
      return recordVerifiedDownload(command, state);
    case 'RecordRejectedDownload':
      return recordRejectedDownload(command, state);
    case 'RecordPatchBuilt':
      return recordPatchBuilt(command, state);
    case 'ApplyRetention':
      return applyRetention(command, state);
    case 'RecordStoredFileFault':
      return recordStoredFileFault(command, state);
    case 'Pin':
      return pin(command, state);
    case 'Unpin':
      return unpin(command, state);
    case 'RecordFullEncoded':
      return recordFullEncoded(command, state);
    case 'RecordPatchNotKept':
      return recordPatchNotKept(command, state);
    default:
      return unreachable(command, 'command');
  }
}

/** A verified version becomes the latest; a second instance that downloaded it concurrently records nothing. */
function recordVerifiedDownload(command: Command<'RecordVerifiedDownload'>, state: ComponentState): ComponentEvent[] {
  if (state.latest && !isNewer(command.version, state.latest.version)) return [];
  const { componentType, version, sha256, size, source } = command;
  const data = {
    componentType,
    version,
    sha256,
    size,
    previousVersion: state.latest?.version ?? null,
    source,
    patchedFrom: command.patchedFrom ?? null,
    statement: command.statement ?? null,
    downloadedAt: command.now.toISOString(),
  };
  return [{ type: 'ComponentVersionDownloaded', data }];
}

/** The same refusal on every scheduled check would drown the record; once per version and reason. */
function recordRejectedDownload(command: Command<'RecordRejectedDownload'>, state: ComponentState): ComponentEvent[] {
  if (state.rejected.includes(`${command.version}|${command.reason}`)) return [];
  const { componentType, version, reason, detail } = command;
  return [{ type: 'ComponentDownloadRejected', data: { componentType, version, reason, detail, at: command.now.toISOString() } }];
}

/** Every download of a damaged file meets the same fault: once per file and fault, until a version is kept. */
function recordStoredFileFault(command: Command<'RecordStoredFileFault'>, state: ComponentState): ComponentEvent[] {
  if (state.faulted.includes(`${command.sha256}|${command.fault}`)) return [];
  const { componentType, sha256, fault, version, patchFrom, detail } = command;
  return [{ type: 'StoredFileFaulted', data: { componentType, sha256, fault, version, patchFrom, detail, at: command.now.toISOString() } }];
}

/** Only patches to the latest version are worth keeping, one per format; a race with a newer version drops it. */
function recordPatchBuilt(command: Command<'RecordPatchBuilt'>, state: ComponentState): ComponentEvent[] {
  if (!state.latest || state.latest.version !== command.toVersion) return [];
  if (state.patches.some((p) => p.fromVersion === command.fromVersion && p.toVersion === command.toVersion && p.format === command.format)) return [];
  const { componentType, fromVersion, toVersion, format, sha256, size, method } = command;
  return [{ type: 'ComponentPatchBuilt', data: { componentType, fromVersion, toVersion, sha256, size, method, format, builtAt: command.now.toISOString() } }];
}

/**
 * R5: keep the newest `keepFullVersions` fulls and only the patches from the window to the
 * latest; a pinned version's full is kept besides, whatever its age.
 */
function applyRetention(command: Command<'ApplyRetention'>, state: ComponentState): ComponentEvent[] {
  const latest = state.latest;
  if (!latest) return [];
  const keep = Math.max(1, command.keepFullVersions);
  const fulls = state.fulls.filter((f) => f.version !== state.pinned).sort((a, b) => compareVersions(a.version, b.version));
  const retiredFulls = fulls.slice(0, Math.max(0, fulls.length - keep)).map((f) => f.version);
  const window = new Set(patchWindow(state, command.patchWindow));
  // A pair is retired with every format of it.
  const retiredPairs = new Map(
    state.patches.filter((p) => p.toVersion !== latest.version || !window.has(p.fromVersion)).map((p) => [`${p.fromVersion}>${p.toVersion}`, p]),
  );
  const retiredPatches = [...retiredPairs.values()].map((p) => ({ fromVersion: p.fromVersion, toVersion: p.toVersion }));
  if (retiredFulls.length === 0 && retiredPatches.length === 0) return [];
  return [{ type: 'ComponentFilesRetired', data: { componentType: command.componentType, fullVersions: retiredFulls, patches: retiredPatches, at: command.now.toISOString() } }];
}

/** Pins the type to a version whose full file is kept (the latest included); pinning it again changes nothing. */
function pin(command: Command<'Pin'>, state: ComponentState): ComponentEvent[] {
  const { componentType, version, by, reason } = command;
  if (!state.latest) throw new PinRefusedError('unknown-type', `no version of component type ${componentType} is kept`);
  if (!state.fulls.some((f) => f.version === version)) {
    const kept = state.fulls.map((f) => f.version).join(', ');
    throw new PinRefusedError('not-kept', `version ${version} of ${componentType} is not kept (kept: ${kept}); only a kept version can be pinned`);
  }
  if (state.pinned === version) return [];
  return [{ type: 'ComponentPinned', data: { componentType, version, by, reason, at: command.now.toISOString() } }];
}

function unpin(command: Command<'Unpin'>, state: ComponentState): ComponentEvent[] {
  if (state.pinned === null) return [];
  return [{ type: 'ComponentUnpinned', data: { componentType: command.componentType, version: state.pinned, by: command.by, at: command.now.toISOString() } }];
}

/** Once per kept full and coding; a full retired meanwhile gets none. */
function recordFullEncoded(command: Command<'RecordFullEncoded'>, state: ComponentState): ComponentEvent[] {
  if (!state.fulls.some((f) => f.version === command.version)) return [];
  if (state.encoded.includes(`${command.version}|${command.coding}`)) return [];
  const { componentType, version, coding, sha256, size } = command;
  return [{ type: 'ComponentFullEncoded', data: { componentType, version, coding, sha256, size, at: command.now.toISOString() } }];
}

/** Once per pair and format, and only for a patch to the latest (older ones are never built again anyway). */
function recordPatchNotKept(command: Command<'RecordPatchNotKept'>, state: ComponentState): ComponentEvent[] {
  if (state.latest?.version !== command.toVersion) return [];
  if (state.notKept.includes(`${command.fromVersion}>${command.toVersion}|${command.format}`)) return [];
  const { componentType, fromVersion, toVersion, format, size } = command;
  return [{ type: 'ComponentPatchNotKept', data: { componentType, fromVersion, toVersion, format, size, at: command.now.toISOString() } }];
}
