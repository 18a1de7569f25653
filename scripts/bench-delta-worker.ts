import { readFileSync, writeFileSync } from 'node:fs';
import { BSDIFF_MAX_BYTES, ZSTD_PATCH_MAX_BYTES, applyBsdiffPatch, applyPatchFile, applyZstdPatch, createBsdiffPatch, createPatch, createZstdPatch } from '@herald/delta';

/*
 * One measurement of an in-process candidate, in a process of its own so its peak memory
 * (maxRSS) is its alone:  bench-delta-worker <method> build|apply <base> <target|patch> <out>
 * Prints {"ms":…, "maxRssMB":…} as its last line.
 */

type Codec = {
  build(base: Buffer, target: Buffer): Buffer;
  apply(basePath: string, patchPath: string, outPath: string): Promise<void> | void;
};

const codecs: Record<string, () => Codec> = {
  'herald-delta': () => ({
    build: (base, target) => createPatch(base, target),
    // The agent's path: streamed, the base read through a window, not loaded whole.
    apply: async (basePath, patchPath, outPath) => void (await applyPatchFile(basePath, readFileSync(patchPath), outPath)),
  }),
  // Herald's own bsdiff (TypeScript: SA-IS suffix array, BSDIFF40 with bzip2), applied as an agent would.
  'bsdiff40 (Herald, TypeScript)': () => ({
    build: (base, target) => {
      // As the server builds it: not above its size limit.
      if (Math.max(base.length, target.length) > BSDIFF_MAX_BYTES) throw new Error(`bsdiff40 is not built for files over ${BSDIFF_MAX_BYTES >> 20} MiB`);
      return createBsdiffPatch(base, target);
    },
    apply: (basePath, patchPath, outPath) => writeFileSync(outPath, applyBsdiffPatch(readFileSync(basePath), readFileSync(patchPath))),
  }),
  'fossil-delta (npm, pure JS)': () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fossil = require('fossil-delta') as { createDelta(a: Uint8Array, b: Uint8Array): Uint8Array; applyDelta(a: Uint8Array, d: Uint8Array): Uint8Array };
    return {
      build: (base, target) => Buffer.from(fossil.createDelta(base, target)),
      apply: (basePath, patchPath, outPath) => writeFileSync(outPath, fossil.applyDelta(readFileSync(basePath), readFileSync(patchPath))),
    };
  },
  // Herald's zstd-patch-from: libzstd through zstd-napi, the base as a raw-content dictionary, level 19, long-distance matching.
  'zstd-patch-from (Herald, zstd-napi)': () => ({
    build: (base, target) => {
      const patch = createZstdPatch(base, target);
      if (!patch) throw new Error(`zstd-patch-from is not built for this pair (files over ${ZSTD_PATCH_MAX_BYTES >> 20} MiB, or a base that starts like a zstd dictionary)`);
      return patch;
    },
    apply: (basePath, patchPath, outPath) => writeFileSync(outPath, applyZstdPatch(readFileSync(basePath), readFileSync(patchPath))),
  }),
};

async function main(): Promise<void> {
  const [method, op, a, b, out] = process.argv.slice(2);
  const codec = codecs[method!]?.();
  if (!codec || !a || !b || !out) throw new Error(`usage: bench-delta-worker <${Object.keys(codecs).join('|')}> build|apply <base> <target|patch> <out>`);
  const started = process.hrtime.bigint();
  if (op === 'build') writeFileSync(out, codec.build(readFileSync(a), readFileSync(b)));
  else await codec.apply(a, b, out);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(JSON.stringify({ ms, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
}

export const IN_PROCESS_METHODS = Object.keys(codecs);

if (require.main === module) {
  main().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
