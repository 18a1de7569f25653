import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';
import { Client } from 'pg';
import { startPrivatePostgres } from './private-postgres';
import { startRabbitCluster, type PrivateRabbitCluster } from './private-rabbitmq';

const run = promisify(execFile);

async function processesMatching(text: string): Promise<string[]> {
  const { stdout } = await run('ps', ['-eo', 'pid,args', '--no-headers']);
  return stdout.split('\n').filter((line) => line.includes(text));
}

async function epmdNames(): Promise<string> {
  const { stdout } = await run('epmd', ['-names']).catch(() => ({ stdout: '' }));
  return stdout;
}

/** Publishes one message to `queue` through `url` and reads it back. */
async function roundTrip(url: string, queue: string, body: string, args: Record<string, unknown> = {}): Promise<string | undefined> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(queue, { durable: true, arguments: args });
    channel.sendToQueue(queue, Buffer.from(body), { persistent: true });
    await channel.waitForConfirms();
    for (let attempt = 0; attempt < 50; attempt++) {
      const message = await channel.get(queue, { noAck: true });
      if (message) return message.content.toString();
      await new Promise((r) => setTimeout(r, 100));
    }
    return undefined;
  } finally {
    await connection.close();
  }
}

describe('private PostgreSQL cluster', () => {
  it('starts, accepts connections, survives a stop and a start, and is removed without a trace', async () => {
    const pg = await startPrivatePostgres({ name: 'herald-infra-test' });
    try {
      expect(pg.port).not.toBe(5432);
      const query = async (): Promise<number> => {
        const client = new Client({ connectionString: await pg.createDatabase(`d_${Math.random().toString(36).slice(2, 8)}`) });
        await client.connect();
        try {
          return (await client.query<{ x: number }>('SELECT 41 + 1 AS x')).rows[0]!.x;
        } finally {
          await client.end();
        }
      };
      expect(await query()).toBe(42);

      await pg.stop();
      expect(await pg.isRunning()).toBe(false);
      const refused = new Client({ connectionString: pg.url });
      await expect(refused.connect()).rejects.toThrow();

      await pg.start();
      expect(await pg.isRunning()).toBe(true);
      expect(await query()).toBe(42);
    } finally {
      await pg.remove();
    }
    const { stdout } = await run('pg_lsclusters', ['--no-header']);
    expect(stdout).not.toContain(pg.cluster);
    expect(existsSync(`/etc/postgresql/${pg.version}/${pg.cluster}`)).toBe(false);
    expect(existsSync(`/var/lib/postgresql/${pg.version}/${pg.cluster}`)).toBe(false);
    expect(await processesMatching(pg.cluster)).toEqual([]);
  }, 180_000);
});

describe('private RabbitMQ cluster', () => {
  async function expectGone(cluster: PrivateRabbitCluster): Promise<void> {
    expect(existsSync(cluster.dir)).toBe(false);
    const names = await epmdNames();
    for (const node of cluster.nodeNames) {
      expect(await processesMatching(node)).toEqual([]);
      expect(names).not.toContain(node.split('@')[0]);
    }
  }

  it('a single node: starts on its own port, survives kill -9 and a restart, and is removed', async () => {
    const cluster = await startRabbitCluster({ nodes: 1, name: 'herald-infra-test' });
    try {
      expect(cluster.urls).toHaveLength(1);
      expect(cluster.ports[0]).not.toBe(5672);
      expect(await roundTrip(cluster.urls[0]!, 'one', 'hello')).toBe('hello');

      await cluster.killNode(0);
      expect(cluster.isRunning(0)).toBe(false);
      await expect(amqp.connect(cluster.urls[0]!)).rejects.toThrow();

      await cluster.startNode(0);
      expect(cluster.isRunning(0)).toBe(true);
      // A new queue: an acknowledged message of a durable queue may come back after kill -9.
      expect(await roundTrip(cluster.urls[0]!, 'two', 'again')).toBe('again');
    } finally {
      await cluster.remove();
    }
    await expectGone(cluster);
  }, 300_000);

  it('a node with plugins and configuration of its own, which the shared broker never gets', async () => {
    const cluster = await startRabbitCluster({ nodes: 1, name: 'herald-infra-test', plugins: ['rabbitmq_auth_backend_cache'], config: ['max_message_size = 1048576'] });
    try {
      expect((await cluster.ctl(0, 'eval', 'application:get_env(rabbit, max_message_size).')).trim()).toBe('{ok,1048576}');
      expect((await cluster.ctl(0, 'eval', 'lists:keymember(rabbitmq_auth_backend_cache, 1, application:which_applications()).')).trim()).toBe('true');
      expect(await roundTrip(cluster.urls[0]!, 'configured', 'hello')).toBe('hello');
    } finally {
      await cluster.remove();
    }
    await expectGone(cluster);
  }, 300_000);

  it('three nodes: a quorum queue stays usable while one node is stopped, the node rejoins, all is removed', async () => {
    const cluster = await startRabbitCluster({ nodes: 3, name: 'herald-infra-test' });
    try {
      const status = await cluster.ctl(0, 'cluster_status', '--formatter', 'json');
      const running = (JSON.parse(status) as { running_nodes: string[] }).running_nodes;
      expect([...running].sort()).toEqual([...cluster.nodeNames].sort());

      const quorum = { 'x-queue-type': 'quorum' };
      expect(await roundTrip(cluster.urls[0]!, 'q', 'before', quorum)).toBe('before');

      await cluster.stopNode(0);
      expect(cluster.isRunning(0)).toBe(false);
      expect(await roundTrip(cluster.urls[1]!, 'q', 'during', quorum)).toBe('during');
      expect(await roundTrip(cluster.urls[2]!, 'q', 'during too', quorum)).toBe('during too');

      await cluster.startNode(0);
      const after = JSON.parse(await cluster.ctl(1, 'cluster_status', '--formatter', 'json')) as { running_nodes: string[] };
      expect([...after.running_nodes].sort()).toEqual([...cluster.nodeNames].sort());
      expect(await roundTrip(cluster.urls[0]!, 'q', 'after', quorum)).toBe('after');
    } finally {
      await cluster.remove();
    }
    await expectGone(cluster);
  }, 600_000);
});
