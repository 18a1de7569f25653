import { Exchanges, MessageRefusedCommand, parseAgentCommand } from '@herald/contracts';
import type { ParkedMessage, PublishOptions } from '@herald/messaging';
import { type RefusalNoticeOutcome, RefusalNotifier } from './refusal-notifier';

const QUEUE = 'herald.presence.agent-inbound';
const ID = '0b6e1f0e-5a5d-4c57-9f0e-2d0c4b7a6e11';

const parked = (routingKey: string, over: Partial<ParkedMessage> = {}): ParkedMessage => ({
  exchange: Exchanges.agentInbound,
  routingKey,
  messageId: undefined,
  type: undefined,
  subject: undefined,
  ...over,
});

function setUp(options: { intervalMs?: number; maxAgents?: number; publish?: () => Promise<{ routed: true }> } = {}) {
  let now = Date.parse('2025-05-01T12:00:00.000Z');
  const sent: Array<{ exchange: string; routingKey: string; body: MessageRefusedCommand; options: PublishOptions }> = [];
  const counted: RefusalNoticeOutcome[] = [];
  const notifier = new RefusalNotifier(
    {
      publish: async (exchange, routingKey, body, publishOptions) => {
        sent.push({ exchange, routingKey, body: JSON.parse(body.toString()) as MessageRefusedCommand, options: publishOptions });
        return options.publish ? options.publish() : { routed: true };
      },
    },
    { intervalMs: options.intervalMs ?? 10_000, queues: [QUEUE], maxAgents: options.maxAgents, now: () => now, count: (o) => counted.push(o) },
  );
  return {
    notifier,
    sent,
    counted,
    advance: (ms: number) => {
      now += ms;
    },
    /** Refuses and waits for the notice, if any, to be published. */
    refuse: async (reason: string, message: ParkedMessage, queue = QUEUE) => {
      const notice = notifier.noticeFor(queue, reason, message);
      if (notice) await notifier.send(notice);
      return notice;
    },
  };
}

describe('RefusalNotifier', () => {
  it('tells the agent of the routing key, never the one the body names, with a valid message-refused', async () => {
    const t = setUp();
    await t.refuse('agent-id-mismatch: routing key agent.pc-1.hello names agent pc-1 but the body names pc-2', parked('agent.pc-1.hello', { subject: { messageId: ID, type: 'hello' } }));
    expect(t.sent).toHaveLength(1);
    const [{ exchange, routingKey, body, options }] = t.sent as [(typeof t.sent)[0]];
    expect({ exchange, routingKey }).toEqual({ exchange: Exchanges.agentOutbound, routingKey: 'pc-1' });
    expect(options).toEqual({ messageId: body.commandId, type: 'message-refused', contentType: 'application/json', mandatory: false });
    expect(body).toMatchObject({
      type: 'message-refused',
      schemaVersion: 1,
      messageId: body.commandId,
      agentId: 'pc-1',
      issuedAt: '2025-05-01T12:00:00.000Z',
      refusedMessageId: ID,
      refusedType: 'hello',
      reason: 'agent-id-mismatch',
      detail: 'routing key agent.pc-1.hello names agent pc-1 but the body names pc-2',
      suppressed: 0,
    });
    expect(MessageRefusedCommand.safeParse(body).success).toBe(true);
    expect(parseAgentCommand(JSON.stringify(body)).ok).toBe(true);
    expect(t.counted).toEqual(['sent']);
  });

  it('names an unread message by its AMQP message_id, else null, and its type by the routing key', async () => {
    const t = setUp();
    const a = await t.refuse('too-large: 70000 bytes, over AGENT_MESSAGE_MAX_BYTES (65536)', parked('agent.pc-1.hello', { messageId: 'amqp-id-1' }));
    const b = await t.refuse('not-json: Unexpected token \'h\', "hello secret" is not valid JSON', parked('agent.pc-2.heartbeat'));
    expect(a).toMatchObject({ refusedMessageId: 'amqp-id-1', refusedType: 'hello', reason: 'too-large' });
    // A JSON syntax error quotes the body: the agent is told only that it is not JSON.
    expect(b).toMatchObject({ refusedMessageId: null, refusedType: 'heartbeat', reason: 'not-json', detail: 'the body is not valid UTF-8 JSON' });
  });

  it('cuts a long detail to 500 characters', async () => {
    const t = setUp();
    const notice = await t.refuse(`invalid: ${'x'.repeat(2_000)}`, parked('agent.pc-1.hello'));
    expect(notice!.detail).toHaveLength(500);
    expect(MessageRefusedCommand.safeParse(notice).success).toBe(true);
  });

  it('tells nobody of rate-limited drops, the server\'s own failures, other queues, or a key without an agent id', async () => {
    const t = setUp();
    await t.refuse('rate-limited: too many', parked('agent.pc-1.hello'));
    await t.refuse('retries-exhausted: gave up after 10 attempts: handler failed', parked('agent.pc-1.hello'));
    await t.refuse('unexpected-type: hello on q, which has no handler for it', parked('agent.pc-1.hello'));
    await t.refuse('no-door: consumed without the agent door', parked('agent.pc-1.hello'));
    await t.refuse('invalid: something', parked('agent.pc-1.hello'), 'herald.dispatch.work');
    await t.refuse('unroutable: routing key "nonsense" is not agent.<agentId>.<type>', parked('nonsense'));
    await t.refuse('unroutable: not agent.<agentId>.<type>', parked('agent.pc-1.hello.more'));
    await t.refuse('unknown-type: agent.*.x', parked('agent.*.x'));
    expect(t.sent).toEqual([]);
    expect(t.counted).toEqual([]);
  });

  it('tells an agent at most once per interval, and counts the refusals in between in the next notice', async () => {
    const t = setUp({ intervalMs: 10_000 });
    const refuse = () => t.refuse('stale: sent long ago', parked('agent.pc-1.hello'));
    expect(await refuse()).toMatchObject({ suppressed: 0 });
    for (let i = 0; i < 4; i++) {
      t.advance(1_000);
      expect(await refuse()).toBeNull();
    }
    // Another agent is not held back by pc-1's interval.
    expect(await t.refuse('stale: sent long ago', parked('agent.pc-2.hello'))).toMatchObject({ agentId: 'pc-2', suppressed: 0 });
    t.advance(5_999); // 9,999 ms after the first notice
    expect(await refuse()).toBeNull();
    t.advance(1);
    expect(await refuse()).toMatchObject({ agentId: 'pc-1', suppressed: 5 });
    t.advance(10_000);
    expect(await refuse()).toMatchObject({ suppressed: 0 });
    expect(t.sent.map((s) => [s.routingKey, s.body.suppressed])).toEqual([
      ['pc-1', 0],
      ['pc-2', 0],
      ['pc-1', 5],
      ['pc-1', 0],
    ]);
    expect(t.counted.filter((o) => o === 'suppressed')).toHaveLength(5);
    expect(t.counted.filter((o) => o === 'sent')).toHaveLength(4);
  });

  it('sends nothing with an interval of 0', async () => {
    const t = setUp({ intervalMs: 0 });
    expect(t.notifier.enabled).toBe(false);
    await t.refuse('stale: sent long ago', parked('agent.pc-1.hello'));
    expect(t.sent).toEqual([]);
    expect(t.counted).toEqual([]);
  });

  it('remembers at most maxAgents agents, forgetting the one refused longest ago', async () => {
    const t = setUp({ maxAgents: 2 });
    for (const id of ['a', 'b', 'c']) await t.refuse('stale: x', parked(`agent.${id}.hello`));
    // a was forgotten: told again at once; c still remembered: held back.
    expect(await t.refuse('stale: x', parked('agent.a.hello'))).not.toBeNull();
    expect(await t.refuse('stale: x', parked('agent.c.hello'))).toBeNull();
  });

  it('counts a notice it could not publish as failed and never throws into the consumer', async () => {
    const t = setUp({ publish: () => Promise.reject(new Error('broker away')) });
    expect(() => t.notifier.onParked(QUEUE, 'stale: x', parked('agent.pc-1.hello'))).not.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(t.sent).toHaveLength(1);
    expect(t.counted).toEqual(['failed']);
  });
});
