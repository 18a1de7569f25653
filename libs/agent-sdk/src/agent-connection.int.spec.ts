import { randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { Exchanges, agentCommandQueue, parseAgentMessage, type AgentMessage, type ScanCommand } from '@herald/contracts';
import type { TestVhost} from '@herald/testing';
import { createTestVhost, waitFor } from '@herald/testing';
import { AgentConnection, HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';

jest.setTimeout(60_000);

/**
 * Many agents on a few shared connections, against a bare broker standing in for the server:
 * the test declares the server's exchanges, listens to what agents say and sends them commands.
 */
describe('agents sharing connections', () => {
  let vhost: TestVhost;
  let server: amqp.RecoveringChannelModel;
  let ch: amqp.ConfirmChannel;
  const heard: AgentMessage[] = [];
  const connections: AgentConnection[] = [];
  const agents: HeraldAgent[] = [];

  beforeAll(async () => {
    vhost = await createTestVhost('sdk');
    // The stand-in server reconnects too (the broker failure below drops it as well); its queue is
    // durable, so nothing agents say while it is away is lost.
    server = await amqp.connect(vhost.url, {
      recovery: {
        initialDelay: 100,
        maxDelay: 1_000,
        setup: async (model: amqp.ChannelModel) => {
          const c = await model.createConfirmChannel();
          await c.assertExchange(Exchanges.agentInbound, 'topic', { durable: true });
          await c.assertExchange(Exchanges.agentOutbound, 'topic', { durable: true });
          await c.assertQueue('test.heard', { durable: true });
          await c.bindQueue('test.heard', Exchanges.agentInbound, 'agent.#');
          await c.consume('test.heard', (msg) => {
            if (!msg) return;
            const parsed = parseAgentMessage(msg.content, msg.fields.routingKey);
            if (parsed.ok) heard.push(parsed.message);
          }, { noAck: true });
          ch = c;
        },
      },
    });
  });
  afterAll(async () => {
    for (const a of agents) await a.stop({ goodbye: false });
    for (const c of connections) await c.close();
    await server?.close().catch(() => undefined);
    await vhost.delete();
  });

  const said = (type: AgentMessage['type'], agentId?: string) => heard.filter((m) => m.type === type && (!agentId || m.agentId === agentId));

  function scan(agentId: string): { command: ScanCommand; body: Buffer } {
    const command: ScanCommand = {
      type: 'scan',
      schemaVersion: 1,
      messageId: randomUUID(),
      commandId: randomUUID(),
      agentId,
      issuedAt: new Date().toISOString(),
      scanId: randomUUID(),
      notificationId: randomUUID(),
    };
    return { command, body: Buffer.from(JSON.stringify(command)) };
  }

  async function publish(agentId: string, body: Buffer): Promise<boolean> {
    return new Promise((resolve, reject) => {
      let returned = false;
      const onReturn = (msg: amqp.Message) => {
        if (msg.fields.routingKey === agentId) returned = true;
      };
      ch.once('return', onReturn);
      ch.publish(Exchanges.agentOutbound, agentId, body, { mandatory: true, persistent: true }, (err) => {
        // A basic.return arrives before the confirm of the same publish.
        ch.removeListener('return', onReturn);
        if (err) reject(err);
        else resolve(!returned);
      });
    });
  }

  it('carries 60 agents on 2 connections, each with its own queue, through a broker failure', async () => {
    connections.push(await AgentConnection.open(vhost.url, { name: 'sim-1' }), await AgentConnection.open(vhost.url, { name: 'sim-2' }));
    for (let i = 0; i < 60; i++) {
      const agent = new HeraldAgent({
        agentId: `shared-${i}`,
        connection: connections[i % 2],
        store: new MemoryComponentStore([{ type: 'virus-pattern', version: '1.0.0' }]),
        heartbeatIntervalMs: 60_000,
      });
      agents.push(agent);
    }
    await Promise.all(agents.map((a) => a.start()));
    await waitFor(() => said('hello').length === 60, { what: 'a hello from each agent' });
    expect(new Set(said('hello').map((m) => m.agentId)).size).toBe(60);
    expect(connections.map((c) => c.size)).toEqual([30, 30]);

    // Each agent gets its own command and answers it, exactly once.
    for (const a of agents) expect(await publish(a.agentId, scan(a.agentId).body)).toBe(true);
    await waitFor(() => said('scan-result').length === 60, { timeoutMs: 15_000, what: '60 scan results' });
    expect(new Set(said('scan-result').map((m) => m.agentId)).size).toBe(60);

    // The broker drops both connections: every agent comes back and says hello again, same boot.
    await vhost.closeAllConnections();
    await waitFor(() => said('hello').length === 120, { timeoutMs: 30_000, what: 'a second hello from every agent' });
    for (const a of agents) {
      const hellos = said('hello', a.agentId);
      expect(hellos).toHaveLength(2);
      expect(new Set(hellos.map((h) => (h.type === 'hello' ? h.bootId : '')))).toEqual(new Set([a.bootId]));
    }
    await waitFor(() => agents.every((a) => a.connected), { what: 'all agents connected again' });
    const again = agents.slice(0, 10);
    for (const a of again) expect(await publish(a.agentId, scan(a.agentId).body)).toBe(true);
    await waitFor(() => said('scan-result').length === 70, { timeoutMs: 15_000, what: '10 more scan results' });
  });

  it('takes one agent off a shared connection: goodbye, its queue gone, the others untouched', async () => {
    const leaving = agents[7]!;
    await leaving.stop();
    agents.splice(7, 1);
    await waitFor(() => said('goodbye', leaving.agentId).length === 1, { what: 'goodbye' });
    // No queue takes its commands any more: the publish comes back unroutable.
    expect(await publish(leaving.agentId, scan(leaving.agentId).body)).toBe(false);
    const probe = await server.createChannel();
    probe.on('error', () => undefined);
    await expect(probe.checkQueue(agentCommandQueue(leaving.agentId))).rejects.toThrow(/NOT_FOUND/);
    const stillHere = agents[8]!;
    const before = said('scan-result', stillHere.agentId).length;
    expect(await publish(stillHere.agentId, scan(stillHere.agentId).body)).toBe(true);
    await waitFor(() => said('scan-result', stillHere.agentId).length === before + 1, { what: 'a neighbour still answering' });
    expect(connections[1]!.connected).toBe(true);
  });

  it('keeps trying an agent whose queue is still held elsewhere, and attaches it once the queue is free', async () => {
    // An agent process restarted while its old connection is still open (say, not yet timed out):
    // the new one cannot take the exclusive queue until the old one lets go.
    const old = new HeraldAgent({ agentId: 'twice', connection: connections[0], store: new MemoryComponentStore([]), heartbeatIntervalMs: 60_000 });
    await old.start();
    const warnings: string[] = [];
    connections[1]!.on('warning', (e) => warnings.push(e.message));
    const fresh = new HeraldAgent({ agentId: 'twice', connection: connections[1], store: new MemoryComponentStore([]), heartbeatIntervalMs: 60_000 });
    await fresh.start();
    expect(fresh.connected).toBe(false);
    expect(warnings.join('\n')).toMatch(/RESOURCE_LOCKED|locked/i);
    await old.stop({ goodbye: false });
    await waitFor(() => fresh.connected, { what: 'the new agent to take its queue', timeoutMs: 15_000 });
    await waitFor(() => said('hello', 'twice').some((h) => h.type === 'hello' && h.bootId === fresh.bootId), { what: "the new agent's hello" });
    await fresh.stop();
  });
});
