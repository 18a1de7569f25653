import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hashFile } from '@herald/delta';
import { StorageFaultError, asStorageFault, describeKind } from './storage-faults';

export interface ReceivedFile {
  readonly tempPath: string;
  readonly sha256: string;
  readonly size: number;
}

/** What a stored file was last verified as: its digest held while the file looked like this. */
interface Verified {
  ino: number;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
}

/** The download grew past the size the manifest announced. */
export class TooLargeError extends Error {
  override name = 'TooLargeError';
}

/**
 * Content-addressed file storage: a file lives at sha256/<digest>, so a file is stored once
 * however many versions or names refer to it. Files arrive in tmp/ while being hashed and
 * move into place with an atomic rename only once verified.
 */
export class BlobStore {
  readonly dir: string;
  private readonly verified = new Map<string, Verified>();
  private readonly hashing = new Map<string, Promise<Verified | StorageFaultError>>();

  /** `dir` may be relative (the default ./var/components is); it is resolved once, here. */
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  async init(): Promise<void> {
    await mkdir(path.join(this.dir, 'sha256'), { recursive: true });
    await mkdir(path.join(this.dir, 'tmp'), { recursive: true });
    await mkdir(path.join(this.dir, 'partial'), { recursive: true });
  }

  /** A fresh temporary file name (not created). */
  tempPath(): string {
    return path.join(this.dir, 'tmp', randomUUID());
  }

  /**
   * Where an unfinished upstream download of the file with this digest waits to be resumed,
   * across checks and restarts.
   */
  partialPath(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 digest: ${sha256}`);
    return path.join(this.dir, 'partial', sha256);
  }

  /** Stores bytes made here (a patch) under their digest. */
  async put(data: Buffer): Promise<{ sha256: string; size: number }> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    if (!(await this.has(sha256))) {
      const temp = this.tempPath();
      try {
        await writeFile(temp, data, { flag: 'wx' });
      } catch (err) {
        await rm(temp, { force: true }).catch(() => undefined); // a short write on a full disk leaves a piece
        throw err;
      }
      await rename(temp, this.pathOf(sha256));
      await this.remember(sha256);
    }
    return { sha256, size: data.length };
  }

  /**
   * Deletes every stored file no kept version or patch refers to, and temporary files older
   * than `tempAgeMs`. Returns the digests removed.
   */
  async collectGarbage(referenced: ReadonlySet<string>, tempAgeMs = 3_600_000): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await readdir(path.join(this.dir, 'sha256'))) {
      if (referenced.has(name)) continue;
      await rm(path.join(this.dir, 'sha256', name), { force: true });
      removed.push(name);
    }
    for (const dir of ['tmp', 'partial']) {
      for (const name of await readdir(path.join(this.dir, dir))) {
        const file = path.join(this.dir, dir, name);
        const info = await stat(file).catch(() => null);
        if (info && Date.now() - info.mtimeMs > tempAgeMs) await rm(file, { force: true });
      }
    }
    return removed;
  }

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256 digest: ${sha256}`);
    return path.join(this.dir, 'sha256', sha256);
  }

  async has(sha256: string): Promise<boolean> {
    return stat(this.pathOf(sha256)).then(
      () => true,
      () => false,
    );
  }

  /** Streams `source` to a temporary file, hashing as it goes; never holds the file in memory. */
  async receive(source: Readable, maxBytes: number): Promise<ReceivedFile> {
    const tempPath = path.join(this.dir, 'tmp', randomUUID());
    const hash = createHash('sha256');
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        if (size > maxBytes) return done(new TooLargeError(`more than the announced ${maxBytes} bytes`));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, meter, createWriteStream(tempPath, { flags: 'wx' }));
    } catch (err) {
      await rm(tempPath, { force: true });
      throw err;
    }
    return { tempPath, sha256: hash.digest('hex'), size };
  }

  /** Moves a verified file into place under its digest. */
  async commit(file: ReceivedFile): Promise<string> {
    return this.commitPath(file.tempPath, file.sha256);
  }

  /** Moves a file whose digest was verified elsewhere into place; it needs no hashing before it is first served. */
  async commitPath(tempPath: string, sha256: string): Promise<string> {
    const target = this.pathOf(sha256);
    await rename(tempPath, target);
    await this.remember(sha256);
    return target;
  }

  private async remember(sha256: string): Promise<void> {
    const info = await stat(this.pathOf(sha256)).catch(() => null);
    if (info) this.verified.set(sha256, { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs });
  }

  async discard(file: ReceivedFile): Promise<void> {
    await rm(file.tempPath, { force: true });
  }

  /**
   * The path of a stored file fit to hand out: present, of the expected size, and whose bytes
   * are the digest it is stored under; else a StorageFaultError saying why (missing, corrupt, or
   * the store cannot be read: io, permission). The whole file is hashed the first time and
   * again whenever it changed since (inode, size, mtime or ctime differ), so a file altered on
   * disk is never served; concurrent callers share one hash.
   */
  async verify(sha256: string, size: number): Promise<string> {
    const file = this.pathOf(sha256);
    const info = await stat(file).catch(async (err: unknown) => {
      const fault = asStorageFault(err, `reading ${file}`)!;
      // The whole store gone (an unmounted volume) is the store's fault, not this file's.
      if (fault?.kind === 'missing' && !(await stat(path.join(this.dir, 'sha256')).then(() => true, () => false))) {
        throw new StorageFaultError('io', `${describeKind('io')} (${path.join(this.dir, 'sha256')} is not there)`, 'ENOENT');
      }
      throw fault ?? err;
    });
    if (info.size !== size) {
      this.verified.delete(sha256);
      throw new StorageFaultError('corrupt', `${describeKind('corrupt')}: ${file} has ${info.size} bytes, ${size} expected`);
    }
    const seen = this.verified.get(sha256);
    if (seen && seen.ino === info.ino && seen.size === info.size && seen.mtimeMs === info.mtimeMs && seen.ctimeMs === info.ctimeMs) return file;
    let pending = this.hashing.get(sha256);
    if (!pending) {
      pending = this.hashAndCompare(file, sha256).finally(() => this.hashing.delete(sha256));
      this.hashing.set(sha256, pending);
    }
    const result = await pending;
    if (result instanceof StorageFaultError) throw result;
    return file;
  }

  private async hashAndCompare(file: string, sha256: string): Promise<Verified | StorageFaultError> {
    try {
      const before = await stat(file);
      const actual = await hashFile(file);
      if (actual !== sha256) {
        this.verified.delete(sha256);
        return new StorageFaultError('corrupt', `${describeKind('corrupt')}: ${file} hashes to ${actual}`);
      }
      const seen = { ino: before.ino, size: before.size, mtimeMs: before.mtimeMs, ctimeMs: before.ctimeMs };
      this.verified.set(sha256, seen);
      return seen;
    } catch (err) {
      const fault = asStorageFault(err, `reading ${file}`);
      if (fault) return fault;
      throw err;
    }
  }

  /**
   * Tests that the store takes a write: (re)creates its folders, writes a small file, removes it.
   * Throws a StorageFaultError when it cannot. Free bytes come from statfs.
   */
  async probe(): Promise<{ freeBytes: number }> {
    const file = path.join(this.dir, 'tmp', `.probe-${process.pid}-${randomUUID()}`);
    try {
      await this.init();
      await writeFile(file, 'herald store probe\n', { flag: 'wx' });
      await rm(file, { force: true });
    } catch (err) {
      await rm(file, { force: true }).catch(() => undefined);
      throw asStorageFault(err, 'writing a probe file', true) ?? err;
    }
    return { freeBytes: await this.freeBytes() };
  }

  /** Bytes an unprivileged writer may still use in the store (statfs). */
  async freeBytes(): Promise<number> {
    const fs = await statfs(this.dir);
    return fs.bavail * fs.bsize;
  }
}
