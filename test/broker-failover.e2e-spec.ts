import { SERVICES, type PrivateRabbitCluster, privateBroker, startRabbitCluster, waitFor } from '@herald/testing';
import { RulesHarness, type SimAgent } from './support/rules-harness';

jest.setTimeout(600_000);

/**
 * The broker node the services are on stops during a rollout (a private 3-node cluster, never
 * the shared broker; the node stays down): the services and agents move to the other nodes on
 * their own and the rollout completes for every agent, without restarting any service.
 */
describe('broker failover', () => {
  const h = new RulesHarness();
  let cluster: PrivateRabbitCluster;

  beforeAll(async () => {
    cluster = await startRabbitCluster({ nodes: 3, name: 'herald-failover-e2e' });
    // Every service gets all three nodes, the first one first: they all start on node 1.
    await h.start({}, { broker: privateBroker(cluster) });
  });
  afterAll(async () => {
    await h.stop();
    await cluster?.remove();
  });

  const node = (i: number) => `127.0.0.1:${cluster.ports[i]}`;
  const brokerNodes = async () =>
    Promise.all(
      SERVICES.map(async (s) => {
        const res = await h.system.http<{ details: { broker: { status: string; node?: string } } }>(s, 'GET', '/health', undefined, null);
        return res.body.details?.broker?.node ?? `down (${res.status})`;
      }),
    );

  it('completes a rollout for every agent when the node the services are on stops in the middle of it', async () => {
    const type = 'failover-pattern';
    await h.settings({ resendIntervalSeconds: 2, maxAttempts: 10, ackTimeoutSeconds: 2, includeIndependentAndOffline: false, updateOnReconnect: true });
    expect(await brokerNodes()).toEqual(SERVICES.map(() => node(0)));

    // Agents spread over the nodes, as a fleet is: agent i lists node i % 3 first. Installing takes a while, so the rollout is under way when the node stops.
    const agents: SimAgent[] = [];
    for (let i = 0; i < 6; i++) {
      const order = [0, 1, 2].map((k) => cluster.urls[(i + k) % 3]!);
      agents.push(await h.agent(`failover-${i}`, [{ type, version: '1.0' }], { amqpUrl: order, installDelayMs: 3_000 }));
    }
    expect(agents.map((a) => a.agent.connectedNode)).toEqual([0, 1, 2, 0, 1, 2].map(node));
    const pids = h.system.pids();

    const rollout = await h.publish(type, '1.1');
    await waitFor(() => agents.some((a) => a.updating), { what: 'the first agent to start updating', intervalMs: 50 });
    const done = (await Promise.all(agents.map((a) => a.version(type)))).filter((v) => v === '1.1').length;
    expect(done).toBeLessThan(agents.length);

    const stoppedAt = Date.now();
    await cluster.stopNode(0);

    await waitFor(async () => (await brokerNodes()).every((n) => n === node(1) || n === node(2)), { what: 'every service on another node', timeoutMs: 60_000 });
    const servicesBackMs = Date.now() - stoppedAt;
    await waitFor(async () => (await Promise.all(agents.map((a) => a.version(type)))).every((v) => v === '1.1'), {
      what: 'every agent on 1.1',
      timeoutMs: 120_000,
    });
    const view = await waitFor(
      async () => {
        const r = await h.rollout(rollout.rolloutId);
        return r.counts.updated + r.counts.updatedAfterSkip === agents.length ? r : undefined;
      },
      { what: 'the rollout to count every agent updated', timeoutMs: 60_000 },
    );
    expect(view.counts.gaveUp).toBe(0);
    for (const agent of agents) expect(agent.installs).toEqual([`${type}@1.1`]);
    // The agents that were on the stopped node moved too. One may still be setting up there: its
    // hello goes to a quorum queue whose leader was on the stopped node, and the broker refuses it
    // until a new leader is elected (seconds, more on a loaded machine); the agent tries again.
    const moved = (n: string | null) => (n === node(1) || n === node(2) ? 'on another node' : `on ${n ?? 'none'}`);
    const where = () => agents.map((a) => `${a.id} ${moved(a.agent.connectedNode)}`);
    await waitFor(() => where().every((w) => w.endsWith('on another node')), { what: `every agent on another node (${where().join(', ')})`, timeoutMs: 60_000 }).catch(() => undefined);
    expect(where()).toEqual(agents.map((a) => `${a.id} on another node`));
    // Nobody restarted a service: the same processes did it all.
    expect(h.system.pids()).toEqual(pids);
    console.log(`broker failover: services on another node ${servicesBackMs} ms after the stop began; rollout complete ${Date.now() - stoppedAt} ms after it`);
  });
});
