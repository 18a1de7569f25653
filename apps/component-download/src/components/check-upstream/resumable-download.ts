import { open, rm, stat, truncate } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Logger } from 'pino';
import { hashFile } from '@herald/contracts';

export type DownloadFailure = 'digest-mismatch' | 'size-mismatch' | 'truncated' | 'download-failed';

export type DownloadOutcome =
  | { ok: true; path: string; sha256: string; size: number; resumedFrom: number[] }
  | { ok: false; reason: DownloadFailure; detail: string };

export interface ResumableDownload {
  url: URL;
  /** What the signed manifest promises; nothing else is accepted. */
  expected: { size: number; sha256: string };
  /** The partial file; it survives a failed try, a failed check and a restart. */
  partialPath: string;
  attempts: number;
  /** Give up a try when no byte arrives for this long. */
  idleTimeoutMs: number;
  log: Logger;
}

/**
 * Fetches a file from upstream into `partialPath`, streaming (never the whole file in memory).
 * When the connection breaks it asks for the rest with a Range request and appends, up to
 * `attempts` tries; a partial file left from an earlier check is resumed the same way. Only a
 * file of exactly the promised size and SHA-256 is reported as ok; a wrong one is deleted.
 */
export async function downloadResumable(d: ResumableDownload): Promise<DownloadOutcome> {
  const resumedFrom: number[] = [];
  let lastError = '';
  for (let attempt = 1; attempt <= d.attempts; attempt++) {
    let have = (await stat(d.partialPath).catch(() => null))?.size ?? 0;
    if (have > d.expected.size) {
      await rm(d.partialPath, { force: true });
      have = 0;
    }
    if (have < d.expected.size) {
      const step = await fetchFrom(d, have);
      if (step.kind === 'fatal') {
        await rm(d.partialPath, { force: true });
        return { ok: false, reason: step.reason, detail: step.detail };
      }
      if (step.kind === 'http-error') return { ok: false, reason: 'download-failed', detail: step.detail };
      if (step.kind === 'resumed') resumedFrom.push(have);
      if (step.kind === 'cut') {
        lastError = step.detail;
        const now = (await stat(d.partialPath).catch(() => null))?.size ?? 0;
        d.log.warn({ url: d.url.toString(), received: now, of: d.expected.size, attempt, err: step.detail }, 'upstream download cut; resuming from where it stopped');
        continue;
      }
    }
    const size = (await stat(d.partialPath)).size;
    if (size < d.expected.size) {
      await rm(d.partialPath, { force: true });
      return { ok: false, reason: 'truncated', detail: `the upstream sent ${size} bytes and ended; the manifest says ${d.expected.size}` };
    }
    const sha256 = await hashFile(d.partialPath);
    if (sha256 !== d.expected.sha256) {
      await rm(d.partialPath, { force: true });
      return { ok: false, reason: 'digest-mismatch', detail: `SHA-256 ${sha256} does not match the manifest's ${d.expected.sha256}` };
    }
    return { ok: true, path: d.partialPath, sha256, size, resumedFrom };
  }
  return { ok: false, reason: 'download-failed', detail: `connection broke on every one of ${d.attempts} tries (${lastError}); the next check resumes` };
}

type Step =
  | { kind: 'complete' | 'resumed' }
  | { kind: 'cut'; detail: string }
  | { kind: 'http-error'; detail: string }
  | { kind: 'fatal'; reason: DownloadFailure; detail: string };

async function fetchFrom(d: ResumableDownload, have: number): Promise<Step> {
  const controller = new AbortController();
  let idle = setTimeout(() => controller.abort(new Error(`no data for ${d.idleTimeoutMs} ms`)), d.idleTimeoutMs);
  const touch = () => {
    clearTimeout(idle);
    idle = setTimeout(() => controller.abort(new Error(`no data for ${d.idleTimeoutMs} ms`)), d.idleTimeoutMs);
  };
  try {
    let res: Response;
    try {
      res = await fetch(d.url, { signal: controller.signal, headers: have > 0 ? { range: `bytes=${have}-` } : {} });
    } catch (err) {
      return { kind: 'cut', detail: describe(err) };
    }
    let resumed = false;
    if (have > 0 && res.status === 206) {
      const start = /^bytes (\d+)-/.exec(res.headers.get('content-range') ?? '')?.[1];
      if (Number(start) !== have) {
        await res.body?.cancel();
        await truncate(d.partialPath, 0);
        return { kind: 'cut', detail: `the upstream resumed at ${start ?? '?'} instead of ${have}` };
      }
      resumed = true;
    } else if (have > 0 && res.status === 200) {
      // The upstream ignores Range: start over.
      await truncate(d.partialPath, 0);
      have = 0;
    } else if (res.status === 416) {
      await res.body?.cancel();
      await rm(d.partialPath, { force: true });
      return { kind: 'cut', detail: 'the upstream refused the range; starting over' };
    } else if (!res.ok || !res.body) {
      await res.body?.cancel();
      return { kind: 'http-error', detail: `HTTP ${res.status} from ${d.url}` };
    }
    // Each chunk is written before the next is read, so whatever arrived before a cut is on disk.
    const file = await open(d.partialPath, 'a');
    let size = have;
    try {
      for await (const chunk of Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) as AsyncIterable<Buffer>) {
        touch();
        size += chunk.length;
        if (size > d.expected.size) {
          controller.abort();
          return { kind: 'fatal', reason: 'size-mismatch', detail: `the file is larger than the manifest's ${d.expected.size} bytes` };
        }
        await file.write(chunk);
      }
    } catch (err) {
      return { kind: 'cut', detail: describe(err) };
    } finally {
      await file.close();
    }
    return { kind: resumed ? 'resumed' : 'complete' };
  } finally {
    clearTimeout(idle);
  }
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: Error };
  return e.cause?.message ? `${e.message}: ${e.cause.message}` : e.message;
}
