import { randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';
import { Exchanges, MessageRefusedCommand, agentCommandQueue, parseAgentCommand } from '@herald/contracts';
import { HeraldSystem, sleep, waitFor } from '@herald/testing';

jest.setTimeout(240_000);

const INTERVAL_MS = 4_000;

interface Received {
  body: MessageRefusedCommand;
  properties: amqp.MessageProperties;
}

/**
 * Protocol 1.4: an agent whose message a service parks is told with a message-refused, on its own
 * queue, routed by the routing key's agent id; at most one per agent per
 * AGENT_REFUSAL_NOTICE_INTERVAL_MS, the rest counted in the next one's `suppressed`.
 */
describe('message-refused', () => {
  let system: HeraldSystem;
  let conn: amqp.ChannelModel;
  let ch: amqp.ConfirmChannel;

  beforeAll(async () => {
    system = await HeraldSystem.start({ label: 'refused', env: { AGENT_REFUSAL_NOTICE_INTERVAL_MS: String(INTERVAL_MS) } });
    conn = await amqp.connect(system.amqpUrl);
    ch = await conn.createConfirmChannel();
  });
  afterAll(async () => {
    await conn?.close();
    await system?.stop();
  });

  const publish = async (routingKey: string, body: Buffer | object, messageId?: string) => {
    ch.publish(Exchanges.agentInbound, routingKey, Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)), {
      persistent: true,
      ...(messageId ? { messageId } : {}),
    });
    await ch.waitForConfirms();
  };
  /** An agent's command queue, as an agent declares it: what arrives there, parsed. */
  const listen = async (agentId: string) => {
    const received: Received[] = [];
    const queue = agentCommandQueue(agentId);
    await ch.assertQueue(queue, { exclusive: true, durable: false, autoDelete: true });
    await ch.bindQueue(queue, Exchanges.agentOutbound, agentId);
    await ch.consume(queue, (msg) => {
      if (!msg) return;
      received.push({ body: JSON.parse(msg.content.toString()) as MessageRefusedCommand, properties: msg.properties });
      ch.ack(msg);
    });
    return received;
  };
  const hello = (agentId: string, over: Record<string, unknown> = {}) => ({
    type: 'hello',
    schemaVersion: 1,
    messageId: randomUUID(),
    agentId,
    sentAt: new Date().toISOString(),
    bootId: 'b1',
    hostname: `${agentId}.example`,
    agentVersion: '1.0.0',
    independentMode: false,
    components: [{ type: 'virus-pattern', version: '1.0' }],
    ...over,
  });
  const metric = async (name: string, labels: Record<string, string>) => {
    const text = (await system.http<string>('agent-presence', 'GET', '/metrics')).body;
    const series = text.split('\n').filter((line) => line.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)));
    return series.reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  };
  const first = (received: Received[], what: string) => waitFor(() => received[0], { what, timeoutMs: 30_000 });
  /** A notice is a valid command of the protocol, with the AMQP properties of one. */
  const expectValid = ({ body, properties }: Received, agentId: string) => {
    expect(MessageRefusedCommand.safeParse(body).success).toBe(true);
    expect(parseAgentCommand(JSON.stringify(body)).ok).toBe(true);
    expect(body.agentId).toBe(agentId);
    expect(properties).toMatchObject({ messageId: body.commandId, type: 'message-refused', contentType: 'application/json', deliveryMode: 2 });
  };

  it('tells the sender of a body naming another agent, by its routing key, and never the agent the body names', async () => {
    const [sender, victim] = [await listen('ref-spoofer'), await listen('ref-victim')];
    const spoof = hello('ref-victim');
    await publish('agent.ref-spoofer.hello', spoof, spoof.messageId);
    const notice = await first(sender, 'the spoofer told');
    expectValid(notice, 'ref-spoofer');
    expect(notice.body).toMatchObject({ refusedMessageId: spoof.messageId, refusedType: 'hello', reason: 'agent-id-mismatch', suppressed: 0 });
    expect(notice.body.detail).toContain('ref-victim');
    // Whatever else arrives meanwhile, nothing ever reaches the agent the body names.
    await sleep(1_000);
    expect(victim).toEqual([]);
    expect(sender).toHaveLength(1);
  });

  it('tells of an oversized body, unread: its message_id property, else null', async () => {
    const [withId, withoutId] = [await listen('ref-huge-1'), await listen('ref-huge-2')];
    const padded = (id: string) => {
      const text = JSON.stringify(hello(id));
      return Buffer.from(`${text.slice(0, -1)}${' '.repeat(100 * 1024)}}`);
    };
    await publish('agent.ref-huge-1.hello', padded('ref-huge-1'), 'amqp-property-id');
    await publish('agent.ref-huge-2.hello', padded('ref-huge-2'));
    const [a, b] = [await first(withId, 'ref-huge-1 told'), await first(withoutId, 'ref-huge-2 told')];
    expectValid(a, 'ref-huge-1');
    expectValid(b, 'ref-huge-2');
    expect(a.body).toMatchObject({ refusedMessageId: 'amqp-property-id', refusedType: 'hello', reason: 'too-large' });
    expect(b.body).toMatchObject({ refusedMessageId: null, refusedType: 'hello', reason: 'too-large' });
  });

  it('tells of a stale sentAt, naming the message by its body messageId', async () => {
    const received = await listen('ref-stale');
    const stale = hello('ref-stale', { sentAt: '2020-01-01T00:00:00.000Z' });
    await publish('agent.ref-stale.hello', stale, randomUUID());
    const notice = await first(received, 'ref-stale told');
    expectValid(notice, 'ref-stale');
    expect(notice.body).toMatchObject({ refusedMessageId: stale.messageId, refusedType: 'hello', reason: 'stale' });
    expect(notice.body.detail).toContain('2020-01-01T00:00:00.000Z');
  });

  it('tells of a body that is not JSON without quoting it', async () => {
    const received = await listen('ref-garbage');
    await publish('agent.ref-garbage.hello', Buffer.from('not json: the-secret-body-text'));
    const notice = await first(received, 'ref-garbage told');
    expectValid(notice, 'ref-garbage');
    expect(notice.body).toMatchObject({ refusedMessageId: null, refusedType: 'hello', reason: 'not-json' });
    expect(JSON.stringify(notice.body)).not.toContain('secret');
  });

  it('tells of a type the protocol does not have (parked unread) and of a message from an agent that never said hello (parked by its handler)', async () => {
    const [unknown, stranger] = [await listen('ref-future'), await listen('ref-stranger')];
    await publish('agent.ref-future.frobnicate', { type: 'frobnicate' }, 'frob-1');
    const heartbeat = { type: 'heartbeat', schemaVersion: 1, messageId: randomUUID(), agentId: 'ref-stranger', sentAt: new Date().toISOString(), bootId: 'b1' };
    await publish('agent.ref-stranger.heartbeat', heartbeat);
    const [a, b] = [await first(unknown, 'ref-future told'), await first(stranger, 'ref-stranger told')];
    expectValid(a, 'ref-future');
    expectValid(b, 'ref-stranger');
    expect(a.body).toMatchObject({ refusedMessageId: 'frob-1', refusedType: 'frobnicate', reason: 'unknown-type' });
    expect(b.body).toMatchObject({ refusedMessageId: heartbeat.messageId, refusedType: 'heartbeat', reason: 'unknown-agent' });
  });

  it('tells an agent once per interval, counting the refusals in between in the next notice, and counts it all in metrics', async () => {
    const received = await listen('ref-burst');
    const sent = await metric('herald_refusal_notices_total', { outcome: 'sent' });
    const suppressed = await metric('herald_refusal_notices_total', { outcome: 'suppressed' });
    for (let i = 0; i < 4; i++) await publish('agent.ref-burst.hello', Buffer.from(`garbage ${i}`));
    const notice = await first(received, 'the first of the burst told');
    expect(notice.body.suppressed).toBe(0);
    await waitFor(async () => (await metric('herald_refusal_notices_total', { outcome: 'suppressed' })) === suppressed + 3, { what: 'three notices suppressed', timeoutMs: 30_000 });
    expect(received).toHaveLength(1);
    // Past the interval, the next refusal is told, with the three held back.
    await sleep(Math.max(0, Date.parse(notice.body.issuedAt) + INTERVAL_MS + 200 - Date.now()));
    await publish('agent.ref-burst.hello', Buffer.from('garbage again'));
    const next = await waitFor(() => received[1], { what: 'the next notice', timeoutMs: 30_000 });
    expectValid(next, 'ref-burst');
    expect(next.body).toMatchObject({ reason: 'not-json', suppressed: 3 });
    expect(await metric('herald_refusal_notices_total', { outcome: 'sent' })).toBe(sent + 2);
    expect(await metric('herald_refusal_notices_total', { outcome: 'failed' })).toBe(0);
  });

  it("reaches the agent SDK as a 'refused' event; the SDK acks a command type it does not know and carries on", async () => {
    const agent = new HeraldAgent({ agentId: 'ref-sdk', amqpUrl: system.amqpUrl, store: new MemoryComponentStore([{ type: 'virus-pattern', version: '1.0' }]), heartbeatIntervalMs: 60_000 });
    const refused: MessageRefusedCommand[] = [];
    const warnings: string[] = [];
    agent.on('refused', (n) => refused.push(n));
    agent.on('warning', (err) => warnings.push(err.message));
    let updates = 0;
    agent.on('command', () => updates++);
    await agent.start();
    try {
      // A command of a later protocol version first: ignored, acknowledged, the agent goes on.
      ch.publish(Exchanges.agentOutbound, 'ref-sdk', Buffer.from(JSON.stringify({ type: 'future-thing', schemaVersion: 1, messageId: randomUUID(), agentId: 'ref-sdk' })), { persistent: true });
      await ch.waitForConfirms();
      await publish('agent.ref-sdk.hello', hello('ref-sdk', { sentAt: '2099-01-01T00:00:00.000Z' }));
      const notice = await waitFor(() => refused[0], { what: "the SDK's refused event", timeoutMs: 30_000 });
      expect(notice).toMatchObject({ type: 'message-refused', agentId: 'ref-sdk', refusedType: 'hello', reason: 'from-the-future' });
      expect(warnings.some((w) => w.includes('does not know'))).toBe(true);
      expect(warnings.some((w) => w.includes('from-the-future'))).toBe(true);
      expect(updates).toBe(0);
      expect(agent.connected).toBe(true);
    } finally {
      await agent.stop();
    }
  });
});

describe('message-refused turned off (AGENT_REFUSAL_NOTICE_INTERVAL_MS=0)', () => {
  let system: HeraldSystem;
  let conn: amqp.ChannelModel;

  beforeAll(async () => {
    system = await HeraldSystem.start({ label: 'refused-off', env: { AGENT_REFUSAL_NOTICE_INTERVAL_MS: '0' } });
    conn = await amqp.connect(system.amqpUrl);
  });
  afterAll(async () => {
    await conn?.close();
    await system?.stop();
  });

  it('parks the message and tells nobody', async () => {
    const ch = await conn.createConfirmChannel();
    const received: unknown[] = [];
    const queue = agentCommandQueue('ref-off');
    await ch.assertQueue(queue, { exclusive: true, durable: false, autoDelete: true });
    await ch.bindQueue(queue, Exchanges.agentOutbound, 'ref-off');
    await ch.consume(queue, (msg) => msg && received.push(msg.content.toString()), { noAck: true });
    const parked = async () => {
      const text = (await system.http<string>('agent-presence', 'GET', '/metrics')).body;
      return text.split('\n').filter((l) => l.startsWith('herald_messages_parked_total{') && l.includes('reason="not-json"')).reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);
    };
    ch.publish(Exchanges.agentInbound, 'agent.ref-off.hello', Buffer.from('not json'), { persistent: true });
    await ch.waitForConfirms();
    await waitFor(async () => (await parked()) === 1, { what: 'the message parked', timeoutMs: 30_000 });
    await sleep(1_500);
    expect(received).toEqual([]);
    expect((await system.http<string>('agent-presence', 'GET', '/metrics')).body).not.toContain('herald_refusal_notices_total{');
  });
});
