import { randomBytes, randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { Exchanges, agentCommandQueue, parseAgentMessage, type AgentMessage } from '@herald/contracts';
import type { TestVhost} from '@herald/testing';
import { createTestVhost, rabbitmqctl, waitFor } from '@herald/testing';
import { HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';

jest.setTimeout(60_000);

/**
 * The broker permissions docs/operations.md recommends for an agent's own user: enough to run
 * the reference agent, and nothing that lets it speak for another agent or reach the server's
 * queues directly.
 */
describe('an agent with its own broker user', () => {
  let vhost: TestVhost;
  let server: amqp.ChannelModel;
  const user = `agent-test-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const agentId = 'pc-0042';
  const heard: AgentMessage[] = [];
  let agentUrl: string;

  beforeAll(async () => {
    vhost = await createTestVhost('perm');
    server = await amqp.connect(vhost.url);
    const ch = await server.createChannel();
    await ch.assertExchange(Exchanges.agentInbound, 'topic', { durable: true });
    await ch.assertExchange(Exchanges.agentCommands, 'direct', { durable: true });
    await ch.assertQueue('server.inbound', { durable: true });
    await ch.bindQueue('server.inbound', Exchanges.agentInbound, 'agent.#');
    await ch.consume('server.inbound', (msg) => {
      if (!msg) return;
      const parsed = parseAgentMessage(msg.content, msg.fields.routingKey);
      if (parsed.ok) heard.push(parsed.message);
    }, { noAck: true });

    // As in docs/operations.md, "Agent credentials".
    const q = `herald\\.agent\\.${agentId}`;
    await rabbitmqctl('add_user', user, password);
    await rabbitmqctl('set_permissions', '-p', vhost.name, user, `^${q}$`, `^(${q}|herald\\.agent\\.inbound)$`, `^(${q}|herald\\.agent\\.commands)$`);
    await rabbitmqctl('set_topic_permissions', '-p', vhost.name, user, 'herald.agent.inbound', `^agent\\.${agentId}\\.`, '^$');
    const url = new URL(vhost.url);
    url.username = user;
    url.password = password;
    agentUrl = url.toString();
  });
  afterAll(async () => {
    await server?.close().catch(() => undefined);
    await rabbitmqctl('delete_user', user).catch(() => undefined);
    await vhost.delete();
  });

  it('runs the reference agent: its queue, its hello, its answers', async () => {
    const agent = new HeraldAgent({ agentId, amqpUrl: agentUrl, store: new MemoryComponentStore([{ type: 'virus-pattern', version: '1.0.0' }]), heartbeatIntervalMs: 60_000 });
    const warnings: string[] = [];
    agent.on('warning', (e) => warnings.push(e.message));
    await agent.start();
    try {
      await waitFor(() => heard.some((m) => m.type === 'hello' && m.agentId === agentId), { what: 'the hello' });
      const ch = await server.createConfirmChannel();
      const scanId = randomUUID();
      const command = { type: 'scan', schemaVersion: 1, messageId: randomUUID(), commandId: randomUUID(), agentId, issuedAt: new Date().toISOString(), scanId, notificationId: randomUUID() };
      ch.publish(Exchanges.agentCommands, agentId, Buffer.from(JSON.stringify(command)), { mandatory: true });
      await ch.waitForConfirms();
      await waitFor(() => heard.some((m) => m.type === 'scan-result' && m.scanId === scanId), { what: 'the scan result' });
      expect(warnings).toEqual([]);
    } finally {
      await agent.stop();
    }
  });

  /** Runs `act` on a fresh channel of the agent's user; resolves with how the broker answered. */
  async function asAgent(act: (ch: amqp.ConfirmChannel) => Promise<unknown>): Promise<string> {
    const connection = await amqp.connect(agentUrl);
    try {
      const ch = await connection.createConfirmChannel();
      const closed = new Promise<string>((resolve) => ch.on('error', (err: Error) => resolve(err.message)));
      ch.on('close', () => undefined);
      const outcome = act(ch).then(() => 'allowed', (err: Error) => err.message);
      return await Promise.race([closed, outcome.then(async (o) => (o === 'allowed' ? Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('allowed'), 500))]) : o))]);
    } finally {
      await connection.close().catch(() => undefined);
    }
  }

  it('refuses to let it speak for another agent, publish to server queues, or take another agent\'s queue', async () => {
    const body = Buffer.from('{}');
    const publish = (exchange: string, key: string) => async (ch: amqp.ConfirmChannel) => {
      ch.publish(exchange, key, body);
      await ch.waitForConfirms();
    };
    expect(await asAgent(publish(Exchanges.agentInbound, 'agent.pc-0043.hello'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(publish('', 'server.inbound'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(publish(Exchanges.agentCommands, 'pc-0043'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent((ch) => ch.assertQueue(agentCommandQueue('pc-0043'), { exclusive: true }))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent((ch) => ch.consume('server.inbound', () => undefined))).toMatch(/ACCESS_REFUSED/);
    // Its own routing keys stay open.
    expect(await asAgent(publish(Exchanges.agentInbound, `agent.${agentId}.heartbeat`))).toBe('allowed');
  });
});
