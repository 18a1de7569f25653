/*
 * A process that dies at a chosen point of the outbox flow (SIGKILL: no cleanup runs), for
 * outbox.int.spec.ts. Usage: outbox-crash.child.ts <database-url> <amqp-url> <before-relay|after-confirm> <tag>
 */
import { AmqpClient } from '@herald/messaging';
import { Database, EventStore, OutboxRelay } from '@herald/event-store';

async function main(): Promise<void> {
  const [url, amqpUrl, mode, tag] = process.argv.slice(2) as [string, string, string, string];
  const db = await Database.open({ url, schema: 'crash_test' });
  const store = new EventStore(db);
  if (mode === 'before-relay') {
    await db.transaction(async (tx) => {
      await store.append(tx, `order-${tag}`, [{ type: 'OrderPlaced', data: { tag } }], 0);
      await store.enqueue(tx, [{ exchange: 'crash.events', routingKey: 'order.placed', type: 'order.placed', payload: { tag } }]);
    });
    process.kill(process.pid, 'SIGKILL');
  }
  if (mode === 'after-confirm') {
    const amqp = await AmqpClient.connect({ url: amqpUrl, connectionName: 'crash-child' });
    const relay = new OutboxRelay(store, {
      publishDelayed: (...args) => amqp.publishDelayed(...args),
      publish: async (...args) => {
        const result = await amqp.publish(...args);
        // The broker has confirmed; die before the row is marked as published.
        process.kill(process.pid, 'SIGKILL');
        return result;
      },
    });
    await relay.relayOnce();
  }
  throw new Error(`unknown mode ${mode}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
