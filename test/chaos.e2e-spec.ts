import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { defaultBrokerUrls, runChaos, summaryLine, table, type FaultResult } from '../scripts/chaos';

const run = promisify(execFile);

/**
 * The short version of `npm run chaos` (issue 13): 60 agents on a private 3-node RabbitMQ cluster
 * and a private PostgreSQL; three faults during a rollout, one at a time. Every reachable agent
 * must end on the new version with nothing lost, handled twice or stuck, and no service needing a
 * restart the harness did not do itself.
 */
describe('chaos (short)', () => {
  it('kill -9 dispatch, stop the broker node the services are on, read-only store: the system heals by itself', async () => {
    const lines: string[] = [];
    const { results, totals, storeDir } = await runChaos({
      agents: 60,
      offline: 0.12,
      faults: ['kill-dispatch', 'stop-broker-node', 'readonly-store'],
      recoverTimeoutMs: 150_000,
      holdMs: 15_000,
      fileBytes: 500_000,
      // Every node when this build's RABBITMQ_URL takes a list (issue 13 item 3), else the first only.
      brokerUrls: defaultBrokerUrls(),
      env: {},
      log: (line) => lines.push(line),
    });
    // The whole report (steps, table, notes naming the evidence files), for when a count is not 0.
    console.log(`${lines.join('\n')}\n\n${table(results)}\n\n${summaryLine(totals)}`);
    expect(results.map((r: FaultResult) => r.fault)).toEqual(['kill-dispatch', 'stop-broker-node', 'readonly-store']);
    expect(summaryLine(totals)).toBe('chaos: faults=3 lost=0 doubled=0 stuck=0 manual-restarts=0');
    for (const r of results) expect(r.recoveredMs).not.toBeNull();

    // Nothing left behind: no node, cluster or mount of this run (another run on the machine may have its own).
    const { stdout: mounts } = await run('findmnt', ['-rn', '-o', 'TARGET']);
    expect(storeDir).toContain('herald-tmpfs-chaos-store-');
    expect(mounts.split('\n')).not.toContain(storeDir);
    const { stdout: clusters } = await run('pg_lsclusters', ['--no-header']);
    expect(clusters).not.toContain(`herald-chaos-${process.pid}-`);
    const { stdout: ps } = await run('ps', ['-eo', 'args', '--no-headers']);
    expect(ps).not.toContain(`herald-chaos-${process.pid}-`);
  }, 1_200_000);
});
