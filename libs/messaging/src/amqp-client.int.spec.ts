import { randomUUID } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { TestVhost} from '@herald/testing';
import { createTestVhost, waitFor } from '@herald/testing';
import type { InboundMessage} from '@herald/messaging';
import { AmqpClient, BrokerUnavailableError, Headers, Outcome, declareExchanges, declareWorkQueue, parkingQueueOf } from '@herald/messaging';

jest.setTimeout(60_000);

describe('AmqpClient against a real RabbitMQ', () => {
  let vhost: TestVhost;
  let client: AmqpClient;

  beforeAll(async () => {
    vhost = await createTestVhost('msg');
  });
  afterAll(async () => {
    await vhost.delete();
  });
  beforeEach(async () => {
    client = await AmqpClient.connect({ url: vhost.url, connectionName: 'messaging-test' });
  });
  afterEach(async () => {
    await client.close(1_000);
  });

  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const queueName = () => `test.${randomUUID()}`;

  async function collect(queue: string, decide: (m: InboundMessage) => Outcome = () => Outcome.ack()) {
    const seen: Array<InboundMessage & { at: number }> = [];
    await client.consume(queue, async (m) => {
      seen.push({ ...m, at: Date.now() });
      return decide(m);
    });
    return seen;
  }

  it('reports a mandatory publish that no queue takes, and confirms one that a queue takes', async () => {
    await client.addTopology((ch) => declareExchanges(ch, [{ name: 'test.direct', type: 'direct' }]));
    const queue = queueName();
    await client.addTopology((ch) => declareWorkQueue(ch, { name: queue, bindings: [{ exchange: 'test.direct', pattern: 'here' }] }));

    const unroutable = await client.publish('test.direct', 'nobody-home', json({ n: 1 }), { messageId: randomUUID(), mandatory: true });
    expect(unroutable).toEqual({ routed: false, replyCode: 312, replyText: 'NO_ROUTE' });

    const routed = await client.publish('test.direct', 'here', json({ n: 2 }), { messageId: randomUUID(), mandatory: true });
    expect(routed).toEqual({ routed: true });
    expect(client.stats.returned).toBe(1);
  });

  it('brings a "retry later" message back after the delay queue TTL with its attempt count raised', async () => {
    const queue = queueName();
    await client.addTopology((ch) => declareWorkQueue(ch, { name: queue }));
    const delayMs = 1_500;
    const seen = await collect(queue, (m) => (m.attempt < 3 ? Outcome.retry('not yet', delayMs) : Outcome.ack()));

    const messageId = randomUUID();
    await client.publish('', queue, json({ hello: 'retry' }), { messageId });
    await waitFor(() => seen.length === 3, { timeoutMs: 15_000, what: 'three deliveries' });

    expect(seen.map((m) => m.attempt)).toEqual([1, 2, 3]);
    expect(new Set(seen.map((m) => m.messageId))).toEqual(new Set([messageId]));
    const gaps = [seen[1]!.at - seen[0]!.at, seen[2]!.at - seen[1]!.at];
    for (const gap of gaps) {
      // The broker expires at the TTL; allow scheduling slack above it, never below.
      expect(gap).toBeGreaterThanOrEqual(delayMs - 50);
      expect(gap).toBeLessThan(delayMs + 1_500);
    }
    expect(client.stats.retried).toBe(2);
  });

  it('gives a retried message back with the exchange and routing key it was first published with', async () => {
    await client.addTopology((ch) => declareExchanges(ch, [{ name: 'test.topic', type: 'topic' }]));
    const queue = queueName();
    await client.addTopology((ch) => declareWorkQueue(ch, { name: queue, bindings: [{ exchange: 'test.topic', pattern: 'agent.#' }] }));
    const seen = await collect(queue, (m) => (m.attempt < 3 ? Outcome.retry('not yet', 300) : Outcome.ack()));

    await client.publish('test.topic', 'agent.a-1.hello', json({ n: 1 }), { messageId: randomUUID() });
    // A publisher that sets our route headers itself is not believed: the broker's route wins.
    await client.publish('test.topic', 'agent.a-2.hello', json({ n: 2 }), {
      messageId: randomUUID(),
      headers: { [Headers.originalExchange]: 'test.topic', [Headers.originalRoutingKey]: 'agent.victim.hello' },
    });
    await waitFor(() => seen.length === 6, { timeoutMs: 15_000, what: 'three deliveries of each message' });

    const routes = (n: number) => seen.filter((m) => JSON.parse(m.body.toString()).n === n).map((m) => `${m.attempt} ${m.exchange} ${m.routingKey} ${m.retried ? 'retried' : 'first'}`);
    expect(routes(1)).toEqual(['1 test.topic agent.a-1.hello first', '2 test.topic agent.a-1.hello retried', '3 test.topic agent.a-1.hello retried']);
    // Nor does its own route header make a first delivery a retry (the agent door charges only first deliveries).
    expect(routes(2)).toEqual(['1 test.topic agent.a-2.hello first', '2 test.topic agent.a-2.hello retried', '3 test.topic agent.a-2.hello retried']);
  });

  it('parks a malformed message with its reason and keeps consuming the next ones', async () => {
    const queue = queueName();
    await client.addTopology((ch) => declareWorkQueue(ch, { name: queue }));
    const handled: unknown[] = [];
    await client.consume(queue, async (m) => {
      let body: unknown;
      try {
        body = JSON.parse(m.body.toString());
      } catch {
        return Outcome.park('not-json');
      }
      handled.push(body);
      return Outcome.ack();
    });

    await client.publish('', queue, Buffer.from('{this is not json'), { messageId: randomUUID() });
    await client.publish('', queue, json({ ok: 1 }), { messageId: randomUUID() });
    await client.publish('', queue, json({ ok: 2 }), { messageId: randomUUID() });
    await waitFor(() => handled.length === 2, { what: 'the two good messages' });
    expect(handled).toEqual([{ ok: 1 }, { ok: 2 }]);

    const parked = await waitFor(
      () => client.withChannel(async (ch) => ch.get(parkingQueueOf(queue), { noAck: true })),
      { what: 'a parked message' },
    );
    expect(parked.content.toString()).toBe('{this is not json');
    expect(parked.properties.headers?.[Headers.parkedReason]).toBe('not-json');
    expect(parked.properties.headers?.[Headers.parkedFromQueue]).toBe(queue);
    expect(client.stats.parked).toBe(1);
  });

  it('parks a message whose handler keeps failing once it has used up its attempts', async () => {
    const queue = queueName();
    await client.addTopology((ch) => declareWorkQueue(ch, { name: queue }));
    let calls = 0;
    await client.consume(
      queue,
      async () => {
        calls++;
        throw new Error('database is on fire');
      },
      { maxAttempts: 3, retryDelayMs: 200 },
    );
    await client.publish('', queue, json({ doomed: true }), { messageId: randomUUID() });
    const parked = await waitFor(
      () => client.withChannel(async (ch) => ch.get(parkingQueueOf(queue), { noAck: true })),
      { timeoutMs: 10_000, what: 'the message to be parked' },
    );
    expect(calls).toBe(3);
    expect(String(parked.properties.headers?.[Headers.parkedReason])).toMatch(/^retries-exhausted: gave up after 3 attempts: handler failed: database is on fire/);
  });

  it('resumes consuming and publishing after the broker closes its connection', async () => {
    const queue = queueName();
    await client.addTopology((ch) => declareWorkQueue(ch, { name: queue }));
    const seen = await collect(queue);
    await client.publish('', queue, json({ before: true }), { messageId: randomUUID() });
    await waitFor(() => seen.length === 1, { what: 'the first message' });

    const disconnected = new Promise((r) => client.once('disconnected', r));
    await vhost.closeAllConnections();
    await disconnected;
    expect(client.isConnected).toBe(false);
    // A publish while reconnecting waits for the connection instead of failing.
    await client.publish('', queue, json({ during: true }), { messageId: randomUUID() });
    expect(client.isConnected).toBe(true);

    await client.publish('', queue, json({ after: true }), { messageId: randomUUID() });
    await waitFor(() => seen.length === 3, { timeoutMs: 10_000, what: 'the messages after the reconnect' });
    expect(seen.slice(1).map((m) => JSON.parse(m.body.toString()))).toEqual([{ during: true }, { after: true }]);
    expect(client.stats.reconnects).toBe(1);
  });

  it('connects again when the connection is lost while it is being set up, after its last request', async () => {
    const queue = queueName();
    let setups = 0;
    // The second setup (the reconnect) loses its connection after its declarations, while nothing
    // is waiting for an answer: the client must notice and connect again, not keep a dead connection.
    await client.addTopology(async (ch) => {
      setups++;
      await declareWorkQueue(ch, { name: queue });
      if (setups === 2) {
        const gone = new Promise((r) => (ch.connection as unknown as EventEmitter).once('close', r));
        await vhost.closeAllConnections();
        await gone;
      }
    });
    const reconnected = new Promise<void>((r) => client.once('connected', () => r()));
    const disconnected = new Promise((r) => client.once('disconnected', r));
    await vhost.closeAllConnections();
    await disconnected;
    await reconnected;
    expect(setups).toBe(3);
    expect(client.isConnected).toBe(true);
    await client.publish('', queue, json({ after: true }), { messageId: randomUUID() });
    expect(client.stats.reconnects).toBe(1);
  });

  it('fails a publish with BrokerUnavailableError once it waited publishWaitMs for a connection in vain', async () => {
    const slow = await AmqpClient.connect({ url: vhost.url, connectionName: 'messaging-test-slow', reconnectDelayMs: 5_000, publishWaitMs: 300 });
    try {
      const disconnected = new Promise((r) => slow.once('disconnected', r));
      await vhost.closeAllConnections();
      await disconnected;
      const started = Date.now();
      const err = (await slow.publish('', 'anywhere', json({}), { messageId: randomUUID() }).catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(BrokerUnavailableError);
      expect(err.message).toMatch(/waited 300 ms/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(slow.isConnected).toBe(false);
    } finally {
      await slow.close(0);
    }
  });

  it('fails fast with one clear error when the broker cannot be reached', async () => {
    const started = Date.now();
    await expect(
      AmqpClient.connect({ url: 'amqp://guest:secret@127.0.0.1:1', connectionName: 'nowhere', initialConnectTimeoutMs: 500 }),
    ).rejects.toThrow(/cannot reach RabbitMQ at amqp:\/\/guest:\*\*\*@127\.0\.0\.1:1.*ECONNREFUSED/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
