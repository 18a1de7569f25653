import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { SERVED_PATCH_FORMATS } from '@herald/contracts';
import { PATCH_FORMATS, createBsdiffPatch, createPatch, createZstdPatch } from '@herald/delta';

jest.setTimeout(120_000);

/*
 * Section 6a of docs/asyncapi.yaml, run as written: its Python bspatch and its Python zstandard
 * call (Debian's python3 with python3-zstandard, what a Python agent would use) must rebuild
 * the new file from Herald's own bsdiff40 and zstd-patch-from patches, byte for byte.
 */

const description = (parseYaml(readFileSync(path.join(__dirname, '..', '..', 'docs', 'asyncapi.yaml'), 'utf8')) as { info: { description: string } }).info.description;
const section = description.slice(description.indexOf('## 6a. Patch formats'), description.indexOf('## 7. '));
const bspatch = /```python\n([\s\S]*?)```/.exec(section)?.[1];
const zstdCall = /Python `zstandard`: `([^`]+)`/.exec(section)?.[1];

/** docs/downloads.md's herald-delta-1 applier in Python, run as written. */
const downloads = readFileSync(path.join(__dirname, '..', '..', 'docs', 'downloads.md'), 'utf8');
const heraldDelta = /```python\n([\s\S]*?def apply_herald_delta[\s\S]*?)```/.exec(downloads)?.[1];

const driver = `
import json, sys
from zstandard import ZstdDecompressor, ZstdCompressionDict, DICT_TYPE_RAWCONTENT
for case in json.load(sys.stdin):
    old = open(case["old"], "rb").read()
    patch = open(case["patch"], "rb").read()
    new = bspatch(old, patch) if case["format"] == "bsdiff40" else eval(ZSTD_CALL)
    open(case["out"], "wb").write(new)
`;

describe('the patch formats of docs/asyncapi.yaml (section 6a)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'patch-formats-doc-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('names every format the server builds, and gives the Python to apply the standard ones', () => {
    expect([...PATCH_FORMATS]).toEqual([...SERVED_PATCH_FORMATS]);
    for (const format of SERVED_PATCH_FORMATS) expect(section).toContain(`| \`${format}\` |`);
    expect(bspatch).toContain('def bspatch(old: bytes, patch: bytes) -> bytes:');
    expect(zstdCall).toContain('DICT_TYPE_RAWCONTENT');
  });

  it("rebuilds files from Herald's bsdiff40 and zstd-patch-from patches with Python's bz2 and zstandard", async () => {
    const base = randomBytes(200_000);
    const code = Buffer.from(base);
    for (let at = 0; at + 8 <= code.length; at += 16) code.writeUInt32LE((code.readUInt32LE(at) + 0x4000) >>> 0, at);
    const pairs: Array<[string, Buffer, Buffer]> = [
      ['shifted addresses and an insertion', base, Buffer.concat([code.subarray(0, 7_000), randomBytes(500), code.subarray(7_000)])],
      ['one byte changed', base, Buffer.concat([base.subarray(0, 99), Buffer.from([base[99]! ^ 0x55]), base.subarray(100)])],
      ['the same file', base, base],
      ['an empty old file', Buffer.alloc(0), randomBytes(3_000)],
    ];
    const cases: Array<{ what: string; format: string; old: string; patch: string; out: string; expected: Buffer }> = [];
    for (const [i, [what, old, nu]] of pairs.entries()) {
      const oldFile = path.join(dir, `${i}.old`);
      await writeFile(oldFile, old);
      for (const [format, patch] of [
        ['bsdiff40', createBsdiffPatch(old, nu)],
        ['zstd-patch-from', createZstdPatch(old, nu)!],
      ] as const) {
        const patchFile = path.join(dir, `${i}.${format}`);
        await writeFile(patchFile, patch);
        cases.push({ what, format, old: oldFile, patch: patchFile, out: `${patchFile}.out`, expected: nu });
      }
    }
    const program = `${bspatch}\nZSTD_CALL = ${JSON.stringify(zstdCall)}\n${driver}`;
    const run = promisify(execFile)('/usr/bin/python3', ['-c', program], { timeout: 60_000 });
    run.child.stdin!.end(JSON.stringify(cases.map(({ format, old, patch, out }) => ({ format, old, patch, out }))));
    await run;
    for (const c of cases) expect({ what: c.what, format: c.format, same: (await readFile(c.out)).equals(c.expected) }).toEqual({ what: c.what, format: c.format, same: true });
  });

  it("rebuilds files from Herald's herald-delta-1 patches with docs/downloads.md's Python (brotli)", async () => {
    expect(heraldDelta).toContain('def apply_herald_delta(base: bytes, patch: bytes) -> bytes:');
    const base = randomBytes(300_000);
    const moved = Buffer.concat([base.subarray(150_000), randomBytes(1_000), base.subarray(0, 150_000)]);
    const pairs: Array<[string, Buffer, Buffer]> = [
      ['halves swapped around an insertion (a COPY backwards)', base, moved],
      ['one byte changed', base, Buffer.concat([base.subarray(0, 99), Buffer.from([base[99]! ^ 0x55]), base.subarray(100)])],
      ['nothing in common', base, randomBytes(5_000)],
    ];
    const cases: Array<{ what: string; old: string; patch: string; out: string; expected: Buffer }> = [];
    for (const [i, [what, old, nu]] of pairs.entries()) {
      const oldFile = path.join(dir, `hd-${i}.old`);
      const patchFile = path.join(dir, `hd-${i}.patch`);
      await writeFile(oldFile, old);
      await writeFile(patchFile, createPatch(old, nu));
      cases.push({ what, old: oldFile, patch: patchFile, out: `${patchFile}.out`, expected: nu });
    }
    const program = `${heraldDelta}
import json, sys
for case in json.load(sys.stdin):
    open(case["out"], "wb").write(apply_herald_delta(open(case["old"], "rb").read(), open(case["patch"], "rb").read()))
`;
    const run = promisify(execFile)('/usr/bin/python3', ['-c', program], { timeout: 60_000 });
    run.child.stdin!.end(JSON.stringify(cases.map(({ old, patch, out }) => ({ old, patch, out }))));
    await run;
    for (const c of cases) expect({ what: c.what, same: (await readFile(c.out)).equals(c.expected) }).toEqual({ what: c.what, same: true });
  });
});
