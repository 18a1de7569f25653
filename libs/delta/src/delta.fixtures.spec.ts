import { createHash, randomBytes } from 'node:crypto';

/* Shared by delta.unit.spec.ts and delta-files.int.spec.ts (a test helper: neither built nor run on its own). */

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A file of 100-byte records, then the same with some records replaced, dropped and added, as a new version of a data file is. */
export function evolve(base: Buffer, seed: number): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < base.length; at += 100) {
    const record = base.subarray(at, at + 100);
    const roll = (at / 100 + seed) % 37;
    if (roll === 0) continue; // dropped
    parts.push(roll === 1 ? randomBytes(record.length) : record); // changed, or kept
    if (roll === 2) parts.push(randomBytes(80)); // inserted
  }
  parts.push(randomBytes(2_000)); // appended
  return Buffer.concat(parts);
}
