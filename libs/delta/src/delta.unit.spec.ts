import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MalformedPatchError, PatchBaseMismatchError, applyPatch, applyPatchFile, composePatches, createPatch, patchHeader } from './index';
import { evolve, sha256 } from './delta.fixtures.spec';


describe('herald-delta-1 patches', () => {
  const base = randomBytes(200_000);
  const next = evolve(base, 3);
  const after = evolve(next, 11);

  it('rebuild the target byte for byte and are much smaller than it', () => {
    const patch = createPatch(base, next);
    expect(applyPatch(base, patch).equals(next)).toBe(true);
    expect(patch.length).toBeLessThan(next.length / 4);
    expect(patchHeader(patch)).toMatchObject({ baseSize: base.length, baseSha256: sha256(base), targetSize: next.length, targetSha256: sha256(next) });
  });

  it('handle the edge cases: empty, tiny, identical and unrelated files', () => {
    const cases: Array<[Buffer, Buffer]> = [
      [Buffer.alloc(0), Buffer.alloc(0)],
      [Buffer.alloc(0), randomBytes(100)],
      [randomBytes(100), Buffer.alloc(0)],
      [Buffer.from('abc'), Buffer.from('abd')],
      [base, base],
      [randomBytes(5_000), randomBytes(5_000)],
      [Buffer.alloc(100_000, 7), Buffer.alloc(120_000, 7)],
    ];
    for (const [a, b] of cases) expect(applyPatch(a, createPatch(a, b)).equals(b)).toBe(true);
    expect(createPatch(base, base).length).toBeLessThan(200);
  });

  it('compose: A→B joined with B→C rebuilds C from A', () => {
    const composed = composePatches(createPatch(base, next), createPatch(next, after));
    expect(applyPatch(base, composed).equals(after)).toBe(true);
    expect(patchHeader(composed)).toMatchObject({ baseSha256: sha256(base), targetSha256: sha256(after) });
    // Chains keep going: (A→C) + (C→D).
    const later = evolve(after, 5);
    expect(applyPatch(base, composePatches(composed, createPatch(after, later))).equals(later)).toBe(true);
  });

  it('refuse to compose patches that do not meet', () => {
    expect(() => composePatches(createPatch(base, next), createPatch(base, after))).toThrow(PatchBaseMismatchError);
  });

  it('refuse a wrong base, a cut patch and corrupted streams', () => {
    const patch = createPatch(base, next);
    expect(() => applyPatch(next, patch)).toThrow(PatchBaseMismatchError);
    expect(() => applyPatch(base, patch.subarray(0, patch.length - 5))).toThrow(MalformedPatchError);
    expect(() => applyPatch(base, Buffer.from('not a patch at all, really not'))).toThrow(MalformedPatchError);
    const corrupted = Buffer.from(patch);
    corrupted[corrupted.length - 20]! ^= 0xff;
    expect(() => applyPatch(base, corrupted)).toThrow(MalformedPatchError);
  });

  describe('applied from files (the agent path)', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(tmpdir(), 'delta-'));
    });
    afterAll(() => rm(dir, { recursive: true, force: true }));

    // Files bigger than the read window and the write buffer, and copies that jump across more
    // blocks than the cache holds, are megabytes of work: delta-files.int.spec.ts.
    it('stream a small rebuilt file to disk and report its digest', async () => {
      await writeFile(path.join(dir, 'base'), base);
      const result = await applyPatchFile(path.join(dir, 'base'), createPatch(base, next), path.join(dir, 'out'));
      expect(result).toEqual({ sha256: sha256(next), size: next.length });
      expect((await readFile(path.join(dir, 'out'))).equals(next)).toBe(true);
    });

    it('check the base on disk before writing anything', async () => {
      await writeFile(path.join(dir, 'other'), next);
      await expect(applyPatchFile(path.join(dir, 'other'), createPatch(base, next), path.join(dir, 'out2'))).rejects.toThrow(PatchBaseMismatchError);
      const sameSize = randomBytes(base.length);
      await writeFile(path.join(dir, 'same-size'), sameSize);
      await expect(applyPatchFile(path.join(dir, 'same-size'), createPatch(base, next), path.join(dir, 'out3'))).rejects.toThrow(/SHA-256/);
    });
  });
});
