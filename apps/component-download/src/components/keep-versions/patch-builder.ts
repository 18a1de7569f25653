import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { composePatches, createPatch } from '@herald/delta';

/** What a build job asks for: a diff of two full files, or two patches joined into one. */
export type PatchJob = { kind: 'diff'; basePath: string; targetPath: string } | { kind: 'compose'; firstPath: string; secondPath: string };

/** Runs a job here (in the calling thread). */
export async function runPatchJob(job: PatchJob): Promise<Buffer> {
  if (job.kind === 'diff') return createPatch(await readFile(job.basePath), await readFile(job.targetPath));
  return composePatches(await readFile(job.firstPath), await readFile(job.secondPath));
}

const WORKER = path.join(__dirname, 'patch-builder.worker.js');

/** Below this much input a job takes milliseconds, less than starting a worker. */
const IN_THREAD_BYTES = 8 << 20;

/**
 * Runs a job on a worker thread: a diff of two 100 MB files takes seconds of CPU, and the HTTP
 * server must keep serving downloads meanwhile. Small jobs, and runs from TypeScript sources
 * where the compiled worker file is absent, run in this thread.
 */
export async function buildPatch(job: PatchJob): Promise<Buffer> {
  const inputs = job.kind === 'diff' ? [job.basePath, job.targetPath] : [job.firstPath, job.secondPath];
  const bytes = (await Promise.all(inputs.map((f) => stat(f)))).reduce((sum, s) => sum + s.size, 0);
  if (bytes < IN_THREAD_BYTES || !existsSync(WORKER)) return runPatchJob(job);
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: job });
    worker.once('message', (m: { ok: true; patch: Uint8Array } | { ok: false; error: string }) => {
      if (m.ok) resolve(Buffer.from(m.patch.buffer, m.patch.byteOffset, m.patch.byteLength));
      else reject(new Error(m.error));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`patch worker exited with ${code}`)));
  });
}
