import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as amqp from 'amqplib';
import { AgentConnection, HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';
import { Exchanges } from '@herald/contracts';
import { AmqpClient, BrokerUnavailableError } from '@herald/messaging';
import {
  type PrivateRabbitCluster,
  REPO_ROOT,
  TEST_ADMIN_TOKEN,
  type TestCertificateAuthority,
  type TestDatabase,
  createTestDatabase,
  freePort,
  makeTestCertificateAuthority,
  startRabbitCluster,
  waitFor,
} from '@herald/testing';

jest.setTimeout(240_000);

/**
 * The broker settings docker-compose.yml gives RabbitMQ: its lines without comments, and without
 * those of authentication backends (auth_*), which name the compose services' hosts and need
 * their plugins: this node logs clients in with its own users.
 */
const composeBrokerConfig = readFileSync(path.join(REPO_ROOT, 'deploy', 'rabbitmq', 'rabbitmq.conf'), 'utf8')
  .split('\n')
  .map((line) => line.trim())
  .filter((line) => line !== '' && !line.startsWith('#') && !line.startsWith('auth_'));
const setting = (key: string) => composeBrokerConfig.find((line) => line.startsWith(`${key} =`))!.split('=')[1]!.trim();

/*
 * AMQP over TLS (issue 14, item 5), on a private RabbitMQ node with a TLS listener whose
 * certificate a CA made here signed: the services (their AmqpClient, and a real agent-presence
 * process configured with RABBITMQ_CA_FILE) and the agent SDK connect with amqps:// and verify
 * the broker against that CA; a broker whose certificate another CA signed, or that does not
 * name the host connected to, is refused. The node also runs with the broker settings of
 * docker-compose.yml (deploy/rabbitmq/rabbitmq.conf), which are checked to load and to hold.
 */
describe('RabbitMQ over TLS (amqps://) with a CA of our own', () => {
  let dir: string;
  let ca: TestCertificateAuthority;
  let wrongCa: TestCertificateAuthority;
  let broker: PrivateRabbitCluster;
  let tlsPort: number;
  /** amqps:// on the TLS listener, as guest (a loopback connection, which the node allows). */
  let amqpsUrl: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'herald-tls-'));
    ca = await makeTestCertificateAuthority(dir, 'herald');
    wrongCa = await makeTestCertificateAuthority(dir, 'stranger');
    // The certificate names 127.0.0.1 only: a client that reaches the node as "localhost" must refuse it.
    const server = await ca.issueServerCertificate('broker', ['IP:127.0.0.1']);
    tlsPort = await freePort();
    broker = await startRabbitCluster({
      name: 'herald-tls',
      config: [
        // docker-compose.yml's broker settings first, so the node proves they load (and hold, below).
        ...composeBrokerConfig,
        `listeners.ssl.local = 127.0.0.1:${tlsPort}`,
        `ssl_options.cacertfile = ${ca.caFile}`,
        `ssl_options.certfile = ${server.certFile}`,
        `ssl_options.keyfile = ${server.keyFile}`,
        // Clients are not asked for a certificate: they log in with a user and password, over TLS.
        'ssl_options.verify = verify_none',
        'ssl_options.fail_if_no_peer_cert = false',
      ],
    });
    amqpsUrl = `amqps://guest:guest@127.0.0.1:${tlsPort}`;
  });

  afterAll(async () => {
    await broker?.remove();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The node's client connections named `name`, with whether each came over TLS. */
  async function connectionsNamed(name: string): Promise<{ name: string; ssl: boolean }[]> {
    const out = await broker.ctl(0, 'list_connections', '--no-table-headers', 'client_properties', 'ssl');
    return out
      .split('\n')
      .map((line) => ({ name: /"connection_name",(?:longstr,)?"([^"]*)"/.exec(line)?.[1] ?? '', ssl: /\ttrue\s*$/.test(line) }))
      .filter((c) => c.name === name);
  }

  describe("docker-compose.yml's broker settings (deploy/rabbitmq/rabbitmq.conf)", () => {
    it('load on a real node, which then refuses a message over max_message_size and keeps its memory alarm where they say', async () => {
      const limit = Number(setting('max_message_size'));
      expect(limit).toBe(1024 * 1024);
      const connection = await amqp.connect(broker.urls[0]!);
      try {
        const ch = await connection.createConfirmChannel();
        await ch.assertQueue('size-check', { durable: true });
        ch.sendToQueue('size-check', Buffer.alloc(limit, 1));
        await ch.waitForConfirms();
        const closed = new Promise<Error>((resolve) => ch.once('error', resolve));
        ch.sendToQueue('size-check', Buffer.alloc(limit + 1, 1));
        expect((await closed).message).toMatch(/PRECONDITION_FAILED.*larger than configured max size/);
        const check = await connection.createChannel();
        expect((await check.checkQueue('size-check')).messageCount).toBe(1);
      } finally {
        await connection.close().catch(() => undefined);
      }
      const watermark = setting('vm_memory_high_watermark.absolute');
      expect(watermark).toBe('640MiB');
      expect((await broker.ctl(0, 'eval', 'vm_memory_monitor:get_memory_limit().')).trim()).toBe(String(640 * 1024 * 1024));
    });
  });

  describe("the services' connection (AmqpClient)", () => {
    it('given the CA, when it connects to amqps://, then it is a TLS connection that publishes and consumes', async () => {
      const client = await AmqpClient.connect({ url: amqpsUrl, connectionName: 'tls-client-ok', tls: { ca: ca.caPem }, initialConnectTimeoutMs: 30_000 });
      try {
        await waitFor(async () => (await connectionsNamed('tls-client-ok')).length === 1, { timeoutMs: 90_000, what: 'the connection to be listed' });
        expect(await connectionsNamed('tls-client-ok')).toEqual([{ name: 'tls-client-ok', ssl: true }]);
        await client.withChannel(async (ch) => {
          await ch.assertQueue('tls-check', { durable: true });
          ch.sendToQueue('tls-check', Buffer.from('over tls'));
          await waitFor(async () => (await ch.checkQueue('tls-check')).messageCount === 1, { timeoutMs: 60_000, what: 'the message to arrive' });
          expect((await ch.get('tls-check', { noAck: true }) || undefined)?.content.toString()).toBe('over tls');
        });
      } finally {
        await client.close();
      }
    });

    it('given another CA, when it connects, then it gives up saying the certificate is not trusted', async () => {
      const attempt = AmqpClient.connect({ url: amqpsUrl, connectionName: 'tls-client-wrong-ca', tls: { ca: wrongCa.caPem }, initialConnectTimeoutMs: 3_000 });
      await expect(attempt).rejects.toThrow(BrokerUnavailableError);
      await expect(attempt).rejects.toThrow(/certificate/i);
      expect(await connectionsNamed('tls-client-wrong-ca')).toEqual([]);
    });

    it('given the CA but a host name the certificate does not carry, when it connects, then it refuses the broker', async () => {
      const attempt = AmqpClient.connect({
        url: `amqps://guest:guest@localhost:${tlsPort}`,
        connectionName: 'tls-client-wrong-name',
        tls: { ca: ca.caPem },
        initialConnectTimeoutMs: 3_000,
      });
      await expect(attempt).rejects.toThrow(/altnames|does not match/i);
    });

    it('given TLS settings with a plain amqp:// URL, when it is created, then it refuses at once', async () => {
      await expect(AmqpClient.connect({ url: broker.urls[0]!, connectionName: 'tls-client-plain', tls: { ca: ca.caPem } })).rejects.toThrow(/not amqps:\/\//);
    });
  });

  describe('the agent SDK', () => {
    it('given the CA, when an agent starts on amqps://, then it connects over TLS, declares its queue and says hello', async () => {
      // The exchanges the agent binds to and says hello on, as the services declare them.
      const server = await AmqpClient.connect({ url: amqpsUrl, connectionName: 'tls-exchanges', tls: { ca: ca.caPem } });
      await server.withChannel(async (ch) => {
        await ch.assertExchange(Exchanges.agentOutbound, 'topic', { durable: true });
        await ch.assertExchange(Exchanges.agentInbound, 'topic', { durable: true });
        await ch.assertQueue('tls-heard', { durable: true });
        await ch.bindQueue('tls-heard', Exchanges.agentInbound, 'agent.tls-agent-1.hello');
      });
      await server.close();
      const agent = new HeraldAgent({ agentId: 'tls-agent-1', amqpUrl: amqpsUrl, tls: { ca: ca.caPem }, store: new MemoryComponentStore([]) });
      try {
        await agent.start();
        expect(agent.connected).toBe(true);
        expect(await connectionsNamed('herald-agent tls-agent-1')).toEqual([{ name: 'herald-agent tls-agent-1', ssl: true }]);
        await waitFor(async () => (await broker.ctl(0, 'list_queues', '--no-table-headers', 'name', 'messages')).includes('tls-heard\t1'), { timeoutMs: 90_000, what: 'its hello to arrive' });
      } finally {
        await agent.stop();
      }
    });

    it('given another CA, when it connects, then every attempt fails on the certificate and it never connects', async () => {
      const stop = new AbortController();
      const failures: { error: Error; node: string }[] = [];
      const opening = AgentConnection.open(amqpsUrl, {
        name: 'tls-agent-wrong-ca',
        tls: { ca: wrongCa.caPem },
        onConnectFailed: (error, node) => {
          failures.push({ error, node });
          if (failures.length === 2) stop.abort();
        },
        signal: stop.signal,
      });
      await expect(opening).rejects.toThrow(/gave up connecting to RabbitMQ: .*certificate/i);
      expect(failures).toHaveLength(2);
      // The node is named with its password masked (guest's user name is its password too).
      for (const f of failures) expect(f.node).toMatch(new RegExp(`^amqps://[^@]*\\*\\*\\*@127\\.0\\.0\\.1:${tlsPort}$`));
      expect(await connectionsNamed('tls-agent-wrong-ca')).toEqual([]);
    });
  });

  describe('a service configured with RABBITMQ_CA_FILE', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase('tls');
    });
    afterAll(async () => {
      await db?.drop();
    });

    /** agent-presence (the built service) with this environment; its output kept. */
    function startPresence(env: Record<string, string>) {
      const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', 'apps', 'agent-presence', 'src', 'main.js')], {
        env: { PATH: process.env.PATH, DATABASE_URL: db.url, LOG_LEVEL: 'info', ADMIN_TOKENS: `tester:${TEST_ADMIN_TOKEN}`, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      return {
        output: () => output,
        exited,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      };
    }

    it('given the CA, when it starts on amqps://, then it is healthy over TLS and registers an agent that came over TLS too', async () => {
      const port = await freePort();
      const presence = startPresence({ RABBITMQ_URL: amqpsUrl, RABBITMQ_CA_FILE: ca.caFile, AGENT_PRESENCE_PORT: String(port) });
      const agent = new HeraldAgent({ agentId: 'tls-agent-2', amqpUrl: amqpsUrl, tls: { ca: ca.caPem }, store: new MemoryComponentStore([{ type: 'virus-pattern', version: '1.0.0' }]) });
      try {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok === true, { timeoutMs: 120_000, what: `agent-presence to be healthy (output: ${presence.output()})` });
        expect(await connectionsNamed('agent-presence')).toEqual([{ name: 'agent-presence', ssl: true }]);
        await agent.start();
        const status = async () => {
          const res = await fetch(`http://127.0.0.1:${port}/agents/tls-agent-2`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
          return res.ok ? ((await res.json()) as { status: string }).status : null;
        };
        await waitFor(async () => (await status()) === 'online', { timeoutMs: 60_000, what: 'the agent to be online' });
      } finally {
        await agent.stop();
        await presence.stop();
      }
    });

    it('given another CA, when it starts, then it exits 1 saying why, with the password masked', async () => {
      const presence = startPresence({
        RABBITMQ_URL: `amqps://guest:guest@127.0.0.1:${tlsPort}`,
        RABBITMQ_CA_FILE: wrongCa.caFile,
        AGENT_PRESENCE_PORT: String(await freePort()),
        STARTUP_TIMEOUT_MS: '3000',
      });
      expect(await presence.exited).toBe(1);
      expect(presence.output()).toMatch(/cannot reach RabbitMQ at amqps:\/\/[^@\s]*\*\*\*@127\.0\.0\.1:\d+ .*certificate/i);
    });

    it('given RABBITMQ_CA_FILE with a plain amqp:// URL, when it starts, then it refuses the configuration', async () => {
      const presence = startPresence({ RABBITMQ_URL: broker.urls[0]!, RABBITMQ_CA_FILE: ca.caFile, AGENT_PRESENCE_PORT: String(await freePort()) });
      expect(await presence.exited).toBe(1);
      expect(presence.output()).toContain('RABBITMQ_CA is set, but RABBITMQ_URL: the URL is not amqps://');
    });
  });
});
