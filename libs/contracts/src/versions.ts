import { z } from 'zod';

/**
 * A component version: dot-separated non-negative integers ("17.123.0"), compared numerically
 * part by part, so "17.10.0" is newer than "17.9.0". Missing trailing parts count as zero.
 */
export const ComponentVersion = z
  .string()
  .regex(/^\d{1,9}(\.\d{1,9}){0,3}$/, 'a version is 1 to 4 dot-separated numbers, e.g. "17.123.0"')
  .meta({ description: '1 to 4 dot-separated numbers, compared numerically part by part ("17.10.0" is newer than "17.9.0"; missing parts count as 0).' });

/** A component type: lower-case words joined by dashes ("virus-pattern", "scan-engine"). */
export const ComponentType = z
  .string()
  .regex(/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/, 'a component type is lower-case words joined by dashes')
  .max(64)
  .meta({ description: 'A component type: lower-case words joined by dashes, e.g. "virus-pattern", "scan-engine".' });

/** The most parts a version has; a version key always has this many. */
const VERSION_KEY_PARTS = 4;

/**
 * The one version order, as a key a database sorts by: the version's parts as numbers, padded
 * with zeros to four, so "1.0" and "1.0.0" get the same key and "17.10" sorts after "17.9".
 * Stored as PostgreSQL `integer[]` (each part is at most 9 digits, within int4); every query
 * that compares or sorts versions uses these keys, never the text. compareVersions is the same
 * order in TypeScript.
 */
export function versionKey(version: string): number[] {
  const parts = version.split('.').map((p) => (/^\d{1,9}$/.test(p) ? Number(p) : NaN));
  if (parts.length > VERSION_KEY_PARTS || parts.some(Number.isNaN)) throw new Error(`not a component version: ${JSON.stringify(version)}`);
  return [...parts, ...Array<number>(VERSION_KEY_PARTS - parts.length).fill(0)];
}

/** Negative when a is older than b, zero when equal, positive when a is newer. */
export function compareVersions(a: string, b: string): number {
  const ka = versionKey(a);
  const kb = versionKey(b);
  for (let i = 0; i < VERSION_KEY_PARTS; i++) {
    const d = ka[i]! - kb[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** True when `candidate` is strictly newer than `current` (an absent current is always older). */
export function isNewer(candidate: string, current: string | undefined | null): boolean {
  return current == null || compareVersions(candidate, current) > 0;
}
