import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export interface ReceivedFile {
  readonly tempPath: string;
  readonly sha256: string;
  readonly size: number;
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
      await writeFile(temp, data, { flag: 'wx' });
      await rename(temp, this.pathOf(sha256));
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
    const target = this.pathOf(file.sha256);
    await rename(file.tempPath, target);
    return target;
  }

  /** Moves a file whose digest was verified elsewhere into place. */
  async commitPath(tempPath: string, sha256: string): Promise<string> {
    const target = this.pathOf(sha256);
    await rename(tempPath, target);
    return target;
  }

  async discard(file: ReceivedFile): Promise<void> {
    await rm(file.tempPath, { force: true });
  }
}
