import { randomBytes, randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { Exchanges, agentCommandQueue, parseAgentMessage, type AgentMessage } from '@herald/contracts';
import { type PrivateRabbitCluster, startRabbitCluster, waitFor } from '@herald/testing';
import { HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';

jest.setTimeout(300_000);

/**
 * The broker permissions docs/operations.md recommends for an agent's own user of the broker's
 * internal database (where Herald's HTTP auth backend is not used): enough to run the reference
 * agent, and nothing that lets it speak for another agent, receive another agent's commands, or
 * reach the server's queues directly. On a RabbitMQ node of its own: users and permissions are
 * never added to the shared broker.
 */
describe('an agent with its own broker user', () => {
  let cluster: PrivateRabbitCluster;
  let server: amqp.ChannelModel;
  const user = `agent-test-${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const agentId = 'pc-0042';
  const heard: AgentMessage[] = [];
  let agentUrl: string;

  beforeAll(async () => {
    cluster = await startRabbitCluster({ nodes: 1, name: 'herald-agent-perm' });
    server = await amqp.connect(cluster.urls[0]!);
    const ch = await server.createChannel();
    await ch.assertExchange(Exchanges.agentInbound, 'topic', { durable: true });
    await ch.assertExchange(Exchanges.agentOutbound, 'topic', { durable: true });
    await ch.assertExchange(Exchanges.agentCommands, 'direct', { durable: true });
    await ch.bindExchange(Exchanges.agentCommands, Exchanges.agentOutbound, '#');
    await ch.assertQueue('server.inbound', { durable: true });
    await ch.bindQueue('server.inbound', Exchanges.agentInbound, 'agent.#');
    await ch.consume('server.inbound', (msg) => {
      if (!msg) return;
      const parsed = parseAgentMessage(msg.content, msg.fields.routingKey);
      if (parsed.ok) heard.push(parsed.message);
    }, { noAck: true });

    // As in docs/operations.md, "Agent credentials".
    const q = `herald\\.agent\\.${agentId}`;
    await cluster.ctl(0, 'add_user', user, password);
    await cluster.ctl(0, 'set_permissions', '-p', '/', user, `^${q}$`, `^(${q}|herald\\.agent\\.inbound)$`, `^(${q}|herald\\.agent\\.outbound)$`);
    await cluster.ctl(0, 'set_topic_permissions', '-p', '/', user, 'herald.agent.inbound', `^agent\\.${agentId}\\.`, '^$');
    await cluster.ctl(0, 'set_topic_permissions', '-p', '/', user, 'herald.agent.outbound', '^$', `^${agentId}$`);
    const url = new URL(cluster.urls[0]!);
    url.username = user;
    url.password = password;
    agentUrl = url.toString();
  });
  afterAll(async () => {
    await server?.close().catch(() => undefined);
    await cluster?.remove();
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
      ch.publish(Exchanges.agentOutbound, agentId, Buffer.from(JSON.stringify(command)), { mandatory: true });
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
    // Nor receive another agent's commands: its own queue bound with another id, a wildcard, or on the direct exchange.
    const own = agentCommandQueue(agentId);
    const bind = (exchange: string, key: string) => (ch: amqp.ConfirmChannel) => ch.assertQueue(own, { exclusive: true }).then(() => ch.bindQueue(own, exchange, key));
    expect(await asAgent(bind(Exchanges.agentOutbound, 'pc-0043'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(bind(Exchanges.agentOutbound, '#'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(bind(Exchanges.agentCommands, 'pc-0043'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(bind(Exchanges.agentOutbound, agentId))).toBe('allowed');
    // Its own routing keys stay open.
    expect(await asAgent(publish(Exchanges.agentInbound, `agent.${agentId}.heartbeat`))).toBe('allowed');
  });
});
