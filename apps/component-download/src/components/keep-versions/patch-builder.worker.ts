import { parentPort, workerData } from 'node:worker_threads';
import type { PatchJob } from './patch-builder';
import { runPatchJob } from './patch-builder';

// Worker thread entry: builds one job's patches and hands the bytes back without copying them again.
runPatchJob(workerData as PatchJob).then(
  (built) => {
    const patches = built.map(({ format, patch }) => {
      const copy = new Uint8Array(patch.byteLength);
      copy.set(patch);
      return { format, patch: copy };
    });
    parentPort!.postMessage({ ok: true, patches }, patches.map((p) => p.patch.buffer));
  },
  (err: Error) => parentPort!.postMessage({ ok: false, error: err.message }),
);
