import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { evolve } from './delta.fixtures.spec';
import { MalformedPatchError } from './format';
import { PATCH_FORMATS, ZSTD_PATCH_MAX_BYTES, applyPatchIn, applyZstdPatch, buildableFormats, createPatchIn, createZstdPatch, zstdPatchAvailable } from './index';

const run = promisify(execFile);

// Level 19 on a loaded machine: a deadline for a hang, not a performance claim (bench:delta measures).
jest.setTimeout(120_000);

/** zstd-patch-from patches, checked against Debian's zstd CLI (what an agent in any language can use). */
describe('zstd-patch-from patches', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'zstd-patch-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('the native binding is built (npm ci builds it)', () => {
    expect(zstdPatchAvailable()).toBe(true);
  });

  const cases = (): Array<[string, Buffer, Buffer]> => {
    const records = randomBytes(600_000);
    return [
      ['records changed, dropped and inserted', records, evolve(records, 3)],
      ['one byte changed', records, Buffer.concat([records.subarray(0, 1000), Buffer.from([records[1000]! ^ 1]), records.subarray(1001)])],
      ['an empty old file', Buffer.alloc(0), randomBytes(1_000)],
      ['an empty new file', randomBytes(1_000), Buffer.alloc(0)],
    ];
  };

  it('rebuild the new file, and a tiny change costs a tiny patch', () => {
    for (const [what, old, nu] of cases()) {
      const patch = createZstdPatch(old, nu)!;
      expect({ what, same: applyZstdPatch(old, patch).equals(nu) }).toEqual({ what, same: true });
      if (what === 'one byte changed') expect(patch.length).toBeLessThan(100);
    }
  });

  it('apply with the stock zstd CLI (--patch-from), and its patches apply with ours', async () => {
    for (const [what, old, nu] of cases()) {
      const [oldFile, newFile, ours, theirs, out] = ['old', 'new', 'ours.zst', 'theirs.zst', 'out'].map((f) => path.join(dir, f)) as [string, string, string, string, string];
      await writeFile(oldFile, old);
      await writeFile(newFile, nu);
      await writeFile(ours, createZstdPatch(old, nu)!);
      await run('zstd', ['-q', '-f', '-d', '--long=31', `--patch-from=${oldFile}`, ours, '-o', out]);
      expect({ what, cli: (await readFile(out)).equals(nu) }).toEqual({ what, cli: true });
      // zstd 1.5.4's CLI aborts when an input of --patch-from is empty (an assertion in fileio.c).
      if (old.length === 0 || nu.length === 0) continue;
      await run('zstd', ['-q', '-f', '-19', '--long=27', `--patch-from=${oldFile}`, newFile, '-o', theirs]);
      expect({ what, ours: applyZstdPatch(old, await readFile(theirs)).equals(nu) }).toEqual({ what, ours: true });
    }
  });

  it('refuse a patch for another base or one that is not zstd', () => {
    const old = randomBytes(50_000);
    const nu = evolve(old, 2);
    const patch = createZstdPatch(old, nu)!;
    expect(() => applyZstdPatch(old, Buffer.from('not a zstd frame'))).toThrow(MalformedPatchError);
    const damaged = Buffer.from(patch);
    damaged[damaged.length - 2]! ^= 0xff; // inside the content checksum
    expect(() => applyZstdPatch(old, damaged)).toThrow(MalformedPatchError);
  });

  it('is not built for a base zstd would read as a formatted dictionary, nor above its size limit', () => {
    const magic = Buffer.from([0x37, 0xa4, 0x30, 0xec, 1, 2, 3]);
    expect(createZstdPatch(magic, randomBytes(100))).toBeNull();
    expect(buildableFormats(10, 10, magic)).not.toContain('zstd-patch-from');
    expect(buildableFormats(ZSTD_PATCH_MAX_BYTES + 1, 10, Buffer.alloc(4))).not.toContain('zstd-patch-from');
    expect(buildableFormats(10, 10, Buffer.alloc(4))).toEqual([...PATCH_FORMATS]);
  });

  it('every format round-trips through createPatchIn / applyPatchIn', () => {
    const old = randomBytes(80_000);
    const nu = evolve(old, 4);
    for (const format of PATCH_FORMATS) expect({ format, same: applyPatchIn(format, old, createPatchIn(format, old, nu)!).equals(nu) }).toEqual({ format, same: true });
    expect(() => applyPatchIn('vcdiff', old, Buffer.alloc(1))).toThrow('unknown patch format vcdiff');
  });
});
