import { execFile } from 'node:child_process';
import { mkdtemp, rm, rmdir, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A small file system of a test's own (tmpfs; needs root), to make a store read-only or full for
 * real: `mount -o remount,ro`, or a file that takes the free space. Always `unmount()` it in an
 * afterAll, even when the test failed.
 */
export class Tmpfs {
  private fillers = 0;

  private constructor(readonly dir: string) {}

  /** Mounts a fresh tmpfs of `size` (mount's syntax: "4m") on a new folder under the system's temporary folder. */
  static async mount(size: string, label = 'store'): Promise<Tmpfs> {
    const dir = await mkdtemp(path.join(tmpdir(), `herald-tmpfs-${label}-`));
    try {
      await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
    } catch (err) {
      await rmdir(dir).catch(() => undefined);
      throw new Error(`cannot mount a tmpfs on ${dir} (root needed): ${(err as Error).message}`, { cause: err });
    }
    return new Tmpfs(dir);
  }

  /** Remounts read-only. A file open for writing makes that fail for a moment (EBUSY): tried again. */
  readOnly(): Promise<void> {
    return this.remount('ro');
  }

  writable(): Promise<void> {
    return this.remount('rw');
  }

  private async remount(mode: 'ro' | 'rw'): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await run('mount', ['-o', `remount,${mode}`, this.dir]);
        return;
      } catch (err) {
        if (attempt >= 50) throw err;
        await sleep(100);
      }
    }
  }

  async freeBytes(): Promise<number> {
    const s = await statfs(this.dir);
    return s.bavail * s.bsize;
  }

  /**
   * Writes a file that leaves about `leaveBytes` free (0: the file system is full); returns its
   * path, to remove to free the space again.
   */
  async fill(leaveBytes = 0): Promise<string> {
    const file = path.join(this.dir, `.filler-${++this.fillers}`);
    const take = Math.max(0, (await this.freeBytes()) - leaveBytes);
    await writeFile(file, Buffer.alloc(take));
    if (leaveBytes === 0) {
      // Whatever statfs rounded away: write until the file system says it is full.
      await writeFile(file, Buffer.alloc(64 * 1024), { flag: 'a' }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOSPC') throw err;
      });
    }
    return file;
  }

  /** Unmounts (lazily when a process still holds a file there) and removes the folder. */
  async unmount(): Promise<void> {
    await this.writable().catch(() => undefined);
    await run('umount', [this.dir]).catch(() => run('umount', ['-l', this.dir]));
    await rm(this.dir, { recursive: true, force: true });
  }
}
