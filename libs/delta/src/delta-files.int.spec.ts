import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyPatchFile, createPatch } from './index';
import { evolve, sha256 } from './delta.fixtures.spec';

/*
 * Patches applied from files of several megabytes (the agent path): more than the 1 MB write
 * buffer, and copies spread over more 1 MB base blocks than the cache holds. Seconds of diffing
 * on a quiet machine, so these live in the int tier (delta.unit.spec.ts keeps the small cases).
 */

// Diffing 6 and 12 MB takes 4–7 s on a quiet machine and has taken over 50 s on a loaded one:
// a deadline for a hang, not a performance claim (npm run bench:delta measures speed).
jest.setTimeout(180_000);

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

  it('leave no file open when the output cannot be created', async () => {
    const base = randomBytes(50_000);
    await writeFile(path.join(dir, 'base-small'), base);
    await writeFile(path.join(dir, 'taken'), 'already here');
    const patch = createPatch(base, evolve(base, 2));
    const openFiles = async () => (await readdir('/proc/self/fd')).length;
    const before = await openFiles();
    await expect(applyPatchFile(path.join(dir, 'base-small'), patch, path.join(dir, 'taken'))).rejects.toThrow(/EEXIST/);
    expect(await openFiles()).toBe(before);
  });
});
