import { randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { Exchanges } from '@herald/contracts';
import { sleep, waitFor } from '@herald/testing';
import { RulesHarness } from './support/rules-harness';

jest.setTimeout(120_000);

/** Agent presence as admins see it, and what happens to bad input from agents and admins. */
describe('presence and bad input', () => {
  const h = new RulesHarness();
  let conn: amqp.ChannelModel;
  let ch: amqp.ConfirmChannel;

  beforeAll(async () => {
    await h.start({ HEARTBEAT_TIMEOUT_MS: '2000' });
    conn = await amqp.connect(h.system.amqpUrl);
    ch = await conn.createConfirmChannel();
  });
  afterAll(async () => {
    await conn?.close();
    await h.stop();
  });

  const presence = <T>(path: string) => h.system.http<T>('agent-presence', 'GET', path);
  const publishRaw = async (routingKey: string, body: Buffer | object) => {
    ch.publish(Exchanges.agentInbound, routingKey, Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)), { persistent: true, messageId: randomUUID() });
    await ch.waitForConfirms();
  };
  const parked = async (queue: string) => (await ch.checkQueue(`${queue}.parking`)).messageCount;
  const hello = (agentId: string) => ({
    type: 'hello',
    schemaVersion: 1,
    messageId: randomUUID(),
    agentId,
    sentAt: new Date().toISOString(),
    bootId: 'b1',
    hostname: `${agentId}.example`,
    agentVersion: '1.0.0',
    independentMode: false,
    components: [{ type: 'p-pattern', version: '1.0' }],
  });

  it('lists agents by status and outdatedness, and marks silent ones offline with the reason', async () => {
    const a = await h.agent('p-a', [{ type: 'p-pattern', version: '1.0' }]);
    await h.agent('p-b', [{ type: 'p-pattern', version: '1.0' }]);
    await h.settings({ notifyOnDownload: false });
    await h.publish('p-pattern', '2.0');
    await waitFor(async () => (await presence<{ total: number }>('/agents?outdated=true')).body.total === 2, { what: 'both to be outdated' });
    await h.settings({ notifyOnDownload: true });

    // p-a stops heartbeating without a goodbye (a crash or a cut cable)
    await a.agent.stop({ goodbye: false });
    const gone = await waitFor(
      async () => {
        const res = await presence<{ status: string; disconnectReason: string }>('/agents/p-a');
        return res.body.status === 'offline' ? res.body : undefined;
      },
      { what: 'the heartbeat timeout', timeoutMs: 10_000 },
    );
    expect(gone.disconnectReason).toBe('heartbeat-timeout');

    const online = await presence<{ agents: Array<{ agentId: string }> }>('/agents?status=online&outdated=true');
    expect(online.body.agents.map((x) => x.agentId)).toEqual(['p-b']);
    const offline = await presence<{ agents: Array<{ agentId: string }> }>('/agents?status=offline');
    expect(offline.body.agents.map((x) => x.agentId)).toContain('p-a');
    const detail = await presence<{ components: Array<{ version: string; latest: string; outdated: boolean }> }>('/agents/p-b');
    expect(detail.body.components).toEqual([{ type: 'p-pattern', version: '1.0', latest: '2.0', outdated: true }]);
    const summary = await presence<Record<string, number>>('/agents/summary');
    expect(summary.body).toMatchObject({ online: expect.any(Number), offline: expect.any(Number), outdated: expect.any(Number) });
  });

  it('changes privileges of known agents only, and validates the body', async () => {
    await h.agent('p-priv', [{ type: 'p-pattern', version: '2.0' }]);
    expect((await h.system.http('agent-presence', 'PUT', '/agents/p-priv/privileges', { independentMode: true })).body).toEqual({ independentMode: true });
    expect((await presence<{ privileges: unknown }>('/agents/p-priv')).body.privileges).toEqual({ independentMode: true });
    expect((await h.system.http('agent-presence', 'PUT', '/agents/nobody/privileges', { independentMode: true })).status).toBe(404);
    const bad = await h.system.http<{ errors: Array<{ path: string[] }> }>('agent-presence', 'PUT', '/agents/p-priv/privileges', { independentMode: 'yes' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0]!.path).toEqual(['independentMode']);
    expect((await presence('/agents/not.an.id')).status).toBe(400);
    expect((await presence('/agents?status=sleeping')).status).toBe(400);
  });

  it('parks malformed, mismatched and unknown-agent messages and keeps consuming', async () => {
    const queue = 'herald.presence.agent-inbound';
    // Heartbeats have a queue of their own, so they never hold up hellos.
    const heartbeats = 'herald.presence.heartbeats';
    const parkedBoth = async () => (await parked(queue)) + (await parked(heartbeats));
    const before = await parkedBoth();
    await publishRaw('agent.p-bad.hello', Buffer.from('{"type":"hello", this is not json'));
    await publishRaw('agent.p-other.hello', hello('p-mismatch')); // body names another agent than the key
    await publishRaw('agent.p-ghost.heartbeat', { type: 'heartbeat', schemaVersion: 1, messageId: randomUUID(), agentId: 'p-ghost', sentAt: new Date().toISOString(), bootId: 'x' });
    await publishRaw('agent.p-future.hello', { ...hello('p-future'), schemaVersion: 9 });
    // and a good one right after: still consumed
    await publishRaw('agent.p-good.hello', hello('p-good'));

    await waitFor(async () => (await presence('/agents/p-good')).status === 200, { what: 'the good hello to be handled' });
    await waitFor(async () => (await parkedBoth()) - before === 4, { what: 'four parked messages' });
    const reasons: string[] = [];
    for (const q of [queue, heartbeats]) {
      for (let m = await ch.get(`${q}.parking`, { noAck: false }); m; m = await ch.get(`${q}.parking`, { noAck: false })) {
        reasons.push(String(m.properties.headers?.['x-herald-parked-reason']).split(':')[0]!);
      }
      await ch.recover(); // every message read goes back to its parking queue
    }
    expect(reasons.sort()).toEqual(['agent-id-mismatch', 'not-json', 'unknown-agent', 'unsupported-schema-version']);
    expect((await presence('/agents/p-mismatch')).status).toBe(404);
    expect((await presence('/agents/p-ghost')).status).toBe(404);
  });

  it('looks again at a heartbeat that arrives before its hello, instead of parking it', async () => {
    const queue = 'herald.presence.heartbeats';
    const retried = async () => {
      const text = await (await fetch(`${h.system.url('agent-presence')}/metrics`)).text();
      return Number(new RegExp(`herald_messages_retried_total\\{[^}]*queue="${queue.replace(/\./g, '\\.')}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
    };
    const parkedBefore = await parked(queue);
    const retriedBefore = await retried();
    await publishRaw('agent.p-late.heartbeat', { type: 'heartbeat', schemaVersion: 1, messageId: randomUUID(), agentId: 'p-late', sentAt: new Date().toISOString(), bootId: 'b1' });
    await waitFor(async () => (await retried()) > retriedBefore, { what: 'the early heartbeat to be put back for another look' });
    await publishRaw('agent.p-late.hello', hello('p-late'));
    await waitFor(async () => (await presence('/agents/p-late')).status === 200, { what: 'the late hello' });
    // The heartbeat's last look (up to 3, a second apart) finds the agent: nothing parked.
    await sleep(3_000);
    expect(await parked(queue)).toBe(parkedBefore);
  });

  it('parks an acknowledgement from an agent dispatch has never heard of', async () => {
    const queue = 'herald.dispatch.agent-inbound';
    const before = await parked(queue);
    await publishRaw('agent.p-nobody.ack', {
      type: 'ack',
      schemaVersion: 1,
      messageId: randomUUID(),
      agentId: 'p-nobody',
      sentAt: new Date().toISOString(),
      commandId: randomUUID(),
      notificationId: randomUUID(),
      attempt: 1,
    });
    await waitFor(async () => (await parked(queue)) - before === 1, { what: 'the parked acknowledgement' });
  });

  it('answers bad HTTP input with a clear 4xx and keeps serving', async () => {
    const big = await fetch(`${h.system.url('notification-dispatch')}/settings/event-triggered-updates`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ maxAttempts: 5, padding: 'x'.repeat(100_000) }),
    });
    expect(big.status).toBe(413);
    const broken = await fetch(`${h.system.url('notification-dispatch')}/settings/event-triggered-updates`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: '{"maxAttempts": ',
    });
    expect(broken.status).toBe(400);
    const unknownRoute = await h.system.http<{ statusCode: number }>('notification-dispatch', 'GET', '/nope');
    expect(unknownRoute.status).toBe(404);
    expect(unknownRoute.body).toMatchObject({ statusCode: 404 });
    await sleep(100);
    expect((await h.system.http('notification-dispatch', 'GET', '/health')).status).toBe(200);
  });
});
