import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { waitFor } from '@herald/testing';
import { Fleet } from '../apps/agent-simulator/src/fleet';
import { RulesHarness } from './support/rules-harness';

jest.setTimeout(240_000);

/** A pattern file and its next release: a few records changed, so a patch is small. */
function evolve(previous: Buffer): Buffer {
  const next = Buffer.from(previous);
  for (let i = 0; i < 8; i++) randomBytes(64).copy(next, (i * 997 * 61) % (next.length - 64));
  return Buffer.concat([next, randomBytes(512)]);
}

/**
 * The simulator's fleet (many reference agents over a few shared connections) against the whole
 * system: a mix of online, offline, Independent, silent and restarting agents, two rollouts (the
 * second served as patches), and the broker dropping every connection in the middle.
 */
describe('the agent simulator', () => {
  const h = new RulesHarness();
  let fleet: Fleet | null = null;

  beforeAll(() => h.start({ DISPATCH_WAVE_DELAY_MS: '200' }));
  /** Waits for every reachable agent to have `version`; on timeout, says who is behind and why. */
  async function allUpToDate(type: string, version: string, timeoutMs: number): Promise<void> {
    const what = `every reachable agent on ${type} ${version}`;
    fleet!.targets.set(type, version);
    try {
      await waitFor(async () => (await fleet!.upToDate()) === fleet!.reachable(), { what, timeoutMs });
    } catch (err) {
      const behind = await fleet!.behind(3);
      const detail = await Promise.all(behind.map(async (b) => ({ ...b, timeline: (await h.entries(b.id)).map((e) => `${e.at} ${e.type}${e.reason ? `(${e.reason})` : ''}`) })));
      const directory = await h.system.sql('SELECT agent_id, online, components FROM notification_dispatch.directory_agents WHERE agent_id = ANY($1)', [behind.map((b) => b.id)]).catch((e: Error) => e.message);
      throw new Error(`${(err as Error).message}; directory ${JSON.stringify(directory)}; counts ${JSON.stringify(fleet!.counts())}; targets ${JSON.stringify([...fleet!.targets])}; behind: ${JSON.stringify(detail)}`, { cause: err });
    }
  }

  afterAll(async () => {
    await fleet?.stop();
    await h.stop();
  });

  it('brings every reachable agent of a mixed fleet up to date, twice, through a broker failure', async () => {
    const type = 'sim-pattern';
    await h.settings({ maxInFlight: 100, resendIntervalSeconds: 2, maxAttempts: 2, ackTimeoutSeconds: 2, includeIndependentAndOffline: false, updateOnReconnect: true, scanAfterUpdate: true });
    const v1 = randomBytes(256 * 1024);
    h.upstream.publish({ type, version: '1.0.0', content: v1 });
    await h.system.http('component-download', 'POST', '/components/check');

    fleet = new Fleet({
      amqpUrl: h.system.amqpUrl,
      agents: 300,
      connections: 3,
      prefix: 'fleet',
      offline: 0.1,
      independent: 0.1,
      silent: 0.05,
      restarting: 0.05,
      restartEveryMs: [3_000, 8_000],
      downMs: [300, 1_500],
      components: { [type]: ['0.8.0', '0.9.0'] },
      heartbeatIntervalMs: 500,
    });
    await fleet.start();
    expect(fleet.roles()).toEqual({ normal: 210, offline: 30, independent: 30, silent: 15, restarting: 15 });
    // Dispatch hears of agents through presence; wait until it knows them all (and the offline ones as offline).
    await waitFor(
      async () => {
        const [row] = await h.system.sql<{ known: string; offline: string }>(
          `SELECT count(*) AS known, count(*) FILTER (WHERE NOT online) AS offline FROM notification_dispatch.directory_agents WHERE agent_id LIKE 'fleet-%'`,
        );
        return Number(row!.known) === 300 && Number(row!.offline) >= 30;
      },
      { what: 'dispatch to know all 300 agents', timeoutMs: 30_000 },
    );

    // R2: agents that said hello on an older version than the server's 1.0.0 are updated at once.
    await allUpToDate(type, '1.0.0', 90_000);

    // Rollout 1 (R1).
    const v2 = evolve(v1);
    const first = await h.publish(type, '1.1.0', v2);
    await allUpToDate(type, '1.1.0', 90_000);
    const afterFirst = fleet.counts();
    expect(afterFirst.failed).toBe(0);
    // Offline agents and Independent ones (without the privilege) are skipped with their reason
    // (the rollout view is a projection that may trail the agents by a moment).
    const view = await waitFor(async () => {
      const v = await h.rollout(first.rolloutId);
      return v.counts.skipped['no-privilege'] === 30 ? v : undefined;
    }, { what: 'the rollout view to count 30 Independent agents skipped' }).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(await h.rollout(first.rolloutId))}`, { cause: err });
    });
    expect(view.counts.skipped.offline).toBeGreaterThanOrEqual(30);
    expect(view.counts.targeted).toBeGreaterThanOrEqual(210 + 15);

    // Rollout 2, with the broker dropping every connection half way: agents reconnect, say hello
    // again, and finish on patches rebuilt from the file they hold.
    const v3 = evolve(v2);
    await h.publish(type, '1.2.0', v3);
    await waitFor(() => fleet!.counts().patchBytes > 0, { what: 'the first patch applied', timeoutMs: 30_000 });
    await h.system.vhost.closeAllConnections();
    await allUpToDate(type, '1.2.0', 120_000);
    const afterSecond = fleet.counts();
    // Every agent held 1.1.0 and asked for a patch; those that asked before it was built were
    // told to retry (PATCH_WAIT_MS): none needed the full file.
    const patchBytes = afterSecond.patchBytes - afterFirst.patchBytes;
    expect(afterSecond.fullBytes - afterFirst.fullBytes).toBe(0);
    expect(patchBytes).toBeGreaterThan(0);
    expect(patchBytes).toBeLessThan((fleet.reachable() * v3.length) / 5);
    expect(afterSecond.failed).toBe(0);
    expect(afterSecond.scanned).toBeGreaterThanOrEqual(fleet.roles().normal);

    // The rollout progress is a projection: replayed from the first event, in other batches than
    // the live run applied them in, it must come out exactly the same.
    await fleet.stop();
    fleet = null;
    let last = '';
    const settled = async () => {
      const [row] = await h.system.sql<{ events: string; behind: string }>(
        `SELECT (SELECT count(*) FROM notification_dispatch.events) AS events,
                (SELECT count(*) FROM notification_dispatch.events e, notification_dispatch.checkpoints c
                  WHERE c.name = 'rollout-progress' AND (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)) AS behind`,
      );
      const quiet = row!.events === last && row!.behind === '0';
      last = row!.events;
      return quiet;
    };
    // No new decision for two seconds (the silent agents given up), and the projection caught up.
    await waitFor(settled, { what: 'dispatch to settle', timeoutMs: 60_000, intervalMs: 2_000 });
    const progress = () => h.system.sql('SELECT * FROM notification_dispatch.rollout_agents ORDER BY rollout_id, agent_id');
    const live = await progress();
    await h.system.sql(
      `BEGIN;
       TRUNCATE notification_dispatch.rollout_scans, notification_dispatch.rollout_notifications, notification_dispatch.rollout_agents, notification_dispatch.rollouts;
       UPDATE notification_dispatch.checkpoints SET transaction_id = '0', global_position = 0 WHERE name = 'rollout-progress';
       COMMIT;`,
    );
    await waitFor(settled, { what: 'the projection to replay every event', timeoutMs: 60_000, intervalMs: 2_000 });
    expect(await progress()).toEqual(live);
  });

  it('gives agents the bytes of their starting version, so their first update is a patch', async () => {
    const type = 'seed-pattern';
    const v1 = randomBytes(256 * 1024);
    h.upstream.publish({ type, version: '1.0.0', content: v1 });
    await h.system.http('component-download', 'POST', '/components/check');
    fleet = new Fleet({
      amqpUrl: h.system.amqpUrl,
      agents: 40,
      connections: 1,
      prefix: 'seeded',
      // A second type the server does not have: nothing to hold for it.
      components: { [type]: ['1.0.0'], 'seed-unknown': ['3.0.0'] },
      heartbeatIntervalMs: 500,
      baseContentUrl: h.system.url('component-download'),
    });
    await fleet.start();
    expect(fleet.seeded).toEqual([
      { type, version: '1.0.0', bytes: v1.length },
      { type: 'seed-unknown', version: '3.0.0', bytes: 0, missing: 'HTTP 404' },
    ]);
    expect(fleet.content.get(type, '1.0.0')?.equals(v1)).toBe(true);
    await waitFor(async () => {
      const [row] = await h.system.sql<{ n: string }>(`SELECT count(*) AS n FROM notification_dispatch.directory_agents WHERE agent_id LIKE 'seeded-%' AND online`);
      return Number(row!.n) === 40;
    }, { what: 'dispatch to know the 40 agents online', timeoutMs: 30_000 });

    await h.publish(type, '1.1.0', evolve(v1));
    await allUpToDate(type, '1.1.0', 90_000);
    const counts = fleet.counts();
    expect(counts.fullBytes).toBe(0);
    expect(counts.patchBytes).toBeGreaterThan(0);
    expect(counts.patchBytes).toBeLessThan((40 * v1.length) / 5);
    await fleet.stop();
    fleet = null;
  });

  it('runs as `npm run simulate`: progress, then a summary and exit 0 once every reachable agent is up to date', async () => {
    const type = 'cli-pattern';
    h.upstream.publish({ type, version: '2.0.0', content: randomBytes(64 * 1024) });
    await h.system.http('component-download', 'POST', '/components/check');
    const cli = spawn(
      process.execPath,
      [
        path.join(__dirname, '..', 'dist', 'apps', 'agent-simulator', 'src', 'simulate.js'),
        ...['--agents', '120', '--connections', '2', '--prefix', 'cli', '--amqp', h.system.amqpUrl, '--downloads', h.system.url('component-download')],
        ...['--component', `${type}=1.0.0..1.0.3`, '--offline', '0.1', '--independent', '0.1', '--silent', '0.05', '--restarting', '0', '--heartbeat', '500', '--timeout', '120'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
    cli.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('waiting for updates'), { what: 'the simulator to start its agents', timeoutMs: 60_000 });
      await h.publish(type, '2.1.0', randomBytes(64 * 1024));
      const code = await exited;
      if (code !== 0) throw new Error(`simulator exited ${code}:\n${out.slice(-3000)}`);
    } finally {
      cli.kill('SIGKILL');
    }
    expect(out).toMatch(/connected \d+\/120/);
    expect(out).toContain('every reachable agent is up to date');
    expect(out).toMatch(/90\/90 reachable agents up to date/);
    // Its starting versions are older than anything the server keeps: nothing to hold, said once each.
    expect(out).toContain('herald-simulator: cli-pattern 1.0.3: no bytes (HTTP 404); its agents take full files');
    expect(out).toMatch(/peak RSS \d+\.\d MB/);
  });
});
