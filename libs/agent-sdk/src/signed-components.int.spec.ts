import { createHash, randomUUID } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as amqp from 'amqplib';
import {
  type AgentMessage,
  type ComponentTarget,
  Exchanges,
  type SignedStatement,
  type UpdateCommand,
  type UpdateResult,
  generateUpstreamKeys,
  parseAgentMessage,
  signManifest,
  signStatement,
} from '@herald/contracts';
import { type TestVhost, createTestVhost, waitFor } from '@herald/testing';
import { HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';

jest.setTimeout(60_000);

/*
 * Agents that pin the upstream's public key, against a stand-in Herald server that lies: the
 * test declares the server's exchanges on a real broker, sends update commands, listens to the
 * answers and serves the files over HTTP. Whatever the server claims, a pinned agent installs
 * only what the upstream signed, and a command with any lie in it installs nothing.
 */
describe('agents that pin the upstream key', () => {
  const upstream = generateUpstreamKeys();
  const stranger = generateUpstreamKeys();
  const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  // What the upstream published: 2.0 of the pattern (and 1.5 before it), 3.0 of the engine.
  const genuine = Buffer.from('virus-pattern 2.0\n'.repeat(200));
  const older = Buffer.from('virus-pattern 1.5\n'.repeat(150));
  const engine = Buffer.from('scan-engine 3.0\n'.repeat(100));
  // What a compromised server would like agents to run.
  const evil = Buffer.from('not from the upstream\n'.repeat(90));

  let vhost: TestVhost;
  let server: amqp.ChannelModel;
  let ch: amqp.ConfirmChannel;
  let http: Server;
  const served: string[] = [];
  const heard: AgentMessage[] = [];
  const agents: HeraldAgent[] = [];

  beforeAll(async () => {
    vhost = await createTestVhost('signed');
    server = await amqp.connect(vhost.url);
    ch = await server.createConfirmChannel();
    await ch.assertExchange(Exchanges.agentInbound, 'topic', { durable: true });
    await ch.assertExchange(Exchanges.agentOutbound, 'topic', { durable: true });
    await ch.assertQueue('test.heard', { durable: false });
    await ch.bindQueue('test.heard', Exchanges.agentInbound, 'agent.#');
    await ch.consume(
      'test.heard',
      (msg) => {
        if (!msg) return;
        const parsed = parseAgentMessage(msg.content, msg.fields.routingKey);
        if (parsed.ok) heard.push(parsed.message);
      },
      { noAck: true },
    );
    const files: Record<string, Buffer> = { '/genuine': genuine, '/older': older, '/engine': engine, '/evil': evil };
    http = createServer((req, res) => {
      served.push(req.url ?? '');
      const body = files[(req.url ?? '').split('?')[0]!];
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-herald-delivery': 'full' }).end(body);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const a of agents) await a.stop({ goodbye: false });
    await server?.close().catch(() => undefined);
    await new Promise((resolve) => http?.close(resolve));
    await vhost?.delete();
  });

  const url = (path: string) => `http://127.0.0.1:${(http.address() as AddressInfo).port}${path}`;
  const statement = (type: string, version: string, file: Buffer, key = upstream.privateKeyPem): SignedStatement =>
    signStatement({ type, version, sha256: sha256(file), size: file.length }, key);
  /** The target an honest server sends: the upstream's facts and statement, its own URL. */
  const honest = (): ComponentTarget => ({
    type: 'virus-pattern',
    version: '2.0',
    sha256: sha256(genuine),
    size: genuine.length,
    url: url('/genuine'),
    statement: statement('virus-pattern', '2.0', genuine),
  });

  async function pinnedAgent(id: string, options: { pinned?: boolean } = {}): Promise<{ agent: HeraldAgent; store: MemoryComponentStore }> {
    const store = new MemoryComponentStore([
      { type: 'scan-engine', version: '2.0' },
      { type: 'virus-pattern', version: '1.0' },
    ]);
    const agent = new HeraldAgent({
      agentId: id,
      amqpUrl: vhost.url,
      store,
      heartbeatIntervalMs: 60_000,
      retryJitterMs: 0,
      ...(options.pinned === false ? {} : { upstreamPublicKey: upstream.publicKeyRaw }),
    });
    agents.push(agent);
    await agent.start();
    await waitFor(() => heard.some((m) => m.type === 'hello' && m.agentId === id), { what: `hello from ${id}` });
    return { agent, store };
  }

  /** Sends one update command with these components and waits for the agent's report. */
  async function update(agentId: string, components: ComponentTarget[]): Promise<UpdateResult> {
    const commandId = randomUUID();
    const command: UpdateCommand = {
      type: 'update',
      schemaVersion: 1,
      messageId: commandId,
      commandId,
      agentId,
      notificationId: randomUUID(),
      attempt: 1,
      issuedAt: new Date().toISOString(),
      components,
    };
    await new Promise<void>((resolve, reject) =>
      ch.publish(Exchanges.agentOutbound, agentId, Buffer.from(JSON.stringify(command)), { persistent: true, mandatory: true }, (err) => (err ? reject(err) : resolve())),
    );
    return waitFor(() => heard.find((m): m is UpdateResult => m.type === 'update-result' && m.commandId === commandId), { what: `the report of ${agentId}`, timeoutMs: 20_000 });
  }

  const before = [
    { type: 'scan-engine', version: '2.0' },
    { type: 'virus-pattern', version: '1.0' },
  ];

  it('installs what the upstream signed, from an honest server', async () => {
    const { store } = await pinnedAgent('honest');
    const result = await update('honest', [honest()]);
    expect(result).toMatchObject({ outcome: 'completed', components: [{ type: 'virus-pattern', fromVersion: '1.0', toVersion: '2.0', mode: 'full', bytes: genuine.length }] });
    expect(await store.installed()).toEqual([
      { type: 'scan-engine', version: '2.0' },
      { type: 'virus-pattern', version: '2.0' },
    ]);
  });

  it('installs a version whose statement is the whole signed manifest (an upstream without per-version statements)', async () => {
    const { store } = await pinnedAgent('manifest-statement');
    const manifest = signManifest(
      {
        schemaVersion: 2,
        manifestVersion: 3,
        publishedAt: new Date().toISOString(),
        components: [{ type: 'virus-pattern', version: '2.0', sha256: sha256(genuine), size: genuine.length, url: 'files/virus-pattern/2.0', patches: [] }],
      },
      upstream.privateKeyPem,
    );
    const result = await update('manifest-statement', [{ ...honest(), statement: manifest }]);
    expect(result.outcome).toBe('completed');
    expect((await store.installed()).find((c) => c.type === 'virus-pattern')?.version).toBe('2.0');
  });

  it.each<[string, () => ComponentTarget, RegExp]>([
    [
      'points the digest and URL at another file',
      () => ({ ...honest(), sha256: sha256(evil), size: evil.length, url: url('/evil') }),
      /refused: the server announced SHA-256 [0-9a-f]{64} \(\d+ bytes\), the upstream signed [0-9a-f]{64}/,
    ],
    [
      'sends a statement signed by another key',
      () => ({ ...honest(), sha256: sha256(evil), size: evil.length, url: url('/evil'), statement: statement('virus-pattern', '2.0', evil, stranger.privateKeyPem) }),
      /refused, not signed by the upstream: the statement is not signed by the upstream key [0-9a-f]{16}/,
    ],
    [
      "passes an older version's statement off as this version's",
      () => ({ ...honest(), sha256: sha256(older), size: older.length, url: url('/older'), statement: statement('virus-pattern', '1.5', older) }),
      /refused, not signed by the upstream: the upstream signed virus-pattern 1\.5, not virus-pattern 2\.0/,
    ],
    [
      'sends no statement',
      () => {
        const { statement: _none, ...rest } = honest();
        return { ...rest, sha256: sha256(evil), size: evil.length, url: url('/evil') };
      },
      /refused, not signed by the upstream: the server sent no signed statement/,
    ],
    [
      'changes the signed statement',
      () => {
        const t = honest();
        const payload = Buffer.from(JSON.stringify({ type: 'virus-pattern', version: '2.0', sha256: sha256(evil), size: evil.length })).toString('base64');
        return { ...t, sha256: sha256(evil), size: evil.length, url: url('/evil'), statement: { ...t.statement!, payload } };
      },
      /refused, not signed by the upstream: the statement is not signed by the upstream key/,
    ],
  ])('refuses a server that %s: reports failed, downloads and installs nothing', async (_what, lie, error) => {
    const id = `liar-${randomUUID().slice(0, 8)}`;
    const { store } = await pinnedAgent(id);
    const requests = served.length;
    const result = await update(id, [lie()]);
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/^virus-pattern 2\.0: /);
    expect(result.error).toMatch(error);
    expect(result.components).toEqual([]);
    expect(result.installed).toEqual(before);
    expect(await store.installed()).toEqual(before);
    expect(served.length).toBe(requests); // refused before any download
  });

  it('refuses a server that serves another file than the one the upstream signed', async () => {
    const { store } = await pinnedAgent('swapped-file');
    const result = await update('swapped-file', [{ ...honest(), url: url('/evil') }]);
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/virus-pattern 2\.0: .*SHA-256 [0-9a-f]{64} is not the announced/);
    expect(await store.installed()).toEqual(before);
  });

  it('installs nothing of a command in which one component of two is a lie', async () => {
    const { store } = await pinnedAgent('half-lie');
    const lie = { type: 'scan-engine', version: '3.0', sha256: sha256(evil), size: evil.length, url: url('/evil'), statement: statement('scan-engine', '3.0', engine) };
    const result = await update('half-lie', [lie, honest()]);
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/^scan-engine 3\.0: refused: the server announced/);
    expect(result.components).toEqual([]);
    expect(await store.installed()).toEqual(before);
    // The same components, told the truth, install.
    const honestEngine = { type: 'scan-engine', version: '3.0', sha256: sha256(engine), size: engine.length, url: url('/engine'), statement: statement('scan-engine', '3.0', engine) };
    expect(await update('half-lie', [honestEngine, honest()])).toMatchObject({ outcome: 'completed' });
    expect(await store.installed()).toEqual([
      { type: 'scan-engine', version: '3.0' },
      { type: 'virus-pattern', version: '2.0' },
    ]);
  });

  it('still never goes back to an older version, however well signed', async () => {
    const { store } = await pinnedAgent('no-rollback');
    expect(await update('no-rollback', [honest()])).toMatchObject({ outcome: 'completed' });
    const rollback = { type: 'virus-pattern', version: '1.5', sha256: sha256(older), size: older.length, url: url('/older'), statement: statement('virus-pattern', '1.5', older) };
    const result = await update('no-rollback', [rollback]);
    expect(result).toMatchObject({ outcome: 'completed', components: [{ type: 'virus-pattern', fromVersion: '2.0', toVersion: '2.0', mode: 'none', bytes: 0 }] });
    expect((await store.installed()).find((c) => c.type === 'virus-pattern')?.version).toBe('2.0');
  });

  it('without a pinned key, trusts the server as before (the digest it sends is all it checks)', async () => {
    const { store } = await pinnedAgent('trusting', { pinned: false });
    const { statement: _none, ...unsigned } = honest();
    const result = await update('trusting', [{ ...unsigned, sha256: sha256(evil), size: evil.length, url: url('/evil') }]);
    expect(result.outcome).toBe('completed');
    expect((await store.installed()).find((c) => c.type === 'virus-pattern')?.version).toBe('2.0');
  });
});
