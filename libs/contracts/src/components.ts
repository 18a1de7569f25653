import { createHash } from 'node:crypto';
import type { ComponentTarget, InstalledComponent } from './common';
import { compareVersions } from './versions';

/**
 * A version the fleet is to run. `pinned`: an admin pinned the component type to it, so an agent
 * on any other version, newer ones included, is to go to it (a rollback when it is older).
 * `pinSequence`: the position in component-download's history of the last pin or unpin of the
 * type when the target was read (absent: never pinned); a target read before a pin change never
 * replaces one read after it, whatever the versions.
 */
export type FleetTarget<T extends Pick<ComponentTarget, 'type' | 'version'> = ComponentTarget> = T & { pinned?: boolean; pinSequence?: number };

/**
 * The components of `catalog` an agent is to change: those it has installed in an older version,
 * and, for a pinned target, in any other version. A type the agent does not report is not its
 * business (that component is not part of its platform).
 */
export function outdatedComponents<T extends Pick<ComponentTarget, 'type' | 'version'> & { pinned?: boolean }>(installed: readonly InstalledComponent[], catalog: readonly T[]): T[] {
  const have = new Map(installed.map((c) => [c.type, c.version]));
  return catalog.filter((c) => {
    const version = have.get(c.type);
    return version !== undefined && (c.pinned ? compareVersions(version, c.version) !== 0 : compareVersions(version, c.version) < 0);
  });
}

/** What an agent is sent of a target: the protocol's ComponentTarget, without Herald's own marks. */
export function protocolTarget(target: FleetTarget): ComponentTarget {
  const { pinned: _pinned, pinSequence: _pinSequence, ...rest } = target;
  return rest;
}

/**
 * A UUID derived from its inputs (SHA-256 based, RFC 9562 version 8), so the same logical
 * message gets the same id however many times it is produced, and receivers can de-duplicate.
 */
export function deterministicUuid(...parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
