import { randomUUID } from 'node:crypto';
import { AgentMessage } from '@herald/contracts';
import { type InboundMessage, type Logger, silentLogger } from '@herald/messaging';
import { AgentDoor, PARKED_HEAD_BYTES, agentDoorSettings } from './agent-door';
import { AgentDoorConfig, BaseConfig, loadConfig } from './config';
import { agentMessageQueue, integrationEventQueue, unroutableAgentMessageQueue } from './queues';
import { queuesBehindDoor } from './service.module';

const defaults = agentDoorSettings(loadConfig(AgentDoorConfig, {}));
const NOW = Date.parse('2025-05-01T12:00:00.000Z');

const delivery = (routingKey: string, body: Buffer | object): InboundMessage => ({
  queue: 'q',
  body: Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)),
  exchange: 'herald.agent.inbound',
  routingKey,
  messageId: undefined,
  type: undefined,
  correlationId: undefined,
  headers: {},
  attempt: 1,
  redelivered: false,
  retried: false,
});

const hello = (agentId: string, sentAt = new Date(NOW).toISOString()) => ({
  type: 'hello',
  schemaVersion: 1,
  messageId: randomUUID(),
  agentId,
  sentAt,
  bootId: 'b1',
  hostname: `${agentId}.example`,
  agentVersion: '1.0.0',
  independentMode: false,
  components: [{ type: 'virus-pattern', version: '1.0' }],
});

describe('the agent door', () => {
  let clock = NOW;
  const now = () => clock;
  beforeEach(() => {
    clock = NOW;
  });

  it('has defaults: 64 KiB, 4 days back, 5 minutes ahead, 5 messages a second with a burst of 50, a refusal notice per agent every 10 s', () => {
    expect(defaults).toEqual({
      maxMessageBytes: 65_536,
      freshness: { maxAgeMs: 4 * 86_400_000, maxAheadMs: 300_000 },
      ratePerSecond: 5,
      burst: 50,
      refusalNoticeIntervalMs: 10_000,
    });
  });

  it('refuses a past window that reaches the inbox retention, where a replayed message could be taken twice', () => {
    expect(() => loadConfig(AgentDoorConfig, { AGENT_MESSAGE_MAX_AGE_MS: String(7 * 86_400_000) })).toThrow(/AGENT_MESSAGE_MAX_AGE_MS: must be under the inbox retention/);
  });

  it('lets in the largest message the protocol allows, pretty-printed and with 4-byte characters in every free text', () => {
    const wide = (n: number) => '\u{1F600}'.repeat(n / 2); // two UTF-16 units, four UTF-8 bytes each
    const component = (i: number) => ({ type: `component-${String(i).padStart(54, '0')}`, version: '999999999.999999999.999999999.999999999' });
    const largest = [
      { ...hello('a'.repeat(64)), hostname: wide(254), agentVersion: wide(64), bootId: wide(64), components: Array.from({ length: 64 }, (_, i) => component(i)) },
      {
        type: 'update-result',
        schemaVersion: 1,
        messageId: randomUUID(),
        agentId: 'a'.repeat(64),
        sentAt: new Date(NOW).toISOString(),
        commandId: randomUUID(),
        notificationId: randomUUID(),
        outcome: 'failed',
        components: Array.from({ length: 64 }, (_, i) => ({ type: component(i).type, fromVersion: component(i).version, toVersion: component(i).version, mode: 'incremental', bytes: Number.MAX_SAFE_INTEGER })),
        installed: Array.from({ length: 64 }, (_, i) => component(i)),
        error: wide(2000),
      },
    ];
    for (const message of largest) {
      expect(AgentMessage.safeParse(message).success).toBe(true);
      const bytes = Buffer.byteLength(JSON.stringify(message, null, 2));
      expect(bytes).toBeLessThan(defaults.maxMessageBytes);
    }
  });

  it('checks the rate first (from the routing key, the body unread), then the size', () => {
    const door = new AgentDoor({ ...defaults, ratePerSecond: 1, burst: 2 }, undefined, now);
    const huge = delivery('agent.a.hello', Buffer.alloc(1_000_000, ' '));
    expect(door.admit(huge)).toMatchObject({ reason: 'too-large', keepBytes: PARKED_HEAD_BYTES });
    expect(door.admit(delivery('agent.a.hello', hello('a')))).toBeNull();
    // The third within the second is over the rate, whatever it holds: dropped, not parked.
    expect(door.admit(huge)).toMatchObject({ reason: 'rate-limited', drop: true });
    expect(door.admit(delivery('agent.a.heartbeat', {}))).toMatchObject({ reason: 'rate-limited', drop: true });
    // Another agent is not held back by the first one.
    expect(door.admit(delivery('agent.b.hello', hello('b')))).toBeNull();
    // A retry was let in once: it is not charged again.
    expect(door.admit({ ...delivery('agent.a.hello', hello('a')), retried: true, attempt: 2 })).toBeNull();
    clock += 1_000;
    expect(door.admit(delivery('agent.a.heartbeat', {}))).toBeNull();
  });

  it('sums rate-limited messages up in one log line at most every 10 s, however many there are', () => {
    const lines: string[] = [];
    const log: Logger = { debug() {}, info() {}, warn: (_o, msg) => lines.push(msg ?? ''), error() {} };
    const door = new AgentDoor({ ...defaults, ratePerSecond: 1, burst: 1 }, log, now);
    clock += 10_000;
    for (let i = 0; i < 1_000; i++) door.admit(delivery('agent.flood.hello', {}));
    expect(lines).toHaveLength(1);
    clock += 10_000;
    for (let i = 0; i < 1_000; i++) door.admit(delivery('agent.flood.hello', {}));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^dropped \d+ messages of agents over their rate .*; most from flood \(\d+\)$/);
  });

  it('takes a message sent up to 4 days ago or 5 minutes ahead, and refuses older or further ahead', () => {
    const door = new AgentDoor(defaults, undefined, now);
    const at = (ms: number) => new Date(NOW + ms).toISOString();
    expect(door.fresh(at(-4 * 86_400_000 + 1_000))).toBeNull();
    expect(door.fresh(at(4 * 60_000))).toBeNull();
    expect(door.fresh('2020-01-01T00:00:00.000Z')).toMatchObject({ reason: 'stale' });
    expect(door.fresh('2099-01-01T00:00:00.000Z')).toMatchObject({ reason: 'from-the-future' });
    expect(door.fresh(at(6 * 60_000))).toMatchObject({ reason: 'from-the-future' });
    // The schema takes any offset: compared as instants.
    expect(door.fresh('2025-05-01T14:00:00.000+02:00')).toBeNull();
  });
});

describe('agent message queues behind the door', () => {
  const door = () => new AgentDoor({ ...defaults, ratePerSecond: 1, burst: 3 }, undefined, () => NOW);

  it('refuses everything when consumed without a door', () => {
    expect(agentMessageQueue('q').parse(delivery('agent.a.hello', hello('a')))).toMatchObject({ ok: false, reason: 'no-door' });
  });

  it('parses a good message, parks a stale one, parks an oversized one unread, drops one over the rate', () => {
    const q = agentMessageQueue('q').behind(door());
    expect(q.parse(delivery('agent.a.hello', hello('a')))).toMatchObject({ ok: true, type: 'hello' });
    expect(q.parse(delivery('agent.a.hello', hello('a', '2020-01-01T00:00:00.000Z')))).toMatchObject({ ok: false, reason: 'stale' });
    expect(q.parse(delivery('agent.a.hello', Buffer.from(`{"type": "hello"${' '.repeat(100_000)}}`)))).toMatchObject({ ok: false, reason: 'too-large', keepBytes: PARKED_HEAD_BYTES });
    expect(q.parse(delivery('agent.a.hello', hello('a')))).toMatchObject({ ok: false, reason: 'rate-limited', drop: true });
  });

  it('keeps the door and its options through withConsume, and does not keep agents’ headers', () => {
    const q = agentMessageQueue('q', { prefetch: 10 }).withConsume({ retryDelayMs: 1 }).behind(door());
    expect(q.consume).toEqual({ keepHeaders: false, prefetch: 10, retryDelayMs: 1 });
    expect(q.parse(delivery('agent.a.hello', hello('a')))).toMatchObject({ ok: true });
  });

  it('parks what no queue took, by its routing key alone: unknown-type or unroutable', () => {
    const q = unroutableAgentMessageQueue('u').behind(door());
    expect(q.fixedBindings).toEqual([{ exchange: 'herald.agent.unroutable', pattern: '' }]);
    expect(q.parse(delivery('agent.a.frobnicate', Buffer.from('not even json')))).toMatchObject({ ok: false, reason: 'unknown-type' });
    expect(q.parse(delivery('agent.a.ack', hello('a')))).toMatchObject({ ok: false, reason: 'unroutable', detail: expect.stringContaining('no queue takes ack') });
    expect(q.parse(delivery('something.else', {}))).toMatchObject({ ok: false, reason: 'unroutable' });
  });

  it('puts every agent queue of a service behind one door, so an agent’s rate counts all it sends; refuses to start without one', () => {
    const integration = integrationEventQueue('c');
    const queues = () => [agentMessageQueue('a'), agentMessageQueue('b'), integration];
    const config = loadConfig(BaseConfig, {});
    const [a, b, c] = queuesBehindDoor({ service: 's', schema: 's', queues, agentDoor: () => ({ ...defaults, burst: 2, ratePerSecond: 0.001 }) }, config, silentLogger);
    const now = new Date().toISOString();
    expect(a!.parse(delivery('agent.x.hello', hello('x', now)))).toMatchObject({ ok: true });
    expect(b!.parse(delivery('agent.x.heartbeat', { type: 'heartbeat', schemaVersion: 1, messageId: randomUUID(), agentId: 'x', sentAt: now, bootId: 'b' }))).toMatchObject({ ok: true });
    expect(a!.parse(delivery('agent.x.hello', hello('x', now)))).toMatchObject({ reason: 'rate-limited' });
    expect(c).toBe(integration); // not an agent queue: as it was
    expect(() => queuesBehindDoor({ service: 's', schema: 's', queues }, config, silentLogger)).toThrow('a, b take agent messages: HeraldServiceModule.forRoot needs agentDoor');
  });
});
