import { randomUUID } from 'node:crypto';
import { Controller, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventPattern, Payload } from '@nestjs/microservices';
import * as amqplib from 'amqplib';
import {
  AmqpClient,
  Headers,
  type Logger,
  MessagingModule,
  Outcome,
  PARKING_DROPPED_QUEUE,
  type ParkingLimits,
  type Parsed,
  type QueueDefinition,
  connectHeraldTransport,
  defineQueue,
  parkingQueueOf,
} from '@herald/messaging';
import { type TestVhost, createTestVhost, rabbitmqctl, waitFor } from '@herald/testing';

jest.setTimeout(90_000);

const EXCHANGE = 'test.parking';
type TestMessage = { type: 'refuse' | 'cut' | 'shed'; n: number; pad?: string };

/** A queue of JSON test messages, bound on the test exchange by type. */
const queue = (name: string, consume: QueueDefinition['consume'] = {}) =>
  defineQueue<TestMessage, TestMessage['type']>({
    name,
    types: ['refuse', 'cut', 'shed'],
    parse: (raw): Parsed<TestMessage> => {
      const m = JSON.parse(raw.body.toString()) as TestMessage;
      return { ok: true, type: m.type, message: m };
    },
    bindingsFor: (type) => [{ exchange: EXCHANGE, pattern: `${name}.${type}` }],
    consume: { prefetch: 50, ...consume },
  });

/** Handlers for one queue: `refuse` parks the message, `cut` parks its first 16 bytes, `shed` drops it. */
function handlersFor(q: ReturnType<typeof queue>) {
  @Controller()
  class Handlers {
    @EventPattern(q.pattern('refuse'))
    refuse(@Payload() m: TestMessage): Outcome {
      return Outcome.park(`refused: ${m.n}`);
    }

    @EventPattern(q.pattern('cut'))
    cut(@Payload() m: TestMessage): Outcome {
      return Outcome.park(`too-big: ${m.n}`, { keepBytes: 16 });
    }

    @EventPattern(q.pattern('shed'))
    shed(@Payload() m: TestMessage): Outcome {
      return Outcome.drop(`shed: ${m.n}`);
    }
  }
  return Handlers;
}

interface Started {
  app: INestApplication;
  amqp: AmqpClient;
  warnings: string[];
  parked: string[];
  /** Drops counted by any of the running apps (they compete for the counting queue), of this app's queue. */
  dropped: Array<{ queue: string; reason: string }>;
}

/** Every drop any app of this file counted. */
const allDropped: Array<{ queue: string; reason: string }> = [];

async function start(vhost: TestVhost, q: ReturnType<typeof queue>, parking?: ParkingLimits): Promise<Started> {
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (_obj, msg) => warnings.push(msg ?? ''), error() {} };
  @Module({
    imports: [MessagingModule.forRoot({ url: vhost.url, connectionName: 'parking-test', exchanges: [{ name: EXCHANGE, type: 'topic' }], queues: [q], shutdownDrainMs: 2_000, parking, logger })],
    controllers: [handlersFor(q)],
  })
  class TestModule {}
  const app = await NestFactory.create(TestModule, { logger: false, abortOnError: false });
  connectHeraldTransport(app);
  await app.init();
  await app.startAllMicroservices();
  const amqp = app.get(AmqpClient);
  const started: Started = {
    app,
    amqp,
    warnings,
    parked: [],
    get dropped() {
      return allDropped.filter((d) => d.queue === q.name || d.queue === parkingQueueOf(q.name));
    },
  };
  amqp.on('parked', (_q, reason) => started.parked.push(reason));
  amqp.on('dropped', (queue, reason) => allDropped.push({ queue, reason }));
  return started;
}

describe('parking queues: bounded, every drop counted, upgrades kept', () => {
  let vhost: TestVhost;
  let conn: amqplib.ChannelModel;
  let ch: amqplib.ConfirmChannel;
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    vhost = await createTestVhost('parking');
    conn = await amqplib.connect(vhost.url);
    ch = await conn.createConfirmChannel();
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await conn?.close();
    await vhost.delete();
  });

  const publish = async (routingKey: string, m: TestMessage, headers: Record<string, unknown> = {}) => {
    ch.publish(EXCHANGE, routingKey, Buffer.from(JSON.stringify(m)), { persistent: true, messageId: randomUUID(), headers });
    await ch.waitForConfirms();
  };
  const depth = async (name: string) => (await ch.checkQueue(name)).messageCount;
  /** Every message of a queue, read and put back. */
  const contents = async (name: string) => {
    const reader = await conn.createChannel();
    const out: amqplib.GetMessage[] = [];
    for (let m = await reader.get(name, { noAck: false }); m; m = await reader.get(name, { noAck: false })) out.push(m);
    await reader.close(); // unacknowledged: back to the queue
    return out;
  };

  it('keeps at most PARKING_MAX_MESSAGES, dropping the oldest, and counts each drop by its parking queue', async () => {
    const q = queue(`test.parking.count.${randomUUID()}`);
    const s = await start(vhost, q, { maxMessages: 5, maxBytes: 1024 * 1024 });
    apps.push(s.app);
    for (let n = 0; n < 12; n++) await publish(`${q.name}.refuse`, { type: 'refuse', n });
    await waitFor(() => s.parked.length === 12, { what: 'twelve messages parked' });
    await waitFor(() => s.dropped.length === 7, { what: 'seven drops counted', timeoutMs: 30_000 });
    expect(await depth(parkingQueueOf(q.name))).toBe(5);
    expect(s.dropped.every((d) => d.queue === parkingQueueOf(q.name) && d.reason.startsWith('parking-full:'))).toBe(true);
    // The newest are kept: the oldest went first.
    const kept = (await contents(parkingQueueOf(q.name))).map((m) => (JSON.parse(m.content.toString()) as TestMessage).n);
    expect(kept).toEqual([7, 8, 9, 10, 11]);
    // Counted drops are consumed, not kept a second time.
    await waitFor(async () => (await depth(PARKING_DROPPED_QUEUE)) === 0, { what: 'the counting queue drained' });
  });

  it('keeps at most PARKING_MAX_BYTES of bodies', async () => {
    const q = queue(`test.parking.bytes.${randomUUID()}`);
    const s = await start(vhost, q, { maxMessages: 1_000, maxBytes: 4_000 });
    apps.push(s.app);
    for (let n = 0; n < 10; n++) await publish(`${q.name}.refuse`, { type: 'refuse', n, pad: 'x'.repeat(1_000) });
    await waitFor(() => s.dropped.length === 7, { what: 'seven drops counted', timeoutMs: 30_000 });
    expect(await depth(parkingQueueOf(q.name))).toBe(3);
  });

  it('parks only the first bytes when asked, and none of the publisher’s headers on a queue that does not keep them', async () => {
    const q = queue(`test.parking.cut.${randomUUID()}`, { keepHeaders: false });
    const s = await start(vhost, q);
    apps.push(s.app);
    await publish(`${q.name}.cut`, { type: 'cut', n: 1, pad: 'y'.repeat(5_000) }, { 'x-padding': 'z'.repeat(50_000), 'x-herald-correlation-id': 'forged' });
    await waitFor(async () => (await depth(parkingQueueOf(q.name))) === 1, { what: 'the parked head' });
    const [m] = await contents(parkingQueueOf(q.name));
    expect(m!.content.length).toBe(16);
    expect(m!.properties.headers?.[Headers.parkedBodyBytes]).toBe(JSON.stringify({ type: 'cut', n: 1, pad: 'y'.repeat(5_000) }).length);
    expect(m!.properties.headers?.[Headers.parkedReason]).toBe('too-big: 1');
    expect(m!.properties.headers?.['x-padding']).toBeUndefined();
    expect(m!.properties.headers?.['x-herald-correlation-id']).toBeUndefined();
  });

  it('drops a message a handler drops: acknowledged, counted, not parked', async () => {
    const q = queue(`test.parking.drop.${randomUUID()}`);
    const s = await start(vhost, q);
    apps.push(s.app);
    for (let n = 0; n < 3; n++) await publish(`${q.name}.shed`, { type: 'shed', n });
    await waitFor(() => s.dropped.length === 3, { what: 'three drops' });
    expect(s.dropped).toEqual([0, 1, 2].map((n) => ({ queue: q.name, reason: `shed: ${n}` })));
    expect(await depth(q.name)).toBe(0);
    expect(await depth(parkingQueueOf(q.name))).toBe(0);
  });

  it('keeps a parking queue an earlier version declared unbounded, with its messages, and a policy bounds it in place', async () => {
    const q = queue(`test.parking.old.${randomUUID()}`);
    // What a Herald before bounded parking queues declared, holding three parked messages.
    const old = await conn.createChannel();
    await old.assertQueue(parkingQueueOf(q.name), { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let n = 0; n < 3; n++) old.sendToQueue(parkingQueueOf(q.name), Buffer.from(JSON.stringify({ type: 'refuse', n: 100 + n })), { persistent: true });
    await old.close();
    await waitFor(async () => (await depth(parkingQueueOf(q.name))) === 3, { what: 'the old parked messages' });

    const s = await start(vhost, q, { maxMessages: 5, maxBytes: 1024 * 1024 });
    apps.push(s.app);
    expect(s.warnings.some((w) => w.includes(`parking queue ${parkingQueueOf(q.name)} exists with other arguments`) && w.includes('Upgrading'))).toBe(true);
    expect(await depth(parkingQueueOf(q.name))).toBe(3);

    // The one-off step of docs/operations.md ("Upgrading"), on this test's own vhost.
    await rabbitmqctl(
      'set_policy', '-p', vhost.name, '--apply-to', 'queues', 'herald-parking',
      `^${q.name.replace(/\./g, '\\.')}\\.parking$`,
      JSON.stringify({ 'max-length': 5, 'max-length-bytes': 1024 * 1024, overflow: 'drop-head', 'dead-letter-exchange': '', 'dead-letter-routing-key': PARKING_DROPPED_QUEUE }),
    );
    for (let n = 0; n < 4; n++) await publish(`${q.name}.refuse`, { type: 'refuse', n });
    await waitFor(() => s.dropped.length === 2, { what: 'the two oldest dropped and counted', timeoutMs: 30_000 });
    expect(await depth(parkingQueueOf(q.name))).toBe(5);
    expect(s.dropped.every((d) => d.queue === parkingQueueOf(q.name) && d.reason.startsWith('parking-full:'))).toBe(true);
  });

  it('keeps an exchange an earlier version declared without its alternate exchange, with every binding, and a policy adds it in place', async () => {
    const inbound = `test.inbound.${randomUUID()}`;
    const unroutable = `test.unroutable.${randomUUID()}`;
    const other = `test.other-service.${randomUUID()}`;
    // An earlier version's exchange, and another service's queue bound to it.
    const old = await conn.createChannel();
    await old.assertExchange(inbound, 'topic', { durable: true });
    await old.assertQueue(other, { durable: true });
    await old.bindQueue(other, inbound, 'agent.*.hello');
    await old.close();

    const warnings: string[] = [];
    const logger: Logger = { debug() {}, info() {}, warn: (_o, msg) => warnings.push(msg ?? ''), error() {} };
    const exchanges = [
      { name: unroutable, type: 'fanout' as const, internal: true },
      { name: inbound, type: 'topic' as const, alternateExchange: unroutable },
    ];
    @Module({ imports: [MessagingModule.forRoot({ url: vhost.url, connectionName: 'exchange-upgrade-test', exchanges, logger })] })
    class TestModule {}
    const app = await NestFactory.create(TestModule, { logger: false, abortOnError: false });
    await app.init();
    apps.push(app);
    expect(warnings.some((w) => w.includes(`exchange ${inbound} exists without the alternate exchange`))).toBe(true);

    const catcher = await conn.createChannel();
    const caught = (await catcher.assertQueue('', { exclusive: true })).queue;
    await catcher.bindQueue(caught, unroutable, '');
    const send = async (key: string) => {
      ch.publish(inbound, key, Buffer.from(key), { persistent: true });
      await ch.waitForConfirms();
    };
    // The other service's binding is intact.
    await send('agent.a.hello');
    await waitFor(async () => (await depth(other)) === 1, { what: 'the hello on the other service’s queue' });
    // Without the alternate exchange, an unknown type is lost...
    await send('agent.a.frobnicate');
    // ...until the one-off policy of docs/operations.md gives the exchange one, in place.
    await rabbitmqctl('set_policy', '-p', vhost.name, '--apply-to', 'exchanges', 'herald-agent-inbound', `^${inbound.replace(/\./g, '\\.')}$`, JSON.stringify({ 'alternate-exchange': unroutable }));
    await waitFor(
      async () => {
        await send('agent.a.greetings');
        return (await catcher.checkQueue(caught)).messageCount > 0;
      },
      { what: 'an unknown type caught by the alternate exchange', timeoutMs: 30_000, intervalMs: 500 },
    );
    const first = await catcher.get(caught, { noAck: true });
    expect(first && first.fields.routingKey).toBe('agent.a.greetings');
    expect(await depth(other)).toBe(1);
    await catcher.close();
  });

  it('declares a new exchange with its alternate exchange: what no queue takes goes there', async () => {
    const inbound = `test.inbound.${randomUUID()}`;
    const unroutable = `test.unroutable.${randomUUID()}`;
    const exchanges = [
      { name: unroutable, type: 'fanout' as const, internal: true },
      { name: inbound, type: 'topic' as const, alternateExchange: unroutable },
    ];
    @Module({ imports: [MessagingModule.forRoot({ url: vhost.url, connectionName: 'exchange-new-test', exchanges })] })
    class TestModule {}
    const app = await NestFactory.create(TestModule, { logger: false, abortOnError: false });
    await app.init();
    apps.push(app);
    const catcher = await conn.createChannel();
    const caught = (await catcher.assertQueue('', { exclusive: true })).queue;
    await catcher.bindQueue(caught, unroutable, '');
    ch.publish(inbound, 'agent.a.frobnicate', Buffer.from('x'), { persistent: true });
    await ch.waitForConfirms();
    await waitFor(async () => (await catcher.checkQueue(caught)).messageCount === 1, { what: 'the unknown type caught' });
    // Internal: nobody publishes to the alternate exchange straight.
    const direct = await conn.createChannel();
    const refused = new Promise<Error>((resolve) => direct.once('error', resolve));
    direct.publish(unroutable, '', Buffer.from('y'));
    expect((await refused).message).toMatch(/ACCESS_REFUSED|internal/i);
    await catcher.close();
  });
});
