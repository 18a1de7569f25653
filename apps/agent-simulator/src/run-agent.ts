import path from 'node:path';
import { parseArgs } from 'node:util';
import { DirectoryComponentStore, HeraldAgent } from '@herald/agent-sdk';
import { redactUrlsIn } from '@herald/common';
import { brokerTls, pinnedUpstreamKey } from './upstream-key';

/**
 * Runs one reference agent with its components in a folder, logging what it does. Each option
 * can also come from the environment the conformance kit sets (docs/asyncapi.yaml, section 10):
 * AGENT_ID, RABBITMQ_URL, AGENT_STATE_DIR, AGENT_COMPONENTS (`type=version,…`),
 * AGENT_INDEPENDENT (`true`/`false`), AGENT_HEARTBEAT_SECONDS; a command-line option wins.
 */
async function main(): Promise<void> {
  const env = process.env;
  const { values } = parseArgs({
    options: {
      id: { type: 'string', default: env.AGENT_ID ?? 'demo-agent-1' },
      amqp: { type: 'string', default: env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672' },
      dir: { type: 'string', ...(env.AGENT_STATE_DIR ? { default: env.AGENT_STATE_DIR } : {}) },
      component: { type: 'string', multiple: true, default: env.AGENT_COMPONENTS !== undefined ? env.AGENT_COMPONENTS.split(',').filter(Boolean) : ['virus-pattern=1.0.0'] },
      independent: { type: 'boolean', default: env.AGENT_INDEPENDENT === 'true' },
      heartbeat: { type: 'string', default: env.AGENT_HEARTBEAT_SECONDS ? String(Math.round(Number(env.AGENT_HEARTBEAT_SECONDS) * 1000)) : '30000' },
      /** The upstream's public key to pin (default UPSTREAM_PUBLIC_KEY or UPSTREAM_PUBLIC_KEY_FILE); without one the agent trusts the server. */
      'upstream-key': { type: 'string' },
      /** With an amqps:// broker: the CA file its certificate must chain to (default RABBITMQ_CA_FILE). */
      ca: { type: 'string' },
    },
  });
  const initial = values.component!.map((c) => {
    const [type, version] = c.split('=');
    return { type: type!, version: version! };
  });
  const agent = new HeraldAgent({
    agentId: values.id!,
    amqpUrl: values.amqp!,
    tls: brokerTls(values.ca),
    store: new DirectoryComponentStore(values.dir ?? path.join('var', 'agents', values.id!), initial),
    independentMode: values.independent,
    heartbeatIntervalMs: Number(values.heartbeat),
    upstreamPublicKey: pinnedUpstreamKey(values['upstream-key']),
  });
  // Its broker URL carries the agent's own credential: never printed.
  const log = (msg: string) => console.log(redactUrlsIn(`${new Date().toISOString()} ${values.id}: ${msg}`));
  agent.on('connected', () => log(`connected to ${agent.connectedNode ?? 'the broker'}, said hello`));
  agent.on('disconnected', () => log('lost the broker; reconnecting'));
  agent.on('command', (c, dup) => log(`${dup ? 'duplicate ' : ''}${c.type} command ${c.type === 'update' ? `attempt ${c.attempt}: ${c.components.map((x) => `${x.type} ${x.version}`).join(', ')}` : c.scanId}`));
  agent.on('updated', (r) => log(`update ${r.outcome}: ${r.components.map((c) => `${c.type} ${c.fromVersion} -> ${c.toVersion} (${c.mode}, ${c.bytes} bytes)`).join(', ')}${r.error ? ` ${r.error}` : ''}`));
  agent.on('scanned', (id, o) => log(`scan ${id}: ${o.outcome}`));
  agent.on('warning', (e) => log(`warning: ${e.message}`));
  log(agent.upstreamKeyId ? `installs only what the upstream key ${agent.upstreamKeyId} signed` : 'no upstream key pinned: trusts the server for what it installs');
  await agent.start();
  const stop = () => void agent.stop().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: Error) => {
  console.error(redactUrlsIn(`agent: ${err.message}`));
  process.exit(1);
});
