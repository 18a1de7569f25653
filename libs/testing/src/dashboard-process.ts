import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './processes';
import { DEFAULT_START_TIMEOUT_MS, waitFor } from './wait';

export interface DashboardProcessOptions {
  /** Base URLs of the services the dashboard passes /api calls on to. */
  services: { 'component-download': string; 'notification-dispatch': string; 'agent-presence': string };
  port: number;
  /** Log file name (without .log) under test/artifacts/logs/. */
  logName: string;
  /** Extra environment, applied last. */
  env?: Record<string, string>;
  /** How long it may take to answer /health (default DEFAULT_START_TIMEOUT_MS). */
  startTimeoutMs?: number;
}

export interface DashboardProcess {
  readonly url: string;
  /** SIGTERM, and wait for it to exit. */
  stop(): Promise<void>;
}

/** The admin dashboard (apps/dashboard, compiled) as a process, once its /health answers. */
export async function startDashboardProcess(options: DashboardProcessOptions): Promise<DashboardProcess> {
  const logDir = path.join(REPO_ROOT, 'test', 'artifacts', 'logs');
  mkdirSync(logDir, { recursive: true });
  const log = createWriteStream(path.join(logDir, `${options.logName}.log`), { flags: 'a' });
  const child = spawn(process.execPath, ['--enable-source-maps', path.join(REPO_ROOT, 'dist', 'apps', 'dashboard', 'src', 'main.js')], {
    env: {
      PATH: process.env.PATH,
      LOG_LEVEL: 'debug',
      DASHBOARD_PORT: String(options.port),
      COMPONENT_DOWNLOAD_URL: options.services['component-download'],
      NOTIFICATION_DISPATCH_URL: options.services['notification-dispatch'],
      AGENT_PRESENCE_URL: options.services['agent-presence'],
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exitedEarly = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`dashboard exited with ${code} while starting`))));
  exitedEarly.catch(() => undefined);
  const url = `http://127.0.0.1:${options.port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await Promise.race([exitedEarly, waitFor(async () => (await fetch(`${url}/health`)).ok, { timeoutMs: options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS, intervalMs: 100, what: 'the dashboard to be healthy' })]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}
