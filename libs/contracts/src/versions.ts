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

/** Negative when a is older than b, zero when equal, positive when a is newer. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** True when `candidate` is strictly newer than `current` (an absent current is always older). */
export function isNewer(candidate: string, current: string | undefined | null): boolean {
  return current == null || compareVersions(candidate, current) > 0;
}
