import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { applyPatchIn, decodeFull } from '@herald/delta';
import type * as Builder from './patch-builder';

jest.setTimeout(120_000);

/*
 * The compiled builder (the int tier's global setup builds dist/), as the service runs it: jobs
 * over 1 MiB go to a worker thread, native zstd included, and the service's thread keeps turning
 * while they run.
 */
const compiled = path.join(__dirname, '../../../../../dist/apps/component-download/src/components/keep-versions');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildPatch } = require(path.join(compiled, 'patch-builder.js')) as typeof Builder;

describe('patch builder (worker thread)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'patch-builder-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('builds every format of a 3 MB pair and codes the full file off the main thread', async () => {
    expect(existsSync(path.join(compiled, 'patch-builder.worker.js'))).toBe(true);
    const base = Buffer.concat([randomBytes(1_500_000), Buffer.from('record '.repeat(200_000))]);
    const target = Buffer.concat([base.subarray(0, 700_000), randomBytes(2_000), base.subarray(700_000), Buffer.from('new records '.repeat(1_000))]);
    const [basePath, targetPath] = [path.join(dir, 'a'), path.join(dir, 'b')];
    await writeFile(basePath, base);
    await writeFile(targetPath, target);

    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      const started = Date.now();
      const patches = await buildPatch({ kind: 'diff', basePath, targetPath, formats: ['herald-delta-1', 'bsdiff40', 'zstd-patch-from'] });
      const ms = Date.now() - started;
      expect(patches.map((p) => p.format)).toEqual(['herald-delta-1', 'bsdiff40', 'zstd-patch-from']);
      for (const { format, patch } of patches) {
        expect({ format, rebuilt: applyPatchIn(format, base, patch).equals(target) }).toEqual({ format, rebuilt: true });
        expect(patch.length).toBeLessThan(target.length / 10);
      }
      // The build took this thread's time only if the timer stood still all along.
      expect({ ms, turned: ticks > 0 }).toEqual({ ms, turned: true });

      const coded = await buildPatch({ kind: 'encode', path: targetPath, codings: ['zstd', 'gzip'] });
      expect(coded.map((c) => c.format)).toEqual(['zstd', 'gzip']);
      for (const { format, patch } of coded) expect(decodeFull(format as 'zstd' | 'gzip', patch).equals(target)).toBe(true);
    } finally {
      clearInterval(timer);
    }
  });
});
