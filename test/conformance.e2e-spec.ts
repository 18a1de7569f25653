import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CHECKS, type CheckResult, REPO_ROOT, runConformance } from '@herald/testing';

jest.setTimeout(600_000);

/*
 * The conformance kit (`npm run conformance`) against the three reference agents: the SDK's
 * (TypeScript), test/independent-agent (JavaScript written from the document alone) and
 * examples/python-agent (Python, from the document alone). Each must pass every check. A
 * deliberately broken agent must fail exactly the checks that catch its faults, so a check
 * that cannot fail would show here.
 */

const AGENTS: Array<[string, string]> = [
  ['the SDK reference agent', `${process.execPath} dist/apps/agent-simulator/src/run-agent.js`],
  ['test/independent-agent', `${process.execPath} test/independent-agent/agent.js`],
  ['examples/python-agent', '/usr/bin/python3 examples/python-agent/herald_agent.py'],
];

const failures = (results: CheckResult[]) => results.filter((r) => !r.ok).map((r) => `${r.name}: ${r.detail}`);

describe('the agent conformance kit', () => {
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'herald-conformance-test-'));
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it.each(AGENTS)('%s passes every check', async (label, command) => {
    const report = await runConformance({ agentCommand: command, workDir: path.join(work, label.replace(/[^a-z]+/gi, '-')) });
    expect(failures(report.results)).toEqual([]);
    expect(report.results.map((r) => r.name).sort()).toEqual(CHECKS.map((c) => c.name).sort());
    expect(report.passed).toBe(CHECKS.length);
  });

  it('fails a broken agent (never acks, installs a file with the wrong digest, no heartbeats while downloading) on the checks that catch it, and says so', async () => {
    execFileSync(process.execPath, [require.resolve('@swc/cli/bin/swc.js'), 'scripts/conformance.ts', '-d', 'dist', '--config-file', '.swcrc', '--quiet'], { cwd: REPO_ROOT });
    const cli = spawn(
      process.execPath,
      ['dist/scripts/conformance.js', '--agent', `${process.execPath} test/independent-agent/broken-agent.js`, '--checks', 'hello,update-full,ack-before-report,bad-digest,heartbeat-in-download', '--work', path.join(work, 'broken')],
      { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    cli.stdout.on('data', (c: Buffer) => (out += c.toString()));
    cli.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise<number | null>((resolve) => cli.once('exit', resolve));

    const lines = out.trim().split('\n');
    const verdict = (name: string) => lines.find((l) => l.slice(6).startsWith(`${name} `))?.slice(0, 4);
    expect({
      hello: verdict('hello'),
      'ack-before-report': verdict('ack-before-report'),
      'bad-digest': verdict('bad-digest'),
      'heartbeat-in-download': verdict('heartbeat-in-download'),
    }).toEqual({ hello: 'pass', 'ack-before-report': 'FAIL', 'bad-digest': 'FAIL', 'heartbeat-in-download': 'FAIL' });
    expect(lines.find((l) => l.includes('ack-before-report'))).toContain('no ack for commandId');
    expect(lines.find((l) => l.slice(6).startsWith('bad-digest'))).toContain('reported completed');
    // The scenario that holds update-full also holds the others; only the checks asked for are counted.
    expect(lines.filter((l) => /^(pass|FAIL) {2}/.test(l))).toHaveLength(5);
    expect(lines.at(-1)).toMatch(/^conformance: [12]\/5$/);
    expect(code).toBe(1);
  });
});
