import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '../../..');

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
