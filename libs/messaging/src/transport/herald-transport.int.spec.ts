import { randomUUID } from 'node:crypto';
import { Controller, type INestApplication, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import {
  AmqpClient,
  HeraldBatchContext,
  HeraldContext,
  MessagingModule,
  Outcome,
  type Parsed,
  batchOf,
  connectHeraldTransport,
  defineQueue,
  parkingQueueOf,
} from '@herald/messaging';
import { type TestVhost, createTestVhost, waitFor } from '@herald/testing';

jest.setTimeout(60_000);

const EXCHANGE = 'test.transport';
type TestMessage = { type: 'greet' | 'flaky' | 'refuse' | 'tick' | 'orphan'; n: number };

/** A queue of JSON messages `{ type, n }`, bound on the test exchange by type. */
const queue = (name: string) =>
  defineQueue<TestMessage, TestMessage['type']>({
    name,
    types: ['greet', 'flaky', 'refuse', 'tick', 'orphan'],
    parse: (raw): Parsed<TestMessage> => {
      try {
        const m = JSON.parse(raw.body.toString()) as TestMessage;
        return { ok: true, type: m.type, message: m };
      } catch {
        return { ok: false, reason: 'not-json', detail: 'test message' };
      }
    },
    bindingsFor: (type) => [{ exchange: EXCHANGE, pattern: type }],
    consume: { prefetch: 20, retryDelayMs: 300 },
  });

const Q = queue(`test.transport.${randomUUID()}`);

/** What the handlers saw, for the assertions. */
const seen = {
  greet: [] as Array<{ n: number; routingKey: string; attempt: number; queue: string }>,
  flaky: [] as number[],
  batches: [] as number[][],
};

@Controller()
class TestHandlers {
  @EventPattern(Q.pattern('greet'))
  greet(@Payload() m: TestMessage, @Ctx() ctx: HeraldContext): Outcome {
    seen.greet.push({ n: m.n, routingKey: ctx.routingKey, attempt: ctx.attempt, queue: ctx.queue });
    return Outcome.ack();
  }

  /** Throws on the first delivery: the transport retries it with the error as the reason. */
  @EventPattern(Q.pattern('flaky'))
  async flaky(@Payload() m: TestMessage, @Ctx() ctx: HeraldContext): Promise<Outcome> {
    seen.flaky.push(ctx.attempt);
    if (ctx.attempt === 1) throw new Error(`database hiccup on ${m.n}`);
    return Outcome.ack();
  }

  @EventPattern(Q.pattern('refuse'))
  refuse(@Payload() m: TestMessage): Outcome {
    return Outcome.park(`refused: message ${m.n}`);
  }

  /** A batch handler: up to 5 at once; parks the odd ones. */
  @EventPattern(Q.pattern('tick'), batchOf({ maxMessages: 5, maxWaitMs: 1_000 }))
  ticks(@Payload() ms: TestMessage[], @Ctx() ctx: HeraldBatchContext): Outcome[] {
    expect(ctx.messages).toHaveLength(ms.length);
    seen.batches.push(ms.map((m) => m.n));
    return ms.map((m) => (m.n % 2 === 1 ? Outcome.park(`odd: ${m.n}`) : Outcome.ack()));
  }
}

async function start(vhost: TestVhost, controllers: Array<new (...args: never[]) => unknown>, queues = [Q]): Promise<INestApplication> {
  @Module({
    imports: [MessagingModule.forRoot({ url: vhost.url, connectionName: 'transport-test', exchanges: [{ name: EXCHANGE, type: 'topic' }], queues, shutdownDrainMs: 2_000 })],
    controllers,
  })
  class TestModule {}
  const app = await NestFactory.create(TestModule, { logger: false, abortOnError: false });
  connectHeraldTransport(app);
  await app.init();
  try {
    await app.startAllMicroservices();
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}

describe('HeraldTransport: @EventPattern handlers on a real RabbitMQ', () => {
  let vhost: TestVhost;
  let app: INestApplication;
  let amqp: AmqpClient;
  const parked: Array<{ queue: string; reason: string }> = [];
  const retried: Array<{ queue: string; reason: string }> = [];

  beforeAll(async () => {
    vhost = await createTestVhost('transport');
    app = await start(vhost, [TestHandlers]);
    amqp = app.get(AmqpClient);
    amqp.on('parked', (q, reason) => parked.push({ queue: q, reason }));
    amqp.on('retried', (q, reason) => retried.push({ queue: q, reason }));
  });
  afterAll(async () => {
    await app?.close();
    await vhost.delete();
  });

  const send = (routingKey: string, body: unknown, exchange = EXCHANGE) =>
    amqp.publish(exchange, routingKey, Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), { messageId: randomUUID(), mandatory: true });

  it('binds the queue to exactly the types it has handlers for', async () => {
    for (const type of ['greet', 'flaky', 'refuse', 'tick']) expect(await send(type, { type, n: 0 })).toMatchObject({ routed: true });
    // 'orphan' is a type of the queue, but no handler is declared for it: nothing binds it.
    expect(await send('orphan', { type: 'orphan', n: 0 })).toMatchObject({ routed: false });
  });

  it('hands a handler the parsed payload and the delivery in its HeraldContext', async () => {
    await send('greet', { type: 'greet', n: 41 });
    const got = await waitFor(() => seen.greet.find((g) => g.n === 41), { what: 'the greeting' });
    expect(got).toEqual({ n: 41, routingKey: 'greet', attempt: 1, queue: Q.name });
  });

  it('retries the message of a handler that threw, with the error as the reason, and acks it when it succeeds', async () => {
    await send('flaky', { type: 'flaky', n: 7 });
    await waitFor(() => seen.flaky.includes(2), { what: 'the second attempt' });
    expect(retried).toContainEqual({ queue: Q.name, reason: 'handler failed: database hiccup on 7' });
  });

  it('parks what a handler refuses, a message it cannot parse, and a type with no handler, each with its reason', async () => {
    await send('refuse', { type: 'refuse', n: 3 });
    await send(Q.name, 'not json at all', '');
    await send(Q.name, { type: 'orphan', n: 5 }, ''); // straight to the queue, past the bindings
    const reasons = () => parked.map((p) => p.reason);
    await waitFor(() => reasons().some((r) => r.startsWith('unexpected-type: orphan on ')), { what: 'the orphan parked' });
    await waitFor(() => reasons().includes('refused: message 3') && reasons().includes('not-json: test message'), { what: 'the other two parked' });
    expect(parked.every((p) => p.queue === Q.name)).toBe(true);
    const depth = await amqp.withChannel((ch) => ch.checkQueue(parkingQueueOf(Q.name)));
    expect(depth.messageCount).toBeGreaterThanOrEqual(3);
  });

  it('gives a batch handler up to its size at once, and settles each message by its own outcome', async () => {
    const before = parked.length;
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((n) => send('tick', { type: 'tick', n: 100 + n })));
    await waitFor(() => seen.batches.flat().filter((n) => n > 100).length === 7, { what: 'all seven ticks' });
    // Published together, they are handed over together: never more than 5, but more than 1 at a time.
    const batches = seen.batches.filter((b) => b.some((n) => n > 100));
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(5);
    expect(Math.max(...batches.map((b) => b.length))).toBeGreaterThan(1);
    expect(batches.flat().filter((n) => n > 100).sort()).toEqual([101, 102, 103, 104, 105, 106, 107]);
    await waitFor(() => parked.length - before === 4, { what: 'the four odd ticks parked' });
    expect(parked.slice(before).map((p) => p.reason).sort()).toEqual(['odd: 101', 'odd: 103', 'odd: 105', 'odd: 107']);
  });

  describe('a declaration mistake fails start-up with a clear message', () => {
    it('a pattern that names no queue of the service', async () => {
      @Controller()
      class Stray {
        @EventPattern('some.other.queue:greet')
        greet(): Outcome {
          return Outcome.ack();
        }
      }
      await expect(start(vhost, [Stray])).rejects.toThrow(/names no queue of this service/);
    });

    it('a type the queue does not carry', async () => {
      @Controller()
      class Typo {
        @EventPattern(`${Q.name}:gret`)
        greet(): Outcome {
          return Outcome.ack();
        }
      }
      await expect(start(vhost, [Typo])).rejects.toThrow(/carries no message type gret/);
    });

    it('two handlers for one pattern', async () => {
      const other = queue(`test.transport.${randomUUID()}`);
      @Controller()
      class Twice {
        @EventPattern(other.pattern('greet'))
        one(): Outcome {
          return Outcome.ack();
        }
        @EventPattern(other.pattern('greet'))
        two(): Outcome {
          return Outcome.ack();
        }
      }
      await expect(start(vhost, [Twice], [other])).rejects.toThrow(/has two handlers/);
    });
  });
});
