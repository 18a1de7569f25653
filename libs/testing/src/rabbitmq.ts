import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Base broker URL for tests; a test vhost is appended to it. */
export const TEST_RABBITMQ_URL = process.env.TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export async function rabbitmqctl(...args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', ['--quiet', ...args], { timeout: 60_000 });
  return stdout;
}

export interface TestVhost {
  readonly name: string;
  /** amqp URL of the vhost for the guest user. */
  readonly url: string;
  /** Closes every client connection of this vhost, as a broker restart would. */
  closeAllConnections(): Promise<void>;
  delete(): Promise<void>;
}

/** A fresh RabbitMQ vhost, so a test sees no other test's queues or messages. */
export async function createTestVhost(label = 't'): Promise<TestVhost> {
  const name = `herald-${label}-${randomBytes(4).toString('hex')}`;
  await rabbitmqctl('add_vhost', name);
  await rabbitmqctl('set_permissions', '-p', name, 'guest', '.*', '.*', '.*');
  const base = new URL(TEST_RABBITMQ_URL);
  base.pathname = `/${encodeURIComponent(name)}`;
  return {
    name,
    url: base.toString(),
    closeAllConnections: async () => {
      await rabbitmqctl('close_all_connections', '--vhost', name, 'test: simulated broker failure');
    },
    delete: async () => {
      await rabbitmqctl('delete_vhost', name);
    },
  };
}
