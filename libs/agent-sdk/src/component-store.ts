import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { compareVersions, type InstalledComponent } from '@herald/contracts';
import { DELTA_FORMAT, applicableFormats, applyPatchFile, applyPatchIn } from '@herald/delta';

/** Where an agent keeps its components. */
export interface ComponentStore {
  installed(): Promise<InstalledComponent[]>;
  /**
   * Takes a downloaded component, verifies it against `sha256` while writing it, and makes it
   * the installed version only if the digest matches. Returns the bytes received.
   */
  install(type: string, version: string, sha256: string, body: Readable): Promise<number>;
  /**
   * Optional: rebuilds `version` from the installed `fromVersion` and a patch in `format`
   * (herald-delta-1 when omitted), and installs it only if the rebuilt file's SHA-256 is
   * `sha256`. `patchSha256` is the patch's own digest (from the response), checked before the
   * patch is applied. Returns the patch bytes received. A store without it always gets full files.
   */
  applyPatch?(type: string, fromVersion: string, version: string, sha256: string, patch: Readable, patchSha256: string | null, format?: string): Promise<number>;
  /** Optional: the patch formats applyPatch takes, declared in hello and asked for on downloads (default: herald-delta-1). */
  patchFormats?(): string[];
  /** Optional: whether the installed file a patch would start from is there (default: assume so). */
  canPatchFrom?(type: string, version: string): Promise<boolean>;
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
    await this.record(type, version);
    return bytes;
  }

  async canPatchFrom(type: string, version: string): Promise<boolean> {
    return stat(path.join(this.dir, type, version)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /** Every format @herald/delta applies here (zstd-patch-from only where zstd-napi's binding is built). */
  patchFormats(): string[] {
    return applicableFormats();
  }

  async applyPatch(type: string, fromVersion: string, version: string, sha256: string, patch: Readable, patchSha256: string | null, format: string = DELTA_FORMAT): Promise<number> {
    const base = path.join(this.dir, type, fromVersion);
    const temp = path.join(this.dir, type, `.incoming-${randomUUID()}`);
    try {
      // Patches are small next to the file they rebuild; the rebuild itself streams.
      const chunks: Buffer[] = [];
      const hash = createHash('sha256');
      for await (const chunk of patch as AsyncIterable<Buffer>) {
        chunks.push(chunk);
        hash.update(chunk);
      }
      const bytes = Buffer.concat(chunks);
      const received = hash.digest('hex');
      if (patchSha256 && received !== patchSha256) throw new DigestMismatchError(`${type} patch ${fromVersion}→${version}: SHA-256 ${received} is not the served ${patchSha256}`);
      // herald-delta-1 streams the rebuild; the other formats rebuild in memory (bsdiff40 and zstd-patch-from are capped at 16 and 32 MiB).
      const rebuilt =
        format === DELTA_FORMAT ? await applyPatchFile(base, bytes, temp) : await writeDigested(temp, applyPatchIn(format, await readFile(base), bytes));
      if (rebuilt.sha256 !== sha256) throw new DigestMismatchError(`${type} ${version} rebuilt from ${fromVersion}: SHA-256 ${rebuilt.sha256} is not the announced ${sha256}`);
      await rename(temp, path.join(this.dir, type, version));
      await this.record(type, version);
      return bytes.length;
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  private async record(type: string, version: string): Promise<void> {
    const installed = (await this.installed()).filter((c) => c.type !== type);
    installed.push({ type, version });
    installed.sort((a, b) => a.type.localeCompare(b.type));
    const index = path.join(this.dir, 'installed.json');
    await writeFile(`${index}.tmp`, JSON.stringify(installed, null, 2));
    await rename(`${index}.tmp`, index);
  }
}

/**
 * File contents shared by many in-memory agents: one copy per component version, whatever the
 * number of agents holding it, so a simulator can apply patches without a file per agent.
 * Keeps the newest `keepPerType` versions of each type.
 */
export class SharedComponentContent {
  private readonly files = new Map<string, Map<string, Buffer>>();

  constructor(private readonly keepPerType = 16) {}

  get(type: string, version: string): Buffer | undefined {
    return this.files.get(type)?.get(version);
  }

  has(type: string, version: string): boolean {
    return this.files.get(type)?.has(version) ?? false;
  }

  put(type: string, version: string, content: Buffer): void {
    let versions = this.files.get(type);
    if (!versions) this.files.set(type, (versions = new Map()));
    versions.set(version, content);
    if (versions.size > this.keepPerType) {
      const oldest = [...versions.keys()].sort(compareVersions)[0]!;
      versions.delete(oldest);
    }
  }

  /** Bytes held, for a simulator's memory report. */
  get bytes(): number {
    let total = 0;
    for (const versions of this.files.values()) for (const b of versions.values()) total += b.length;
    return total;
  }
}

/**
 * Keeps only versions and digests, not files: for simulators and tests that run thousands of
 * agents in one process. It still reads and verifies every byte it is given. Given a
 * SharedComponentContent it also keeps what it installed there (once per version, for all
 * agents) and can then take patches from the versions held.
 */
export class MemoryComponentStore implements ComponentStore {
  private readonly versions = new Map<string, string>();

  constructor(
    initial: InstalledComponent[] = [],
    private readonly content?: SharedComponentContent,
  ) {
    for (const c of initial) this.versions.set(c.type, c.version);
  }

  async installed(): Promise<InstalledComponent[]> {
    return [...this.versions].map(([type, version]) => ({ type, version })).sort((a, b) => a.type.localeCompare(b.type));
  }

  async install(type: string, version: string, sha256: string, body: Readable): Promise<number> {
    const hash = createHash('sha256');
    const keep = this.content && !this.content.has(type, version) ? ([] as Buffer[]) : null;
    let bytes = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      hash.update(chunk);
      keep?.push(chunk);
    }
    const digest = hash.digest('hex');
    if (digest !== sha256) throw new DigestMismatchError(`${type} ${version}: SHA-256 ${digest} is not the announced ${sha256}`);
    if (keep) this.content!.put(type, version, Buffer.concat(keep));
    this.versions.set(type, version);
    return bytes;
  }

  async canPatchFrom(type: string, version: string): Promise<boolean> {
    return this.content?.has(type, version) ?? false;
  }

  patchFormats(): string[] {
    return applicableFormats();
  }

  async applyPatch(type: string, fromVersion: string, version: string, sha256: string, patch: Readable, patchSha256: string | null, format: string = DELTA_FORMAT): Promise<number> {
    const base = this.content?.get(type, fromVersion);
    if (!base) throw new Error(`${type} ${fromVersion} is not held, so a patch from it cannot be applied`);
    const chunks: Buffer[] = [];
    const hash = createHash('sha256');
    for await (const chunk of patch as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      hash.update(chunk);
    }
    const received = hash.digest('hex');
    if (patchSha256 && received !== patchSha256) throw new DigestMismatchError(`${type} patch ${fromVersion}→${version}: SHA-256 ${received} is not the served ${patchSha256}`);
    const bytes = Buffer.concat(chunks);
    const rebuilt = applyPatchIn(format, base, bytes);
    const digest = createHash('sha256').update(rebuilt).digest('hex');
    if (digest !== sha256) throw new DigestMismatchError(`${type} ${version} rebuilt from ${fromVersion}: SHA-256 ${digest} is not the announced ${sha256}`);
    if (!this.content!.has(type, version)) this.content!.put(type, version, rebuilt);
    this.versions.set(type, version);
    return bytes.length;
  }
}

async function writeDigested(file: string, content: Buffer): Promise<{ sha256: string; size: number }> {
  await writeFile(file, content);
  return { sha256: createHash('sha256').update(content).digest('hex'), size: content.length };
}

export { Readable };
