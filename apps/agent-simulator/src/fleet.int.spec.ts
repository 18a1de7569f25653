import * as amqp from 'amqplib';
import { Exchanges } from '@herald/contracts';
import type { TestVhost} from '@herald/testing';
import { createTestVhost, waitFor } from '@herald/testing';
import { Fleet } from './fleet';

jest.setTimeout(90_000);

/** The simulator's fleet on a bare broker (the test declares the server's exchanges). */
describe('Fleet', () => {
  let vhost: TestVhost;
  let fleet: Fleet | null = null;

  beforeAll(async () => {
    vhost = await createTestVhost('fleet');
    const c = await amqp.connect(vhost.url);
    const ch = await c.createChannel();
    await ch.assertExchange(Exchanges.agentInbound, 'topic', { durable: true });
    await ch.assertExchange(Exchanges.agentOutbound, 'topic', { durable: true });
    await c.close();
  });
  afterAll(async () => {
    await fleet?.stop();
    await vhost.delete();
  });

  it('keeps agents that restart all the time coming back, through repeated broker failures', async () => {
    fleet = new Fleet({
      amqpUrl: vhost.url,
      agents: 80,
      connections: 2,
      prefix: 'churn',
      restarting: 0.5,
      restartEveryMs: [200, 800],
      downMs: [50, 300],
      components: { 'virus-pattern': ['1.0.0'] },
      heartbeatIntervalMs: 1_000,
    });
    await fleet.start();
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 1_500));
      await vhost.closeAllConnections();
    }
    await waitFor(() => fleet!.counts().connected >= 40, { what: 'the steady agents back', timeoutMs: 30_000 });
    // Restarting agents are down for at most 300 ms at a time: within a few seconds each has been seen up.
    const seen = new Set<string>();
    await waitFor(
      async () => {
        for (const id of fleet!.connectedIds()) seen.add(id);
        return seen.size === 80;
      },
      { what: 'every agent up again at some point', timeoutMs: 30_000, intervalMs: 50 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}; never seen: ${fleet!.ids().filter((id) => !seen.has(id)).join(', ')}; last warning: ${fleet!.lastWarning}`, { cause: err });
    });
    expect(fleet.counts().restarts).toBeGreaterThan(40);
  });
});
