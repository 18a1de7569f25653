import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository: the nearest folder above with a package.json (from the sources or from dist/). */
export const REPO_ROOT = (() => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${__dirname}`);
  }
})();

/** The compiled file for a source file (the int and e2e tiers build dist/ before they run). */
export function builtPath(sourcePath: string): string {
  const relative = path.relative(REPO_ROOT, sourcePath).replace(/\.ts$/, '.js');
  return path.join(REPO_ROOT, 'dist', relative);
}

/** Runs a compiled script to its end; resolves with its exit code or the signal that killed it. */
export function runBuilt(sourcePath: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--enable-source-maps', builtPath(sourcePath), ...args], { stdio: ['ignore', 'inherit', 'inherit'], env });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(signal ?? code));
  });
}

export type { ChildProcess };
