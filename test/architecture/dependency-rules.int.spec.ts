import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';

const root = path.resolve(__dirname, '../..');

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
  via?: Array<{ name: string }>;
}

/** Runs dependency-cruiser with the repository's rules (as `npm run lint` does) over `files`. */
async function violations(...files: string[]): Promise<Violation[]> {
  const bin = path.join(root, 'node_modules', '.bin', 'depcruise');
  const { stdout } = await promisify(execFile)(bin, [...files, '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' })); // non-zero exit when it finds violations
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

/*
 * Each case runs dependency-cruiser as a process over TypeScript sources (the last over all of
 * apps/): 2–3 s of CPU each on a quiet machine, over 25 s on a loaded one. That is int-tier
 * work, with a deadline for a hang rather than a race against the machine's load.
 */
describe('the pure-domain dependency rule', () => {
  jest.setTimeout(180_000);

  it('refuses a decider that imports a type from @herald/event-store, whose index reaches pg and TypeORM', async () => {
    const found = await violations('test/architecture/fixtures/reaches-storage.decider.ts');
    expect(found.map((v) => v.rule.name)).toContain('pure-domain');
    const reached = found.filter((v) => v.rule.name === 'pure-domain').map((v) => v.to);
    expect(reached.some((to) => /node_modules\/(pg|typeorm)\//.test(to))).toBe(true);
  });

  it('accepts a decider that imports @herald/domain and @herald/contracts only', async () => {
    expect(await violations('test/architecture/fixtures/pure.decider.ts')).toEqual([]);
  });

  it('finds every decider and event definition of the services pure', async () => {
    expect(await violations('apps', 'libs/domain')).toEqual([]);
  });
});
