import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { DELTA_FORMAT, type FullCoding, composePatches, createPatchIn, encodeFull, isPatchFormat } from '@herald/delta';

/**
 * What a build job asks for: patches in the given formats from two full files, two
 * herald-delta-1 patches joined into one (the only format that composes), or a full file
 * compressed in the given HTTP content codings.
 */
export type PatchJob =
  | { kind: 'diff'; basePath: string; targetPath: string; formats: string[] }
  | { kind: 'compose'; firstPath: string; secondPath: string }
  | { kind: 'encode'; path: string; codings: FullCoding[] };

/** One file a job produced: a patch in a format, or a full file in a content coding (`format` is then the coding). */
export interface BuiltPatch {
  format: string;
  patch: Buffer;
}

/** Runs a job here (in the calling thread), one format after the other. A format that does not apply to the pair is left out. */
export async function runPatchJob(job: PatchJob): Promise<BuiltPatch[]> {
  if (job.kind === 'compose') return [{ format: DELTA_FORMAT, patch: composePatches(await readFile(job.firstPath), await readFile(job.secondPath)) }];
  if (job.kind === 'encode') {
    const full = await readFile(job.path);
    return job.codings.map((coding) => ({ format: coding, patch: encodeFull(coding, full) }));
  }
  const [base, target] = await Promise.all([readFile(job.basePath), readFile(job.targetPath)]);
  const built: BuiltPatch[] = [];
  for (const format of job.formats) {
    if (!isPatchFormat(format)) throw new Error(`unknown patch format ${format}`);
    const patch = createPatchIn(format, base, target);
    if (patch) built.push({ format, patch });
  }
  return built;
}

const WORKER = path.join(__dirname, 'patch-builder.worker.js');

/** Below this much input a job takes milliseconds, less than starting a worker. */
const IN_THREAD_BYTES = 1 << 20;

/**
 * Runs a job on a worker thread: a diff of two 100 MB files takes seconds of CPU, and the HTTP
 * server must keep serving downloads meanwhile. Small jobs, and runs from TypeScript sources
 * where the compiled worker file is absent, run in this thread.
 */
export async function buildPatch(job: PatchJob): Promise<BuiltPatch[]> {
  const inputs = job.kind === 'diff' ? [job.basePath, job.targetPath] : job.kind === 'compose' ? [job.firstPath, job.secondPath] : [job.path];
  const bytes = (await Promise.all(inputs.map((f) => stat(f)))).reduce((sum, s) => sum + s.size, 0);
  if (bytes < IN_THREAD_BYTES || !existsSync(WORKER)) return runPatchJob(job);
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: job });
    worker.once('message', (m: { ok: true; patches: Array<{ format: string; patch: Uint8Array }> } | { ok: false; error: string }) => {
      if (m.ok) resolve(m.patches.map(({ format, patch }) => ({ format, patch: Buffer.from(patch.buffer, patch.byteOffset, patch.byteLength) })));
      else reject(new Error(m.error));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`patch worker exited with ${code}`)));
  });
}
