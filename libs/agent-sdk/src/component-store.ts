import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { InstalledComponent } from '@herald/contracts';

/** Where an agent keeps its components. */
export interface ComponentStore {
  installed(): Promise<InstalledComponent[]>;
  /**
   * Takes a downloaded component, verifies it against `sha256` while writing it, and makes it
   * the installed version only if the digest matches. Returns the bytes received.
   */
  install(type: string, version: string, sha256: string, body: Readable): Promise<number>;
}

/** The digest of what was downloaded is not the one the server announced. */
export class DigestMismatchError extends Error {
  override name = 'DigestMismatchError';
}

/** Components as files in a directory: <dir>/<type>/<version>, with installed.json as the index. */
export class DirectoryComponentStore implements ComponentStore {
  constructor(
    readonly dir: string,
    private readonly initial: InstalledComponent[] = [],
  ) {}

  async installed(): Promise<InstalledComponent[]> {
    try {
      return JSON.parse(await readFile(path.join(this.dir, 'installed.json'), 'utf8')) as InstalledComponent[];
    } catch {
      return this.initial;
    }
  }

  async install(type: string, version: string, sha256: string, body: Readable): Promise<number> {
    await mkdir(path.join(this.dir, type), { recursive: true });
    const temp = path.join(this.dir, type, `.incoming-${randomUUID()}`);
    const hash = createHash('sha256');
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _e, done) {
        bytes += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(temp));
      const digest = hash.digest('hex');
      if (digest !== sha256) throw new DigestMismatchError(`${type} ${version}: SHA-256 ${digest} is not the announced ${sha256}`);
      await rename(temp, path.join(this.dir, type, version));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    const installed = (await this.installed()).filter((c) => c.type !== type);
    installed.push({ type, version });
    installed.sort((a, b) => a.type.localeCompare(b.type));
    const index = path.join(this.dir, 'installed.json');
    await writeFile(`${index}.tmp`, JSON.stringify(installed, null, 2));
    await rename(`${index}.tmp`, index);
    return bytes;
  }
}

/**
 * Keeps only versions and digests, not files: for simulators and tests that run thousands of
 * agents in one process. It still reads and verifies every byte it is given.
 */
export class MemoryComponentStore implements ComponentStore {
  private readonly versions = new Map<string, string>();

  constructor(initial: InstalledComponent[] = []) {
    for (const c of initial) this.versions.set(c.type, c.version);
  }

  async installed(): Promise<InstalledComponent[]> {
    return [...this.versions].map(([type, version]) => ({ type, version })).sort((a, b) => a.type.localeCompare(b.type));
  }

  async install(type: string, version: string, sha256: string, body: Readable): Promise<number> {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      hash.update(chunk);
    }
    const digest = hash.digest('hex');
    if (digest !== sha256) throw new DigestMismatchError(`${type} ${version}: SHA-256 ${digest} is not the announced ${sha256}`);
    this.versions.set(type, version);
    return bytes;
  }
}

export { Readable };
