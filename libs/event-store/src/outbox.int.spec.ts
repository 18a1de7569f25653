import { AmqpClient, Outcome, declareExchanges, declareWorkQueue } from '@herald/messaging';
import { Database, EventStore, OutboxRelay } from '@herald/event-store';
import type { TestDatabase, TestVhost} from '@herald/testing';
import { createTestDatabase, createTestVhost, runBuilt, waitFor } from '@herald/testing';

jest.setTimeout(60_000);

const runChild = (...args: string[]) => runBuilt(`${__dirname}/test-support/outbox-crash.child.ts`, args);

describe('outbox across a crash', () => {
  let pg: TestDatabase;
  let vhost: TestVhost;
  let db: Database;
  let store: EventStore;
  let amqp: AmqpClient;
  const deliveries: string[] = [];
  const processed: string[] = [];

  beforeAll(async () => {
    [pg, vhost] = await Promise.all([createTestDatabase('outbox'), createTestVhost('outbox')]);
    db = await Database.open({ url: pg.url, schema: 'crash_test' });
    store = new EventStore(db);
    amqp = await AmqpClient.connect({ url: vhost.url, connectionName: 'outbox-test' });
    await amqp.addTopology(async (ch) => {
      await declareExchanges(ch, [{ name: 'crash.events', type: 'topic' }]);
      await declareWorkQueue(ch, { name: 'crash.consumer', bindings: [{ exchange: 'crash.events', pattern: 'order.#' }] });
    });
    // An idempotent consumer: the inbox row and the effect commit together.
    await amqp.consume('crash.consumer', async (m) => {
      deliveries.push(m.messageId!);
      await db.transaction(async (tx) => {
        if (await store.markProcessed(tx, 'crash-consumer', m.messageId!)) processed.push(JSON.parse(m.body.toString()).tag);
      });
      return Outcome.ack();
    });
  });

  afterAll(async () => {
    await amqp.close(1_000);
    await db.close();
    await Promise.all([pg.drop(), vhost.delete()]);
  });

  it('publishes an event whose process was killed before the relay ran, once, after restart', async () => {
    expect(await runChild(pg.url, vhost.url, 'before-relay', 'a')).toBe('SIGKILL');
    expect((await store.readStream('order-a')).version).toBe(1);
    const pending = await db.session((sql) => sql.rows<{ type: string }>('SELECT type FROM outbox WHERE published_at IS NULL'));
    expect(pending).toEqual([{ type: 'order.placed' }]);

    // The restarted service starts its relay.
    const relay = new OutboxRelay(store, amqp, { pollIntervalMs: 50 });
    relay.start();
    await waitFor(() => processed.includes('a'), { what: 'the event to reach the consumer' });
    await relay.stop();

    expect(processed.filter((t) => t === 'a')).toHaveLength(1);
    expect(await relay.lag()).toEqual({ pending: 0, oldestAgeMs: 0 });
  });

  it('delivers twice but applies once when the process dies between the confirm and marking the row', async () => {
    await db.transaction(async (tx) => {
      await store.append(tx, 'order-b', [{ type: 'OrderPlaced', data: { tag: 'b' } }], 0);
      await store.enqueue(tx, [{ exchange: 'crash.events', routingKey: 'order.placed', type: 'order.placed', payload: { tag: 'b' } }]);
    });
    expect(await runChild(pg.url, vhost.url, 'after-confirm', 'b')).toBe('SIGKILL');
    // The broker had confirmed it, so the consumer already has it once.
    await waitFor(() => processed.includes('b'), { what: 'the first delivery' });

    const relay = new OutboxRelay(store, amqp, { pollIntervalMs: 50 });
    relay.start();
    await waitFor(async () => (await relay.lag()).pending === 0, { what: 'the outbox to drain' });
    await relay.stop();

    const bDeliveries = await waitFor(() => {
      const ids = deliveries.filter((_, i) => i >= deliveries.length - 2);
      return ids.length === 2 && ids[0] === ids[1] ? ids : undefined;
    }, { what: 'the redelivery' });
    expect(bDeliveries).toHaveLength(2);
    expect(processed.filter((t) => t === 'b')).toHaveLength(1);
  });
});
