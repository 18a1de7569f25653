import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { MalformedPatchError } from './format';
import { applyBsdiffPatch, createBsdiffPatch } from './index';
import { evolve } from './delta.fixtures.spec';

const run = promisify(execFile);

// Suffix sorting and bzip2 in JS take seconds on a loaded machine: a deadline for a hang, not a
// performance claim (npm run bench:delta measures speed).
jest.setTimeout(120_000);

/**
 * "Executable" releases: the same code with every 4-byte "address" shifted by a constant, the
 * case bsdiff is made for (a copy/add delta sees only short exact matches there).
 */
function relink(base: Buffer, shift: number): Buffer {
  const next = Buffer.from(base);
  for (let at = 0; at + 8 <= next.length; at += 16) next.writeUInt32LE((next.readUInt32LE(at) + shift) >>> 0, at);
  return Buffer.concat([next.subarray(0, 5_000), randomBytes(300), next.subarray(5_000)]);
}

/** BSDIFF40 patches, checked against Debian's bsdiff and bspatch (the stock tools other agents use). */
describe('bsdiff40 patches', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'bsdiff-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const cases = (): Array<[string, Buffer, Buffer]> => {
    const records = randomBytes(400_000);
    const code = randomBytes(300_000);
    return [
      ['records changed, dropped and inserted', records, evolve(records, 3)],
      ['code with shifted addresses', code, relink(code, 0x1234)],
      ['an empty old file', Buffer.alloc(0), randomBytes(1_000)],
      ['an empty new file', randomBytes(1_000), Buffer.alloc(0)],
    ];
  };

  it('rebuild the new file, and stay small where the difference is approximate', () => {
    for (const [what, old, nu] of cases()) {
      const patch = createBsdiffPatch(old, nu);
      expect({ what, same: applyBsdiffPatch(old, patch).equals(nu) }).toEqual({ what, same: true });
      if (what === 'code with shifted addresses') expect(patch.length).toBeLessThan(nu.length / 10);
    }
  });

  it('apply with Debian’s bspatch, and Debian’s bsdiff patches apply with ours, byte for byte', async () => {
    for (const [what, old, nu] of cases()) {
      const [oldFile, newFile, ours, theirs, out] = ['old', 'new', 'ours.patch', 'theirs.patch', 'out'].map((f) => path.join(dir, f)) as [string, string, string, string, string];
      await writeFile(oldFile, old);
      await writeFile(newFile, nu);
      await writeFile(ours, createBsdiffPatch(old, nu));
      await run('bspatch', [oldFile, out, ours]);
      expect({ what, same: (await readFile(out)).equals(nu) }).toEqual({ what, same: true });
      // Debian's bsdiff cannot map an empty file; bspatch takes our patches for them.
      if (old.length === 0 || nu.length === 0) continue;
      await run('bsdiff', [oldFile, newFile, theirs]);
      expect({ what, same: applyBsdiffPatch(old, await readFile(theirs)).equals(nu) }).toEqual({ what, same: true });
    }
  });

  it('refuses what is not a well-formed patch', () => {
    const old = randomBytes(10_000);
    const patch = createBsdiffPatch(old, evolve(old, 1));
    expect(() => applyBsdiffPatch(old, Buffer.from('HDP1 not this one'))).toThrow(MalformedPatchError);
    expect(() => applyBsdiffPatch(old, patch.subarray(0, 40))).toThrow(MalformedPatchError);
    const corrupt = Buffer.from(patch);
    corrupt.fill(0x55, 40, 60);
    expect(() => applyBsdiffPatch(old, corrupt)).toThrow(MalformedPatchError);
  });
});
