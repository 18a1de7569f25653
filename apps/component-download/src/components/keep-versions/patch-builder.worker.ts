import { parentPort, workerData } from 'node:worker_threads';
import type { PatchJob} from './patch-builder';
import { runPatchJob } from './patch-builder';

// Worker thread entry: builds one patch and hands the bytes back without copying them.
runPatchJob(workerData as PatchJob).then(
  (patch) => {
    const copy = new Uint8Array(patch.byteLength);
    copy.set(patch);
    parentPort!.postMessage({ ok: true, patch: copy }, [copy.buffer]);
  },
  (err: Error) => parentPort!.postMessage({ ok: false, error: err.message }),
);
