import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyPatchFile, createPatch } from './index';

/*
 * Patches applied from files of several megabytes (the agent path): more than the 1 MB write
 * buffer, and copies spread over more 1 MB base blocks than the cache holds. Seconds of diffing
 * on a quiet machine, so these live in the int tier (delta.unit.spec.ts keeps the small cases).
 */

// Diffing 6 and 12 MB takes 4–7 s on a quiet machine and has taken over 50 s on a loaded one:
// a deadline for a hang, not a performance claim (npm run bench:delta measures speed).
jest.setTimeout(180_000);

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A file of records, then the same with some records replaced, dropped and added (as in delta.unit.spec.ts). */
function evolve(base: Buffer, seed: number): Buffer {
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

describe('herald-delta-1 patches applied from big files', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'delta-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('stream the rebuilt file to disk and report its digest', async () => {
    // Bigger than the 4 MB read window and the 1 MB write buffer, so both slide.
    const big = Buffer.concat(Array.from({ length: 60 }, () => randomBytes(100_000)));
    const bigNext = evolve(big, 1);
    await writeFile(path.join(dir, 'base'), big);
    const result = await applyPatchFile(path.join(dir, 'base'), createPatch(big, bigNext), path.join(dir, 'out'));
    expect(result).toEqual({ sha256: sha256(bigNext), size: bigNext.length });
    expect((await readFile(path.join(dir, 'out'))).equals(bigNext)).toBe(true);
  });

  it('follow copies that jump all over the base (more blocks than the cache holds)', async () => {
    const big = randomBytes(12 << 20);
    // 300 KB pieces of the base in reverse order, each followed by a few new bytes.
    const pieces: Buffer[] = [];
    for (let at = big.length - 300_000; at >= 0; at -= 300_000) pieces.push(big.subarray(at, at + 300_000), randomBytes(10));
    const shuffled = Buffer.concat(pieces);
    await writeFile(path.join(dir, 'base-big'), big);
    const patch = createPatch(big, shuffled);
    expect(patch.length).toBeLessThan(100_000);
    const result = await applyPatchFile(path.join(dir, 'base-big'), patch, path.join(dir, 'out-big'));
    expect(result.sha256).toBe(sha256(shuffled));
  });
});
