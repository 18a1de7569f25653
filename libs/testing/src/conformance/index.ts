import { type CheckResult, CHECKS, runScenarios } from './checks';
import { ConformanceKit } from './kit';

export { CHECKS, type CheckResult } from './checks';
export { ConformanceKit, KIT_SETTINGS, KIT_TIMINGS } from './kit';

export interface ConformanceOptions {
  /** The shell command that runs one agent (configured by AGENT_ID, RABBITMQ_URL, … in its environment). */
  agentCommand: string;
  /** Where each agent run's output and state directory go. */
  workDir: string;
  /** Only the scenarios holding these checks (all when absent). */
  only?: readonly string[];
  /** Called with each result as it comes. */
  onResult?: (result: CheckResult) => void;
  /** Aborting it (Ctrl-C) stops at once: agents killed, Herald's database and vhost removed. */
  signal?: AbortSignal;
}

export interface ConformanceReport {
  results: CheckResult[];
  passed: number;
  total: number;
}

/** Starts Herald for the kit, runs the checks against the agent command, stops everything. */
export async function runConformance(options: ConformanceOptions): Promise<ConformanceReport> {
  const unknown = (options.only ?? []).filter((name) => !CHECKS.some((c) => c.name === name));
  if (unknown.length > 0) throw new Error(`no such check: ${unknown.join(', ')} (the checks: ${CHECKS.map((c) => c.name).join(', ')})`);
  const kit = new ConformanceKit({ agentCommand: options.agentCommand, workDir: options.workDir });
  let abort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    abort = () => reject(new Error('interrupted'));
    if (options.signal?.aborted) abort();
    options.signal?.addEventListener('abort', abort, { once: true });
  });
  aborted.catch(() => undefined);
  try {
    const run = (async () => {
      await kit.start();
      return runScenarios(kit, options.onResult ?? (() => undefined), options.only ? new Set(options.only) : undefined);
    })();
    run.catch(() => undefined);
    const results = await Promise.race([run, aborted]);
    return { results, passed: results.filter((r) => r.ok).length, total: results.length };
  } finally {
    if (abort) options.signal?.removeEventListener('abort', abort);
    await kit.stop();
  }
}

/** One line per check, as the command prints it. */
export function formatResult(r: CheckResult): string {
  return `${r.ok ? 'pass' : 'FAIL'}  ${r.name.padEnd(20)} ${r.detail} (${(r.ms / 1000).toFixed(1)} s)`;
}
