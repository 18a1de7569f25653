import { closeSync, openSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { type IncomingMessage, get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import type { Logger } from 'pino';
import { redactUrl } from '@herald/common';
import { hashFile } from '@herald/delta';
import { type StorageFaultError, type StorageFaultKind, asStorageFault } from '../storage-faults';

export type DownloadFailure = 'digest-mismatch' | 'size-mismatch' | 'truncated' | 'download-failed' | 'store-unavailable';

export type DownloadOutcome =
  | { ok: true; path: string; sha256: string; size: number; resumedFrom: number[] }
  | { ok: false; reason: Exclude<DownloadFailure, 'store-unavailable'>; detail: string }
  /** The store could not take the file (read-only, full, I/O error…): nothing kept; the next check tries again. */
  | { ok: false; reason: 'store-unavailable'; detail: string; fault: StorageFaultKind };

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
 * file of exactly the promised size and SHA-256 is reported as ok; a wrong one is deleted. A
 * fault of the store (read-only, full, I/O error) ends the download with `store-unavailable`
 * and never escapes as an exception; on a full store the partial file is deleted to give the
 * space back.
 */
export async function downloadResumable(d: ResumableDownload): Promise<DownloadOutcome> {
  try {
    return await download(d);
  } catch (err) {
    const fault = asStorageFault(err, `downloading into ${d.partialPath}`, true);
    if (!fault) throw err;
    return storeUnavailable(d, fault);
  }
}

async function storeUnavailable(d: ResumableDownload, fault: StorageFaultError): Promise<DownloadOutcome> {
  // On a full disk what arrived so far only takes space others need; on a read-only one it cannot be removed anyway.
  if (fault.kind === 'full') await rm(d.partialPath, { force: true }).catch(() => undefined);
  d.log.warn({ url: d.url.toString(), fault: fault.kind, err: fault.message }, 'upstream download stopped: the component store cannot take it');
  return { ok: false, reason: 'store-unavailable', detail: fault.message, fault: fault.kind };
}

async function download(d: ResumableDownload): Promise<DownloadOutcome> {
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
      if (step.kind === 'storage') return storeUnavailable(d, step.fault);
      if (step.kind === 'fatal') {
        await rm(d.partialPath, { force: true });
        return { ok: false, reason: step.reason, detail: step.detail };
      }
      if (step.kind === 'http-error') return { ok: false, reason: 'download-failed', detail: step.detail };
      if (step.kind === 'resumed') resumedFrom.push(have);
      if (step.kind === 'cut') {
        lastError = step.detail;
        const now = (await stat(d.partialPath).catch(() => null))?.size ?? 0;
        d.log.warn({ url: redactUrl(d.url.toString()), received: now, of: d.expected.size, attempt, err: step.detail }, 'upstream download cut; resuming from where it stopped');
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
  | { kind: 'fatal'; reason: Exclude<DownloadFailure, 'store-unavailable'>; detail: string }
  | { kind: 'storage'; fault: StorageFaultError };

/** Runs a synchronous file operation; a file-system error comes back as a StorageFaultError. */
function onDisk<T>(what: string, op: () => T): T {
  try {
    return op();
  } catch (err) {
    throw asStorageFault(err, what, true) ?? err;
  }
}

/**
 * One GET (with Range when resuming), appended to the partial file as it arrives. Every file
 * operation runs inside the response's event handlers, where a throw would be an uncaught
 * exception: each is guarded, and a failure ends the step as `storage`.
 */
function fetchFrom(d: ResumableDownload, have: number): Promise<Step> {
  return new Promise<Step>((resolve) => {
    let settled = false;
    let fd: number | null = null;
    let idle: NodeJS.Timeout;
    const finish = (step: Step) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      if (fd !== null) {
        try {
          closeSync(fd);
        } catch (err) {
          // A failed close may mean the last writes did not reach the disk (EIO, ENOSPC on some file systems).
          const fault = asStorageFault(err, `closing ${d.partialPath}`, true);
          if (fault && step.kind !== 'storage') step = { kind: 'storage', fault };
        }
        fd = null;
      }
      resolve(step);
    };
    const storageFailed = (err: unknown) => {
      req.destroy();
      const fault = asStorageFault(err, `writing ${d.partialPath}`, true);
      finish(fault ? { kind: 'storage', fault } : { kind: 'cut', detail: (err as Error).message });
    };
    const get = d.url.protocol === 'https:' ? httpsGet : httpGet;
    const req = get(d.url, { headers: have > 0 ? { range: `bytes=${have}-` } : {} }, (res) => {
      try {
        onResponse(res);
      } catch (err) {
        res.destroy();
        storageFailed(err);
      }
    });
    const onResponse = (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      let resumed = false;
      if (have > 0 && status === 206) {
        const start = /^bytes (\d+)-/.exec(res.headers['content-range'] ?? '')?.[1];
        if (Number(start) !== have) {
          res.destroy();
          onDisk('emptying the partial file', () => truncateSync(d.partialPath, 0));
          return finish({ kind: 'cut', detail: `the upstream resumed at ${start ?? '?'} instead of ${have}` });
        }
        resumed = true;
      } else if (status === 200) {
        // From the start: a first try, or an upstream that ignores Range.
        if (have > 0) onDisk('emptying the partial file', () => truncateSync(d.partialPath, 0));
        have = 0;
      } else if (status === 416) {
        res.destroy();
        onDisk('removing the partial file', () => rmSync(d.partialPath, { force: true }));
        return finish({ kind: 'cut', detail: 'the upstream refused the range; starting over' });
      } else {
        res.destroy();
        return finish({ kind: 'http-error', detail: `HTTP ${status} from ${redactUrl(d.url.toString())}` });
      }
      // Written synchronously as each chunk arrives: whatever came before a cut is on disk, so the
      // next try asks for exactly the rest. (A web stream drops its queued chunks when it errors.)
      fd = onDisk('opening the partial file', () => openSync(d.partialPath, 'a'));
      let size = have;
      res.on('data', (chunk: Buffer) => {
        if (settled) return;
        touch();
        size += chunk.length;
        if (size > d.expected.size) {
          req.destroy();
          return finish({ kind: 'fatal', reason: 'size-mismatch', detail: `the file is larger than the manifest's ${d.expected.size} bytes` });
        }
        try {
          writeSync(fd!, chunk);
        } catch (err) {
          storageFailed(err);
        }
      });
      res.on('end', () => finish({ kind: resumed ? 'resumed' : 'complete' }));
      res.on('aborted', () => finish({ kind: 'cut', detail: `connection closed after ${size} of ${d.expected.size} bytes` }));
      res.on('error', (err) => finish({ kind: 'cut', detail: err.message }));
      res.on('close', () => finish(res.complete ? { kind: resumed ? 'resumed' : 'complete' } : { kind: 'cut', detail: `connection closed after ${size} of ${d.expected.size} bytes` }));
    };
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        req.destroy();
        finish({ kind: 'cut', detail: `no data for ${d.idleTimeoutMs} ms` });
      }, d.idleTimeoutMs);
    };
    touch();
    req.on('error', (err) => finish({ kind: 'cut', detail: err.message }));
  });
}

