import { randomBytes, randomUUID } from 'node:crypto';
import * as amqp from 'amqplib';
import { withAgentIdentity } from '@herald/agent-sdk';
import { Exchanges, agentCommandQueue, agentInboundRoutingKey } from '@herald/contracts';
import { type PrivateRabbitCluster, freePort, privateBroker, startRabbitCluster, waitFor } from '@herald/testing';
import { Fleet } from '../../apps/agent-simulator/src/fleet';
import { RulesHarness, type SimAgent } from '../support/rules-harness';

jest.setTimeout(300_000);

const TOKEN = `enrol-${randomBytes(16).toString('hex')}`;
const TYPE = 'id-pattern';
const secret = () => randomBytes(32).toString('base64url');

/**
 * Per-agent broker identities (issue 14, item 1) on a RabbitMQ node of the test's own with
 * rabbitmq_auth_backend_http, asking agent-presence: the services log in as the broker's own
 * users, each agent as its id with the secret it enrolled with, and may touch only its own queue
 * and routing keys. Each attack found before is tried here as an agent with a valid identity.
 */
describe('agents with their own broker identities', () => {
  const h = new RulesHarness();
  let cluster: PrivateRabbitCluster;
  let nodeUrl: string;

  beforeAll(async () => {
    const presencePort = await freePort();
    const auth = `http://127.0.0.1:${presencePort}/auth`;
    cluster = await startRabbitCluster({
      nodes: 1,
      name: 'herald-identity-e2e',
      plugins: ['rabbitmq_auth_backend_http'],
      config: [
        // The services' users are the broker's own; agents are asked about over HTTP.
        'auth_backends.1 = internal',
        'auth_backends.2 = http',
        'auth_http.http_method = post',
        `auth_http.user_path = ${auth}/user`,
        `auth_http.vhost_path = ${auth}/vhost`,
        `auth_http.resource_path = ${auth}/resource`,
        `auth_http.topic_path = ${auth}/topic`,
      ],
    });
    nodeUrl = cluster.urls[0]!;
    await h.start({ AGENT_ENROLMENT_TOKENS: `site-a:${TOKEN}` }, { broker: privateBroker(cluster), ports: { 'agent-presence': presencePort } });
  });

  afterAll(async () => {
    await h.stop();
    await cluster?.remove();
  });

  const presence = <T>(method: string, path: string, body?: unknown) => h.system.http<T>('agent-presence', method, path, body);
  const identity = async (id: string) => (await presence<{ status: string; enrolledWith: string; decidedBy: string | null }>('GET', `/identities/${id}`)).body;
  const loginsWith = async (result: string) => {
    const text = (await h.system.http<string>('agent-presence', 'GET', '/metrics', undefined, null)).body;
    return Number(new RegExp(`herald_agent_logins_total\\{[^}]*result="${result}"[^}]*\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };
  const urlOf = (agentId: string, credentials: { secret: string; enrolmentToken?: string }) => withAgentIdentity(nodeUrl, agentId, credentials)[0]!;

  /** How the broker answers a login, or what `act` does on a channel of it: 'allowed' or the error. */
  async function asAgent(url: string, act: (ch: amqp.ConfirmChannel) => Promise<unknown> = async () => undefined): Promise<string> {
    let connection: amqp.ChannelModel;
    try {
      connection = await amqp.connect(url);
    } catch (err) {
      return (err as Error).message;
    }
    connection.on('error', () => undefined);
    try {
      const ch = await connection.createConfirmChannel();
      const closed = new Promise<string>((resolve) => ch.on('error', (err: Error) => resolve(err.message)));
      ch.on('close', () => undefined);
      const outcome = act(ch).then(
        () => 'allowed',
        (err: Error) => err.message,
      );
      // A refused publish closes the channel a moment later: wait for that before calling it allowed.
      return await Promise.race([closed, outcome.then(async (o) => (o === 'allowed' ? Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('allowed'), 1_000))]) : o))]);
    } finally {
      await connection.close().catch(() => undefined);
    }
  }

  /** An SDK agent with its own identity, started once an admin accepts it (its first start waits for that). */
  async function admitted(id: string, credentials: { secret: string; enrolmentToken?: string }, version = '1.0'): Promise<SimAgent> {
    const agent = await h.agent(id, [{ type: TYPE, version }], { credentials, start: false });
    const warnings: string[] = [];
    agent.agent.on('warning', (err) => warnings.push(err.message));
    const started = agent.start();
    await waitFor(async () => (await presence('GET', `/identities/${id}`)).status === 200, { what: `${id} to enrol`, timeoutMs: 30_000 });
    expect(await identity(id)).toMatchObject({ status: 'pending', enrolledWith: 'site-a', decidedBy: null });
    const accepted = await presence<{ status: string; decidedBy: string }>('POST', `/identities/${id}/accept`);
    expect(accepted.body).toMatchObject({ status: 'accepted', decidedBy: 'tester' });
    await started;
    await h.waitOnline(id, true);
    // It said why it waited, once, not on every try.
    expect(warnings.filter((w) => /refused the login/.test(w))).toHaveLength(1);
    return agent;
  }

  const alice = { secret: secret(), enrolmentToken: TOKEN };
  const bob = { secret: secret(), enrolmentToken: TOKEN };
  let aliceAgent: SimAgent;

  it('an agent enrols with the token, is refused until an admin accepts it, then is updated as any agent', async () => {
    const pendingBefore = await loginsWith('pending');
    const a = (aliceAgent = await admitted('id-alice', alice));
    expect(await loginsWith('pending')).toBeGreaterThan(pendingBefore);
    const listed = await presence<{ identities: Array<{ agentId: string; status: string }> }>('GET', '/identities?status=accepted');
    expect(listed.body.identities.map((i) => i.agentId)).toContain('id-alice');

    await h.publish(TYPE, '1.1');
    await h.waitForEntry(a.id, (e) => e.type === 'UpdateCompleted', 'the update');
    expect(await a.version(TYPE)).toBe('1.1');
  });

  it("an agent cannot receive another agent's commands: no binding with another id, a wildcard, or on the old direct exchange", async () => {
    const b = await admitted('id-bob', bob, '1.1');
    // The attacker is alice's identity on a connection of its own (her agent stops: her queue is exclusive).
    await aliceAgent.stop();
    const own = agentCommandQueue('id-alice');
    const bind = (exchange: string, key: string) => (ch: amqp.ConfirmChannel) =>
      ch.assertQueue(own, { exclusive: true, durable: false, autoDelete: true }).then(() => ch.bindQueue(own, exchange, key));
    // The attack found before: agent A bound its queue to the commands exchange with B's id and got B's updates.
    expect(await asAgent(urlOf('id-alice', alice), bind(Exchanges.agentCommands, 'id-bob'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(urlOf('id-alice', alice), bind(Exchanges.agentOutbound, 'id-bob'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(urlOf('id-alice', alice), bind(Exchanges.agentOutbound, '#'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(urlOf('id-alice', alice), bind(Exchanges.agentOutbound, '*'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(urlOf('id-alice', alice), bind(Exchanges.agentOutbound, 'id-alice'))).toBe('allowed');
    // Nor take B's queue, or read it.
    expect(await asAgent(urlOf('id-alice', alice), (ch) => ch.assertQueue(agentCommandQueue('id-bob'), { exclusive: true }))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(urlOf('id-alice', alice), (ch) => ch.consume(agentCommandQueue('id-bob'), () => undefined))).toMatch(/ACCESS_REFUSED|NOT_FOUND/);
    // B still gets its own commands.
    await h.publish(TYPE, '1.2');
    await h.waitForEntry(b.id, (e) => e.type === 'UpdateCompleted', "bob's update");
  });

  it('an agent cannot speak for another agent, or reach the server queues and exchanges', async () => {
    const body = Buffer.from(
      JSON.stringify({
        type: 'hello',
        schemaVersion: 1,
        messageId: randomUUID(),
        agentId: 'id-bob',
        sentAt: new Date().toISOString(),
        bootId: 'x',
        hostname: 'x',
        agentVersion: '1',
        // The attack found before: mark another agent Independent on an old version, out of updates.
        independentMode: true,
        components: [{ type: TYPE, version: '0.1' }],
      }),
    );
    const publish = (exchange: string, key: string) => async (ch: amqp.ConfirmChannel) => {
      ch.publish(exchange, key, body);
      await ch.waitForConfirms();
    };
    const asAlice = (act: (ch: amqp.ConfirmChannel) => Promise<unknown>) => asAgent(urlOf('id-alice', alice), act);
    expect(await asAlice(publish(Exchanges.agentInbound, agentInboundRoutingKey('id-bob', 'hello')))).toMatch(/ACCESS_REFUSED/);
    expect(await asAlice(publish(Exchanges.agentInbound, 'agent.id-alice.hello.x'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAlice(publish(Exchanges.events, 'agent.connected'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAlice(publish(Exchanges.agentOutbound, 'id-bob'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAlice(publish('', 'herald.presence.agent-inbound'))).toMatch(/ACCESS_REFUSED/);
    expect(await asAlice((ch) => ch.consume('herald.presence.agent-inbound', () => undefined))).toMatch(/ACCESS_REFUSED/);
    // A passive declare tells a queue's depth. RabbitMQ asks no backend about passive declares
    // before 4.2.6 (rabbitmq-server#16085), so there it is allowed whatever Herald answers; from
    // 4.2.6 on it needs a permission Herald never gives an agent on a server queue.
    const [major, minor, patch] = (await cluster.ctl(0, 'version')).trim().split('.').map(Number) as [number, number, number];
    const checksPassive = major > 4 || (major === 4 && (minor > 2 || (minor === 2 && patch >= 6)));
    expect(await asAlice((ch) => ch.checkQueue('herald.presence.agent-inbound'))).toMatch(checksPassive ? /ACCESS_REFUSED/ : /^allowed$/);
    expect(await asAlice((ch) => ch.assertExchange('herald.mine', 'topic'))).toMatch(/ACCESS_REFUSED/);
    // Its own routing keys stay open.
    expect(await asAlice(publish(Exchanges.agentInbound, agentInboundRoutingKey('id-alice', 'heartbeat')))).toBe('allowed');
    // Bob is still what Bob said: not Independent, on 1.2.
    const bobNow = (await presence<{ independentMode: boolean; components: Array<{ version: string }> }>('GET', '/agents/id-bob')).body;
    expect(bobNow).toMatchObject({ independentMode: false, components: [expect.objectContaining({ version: '1.2' })] });
  });

  it('refuses a wrong secret, a bad enrolment token, and rejected, revoked or forgotten identities at login', async () => {
    expect(await asAgent(urlOf('id-alice', { secret: secret(), enrolmentToken: TOKEN }))).toMatch(/ACCESS_REFUSED/);
    expect(await asAgent(urlOf('id-carol', { secret: secret(), enrolmentToken: 'not-the-token-at-all' }))).toMatch(/ACCESS_REFUSED/);
    expect((await presence('GET', '/identities/id-carol')).status).toBe(404); // nothing recorded without the token
    expect(await asAgent(urlOf('id-carol', { secret: secret() }))).toMatch(/ACCESS_REFUSED/);

    // Enrolled, then rejected.
    const dave = { secret: secret(), enrolmentToken: TOKEN };
    expect(await asAgent(urlOf('id-dave', dave))).toMatch(/ACCESS_REFUSED/);
    expect((await identity('id-dave')).status).toBe('pending');
    expect((await presence('POST', '/identities/id-dave/reject', { reason: 'not ours' })).body).toMatchObject({ status: 'rejected', reason: 'not ours' });
    expect(await asAgent(urlOf('id-dave', dave))).toMatch(/ACCESS_REFUSED/);
    // Forgotten: the id may enrol again, with a new secret, and waits for an admin again.
    expect((await presence('DELETE', '/identities/id-dave')).status).toBe(200);
    expect(await asAgent(urlOf('id-dave', { secret: secret(), enrolmentToken: TOKEN }))).toMatch(/ACCESS_REFUSED/);
    expect((await identity('id-dave')).status).toBe('pending');

    // Accepted, then revoked: refused from the next login; accepted again, back in (no token needed once enrolled).
    expect(await asAgent(urlOf('id-alice', { secret: alice.secret }))).toBe('allowed');
    expect((await presence('POST', '/identities/id-alice/revoke', { reason: 'laptop stolen' })).body).toMatchObject({ status: 'revoked', decidedBy: 'tester' });
    expect(await asAgent(urlOf('id-alice', alice))).toMatch(/ACCESS_REFUSED/);
    expect((await presence('POST', '/identities/id-alice/accept')).status).toBe(200);
    expect(await asAgent(urlOf('id-alice', { secret: alice.secret }))).toBe('allowed');

    // An admin's mistakes are answered clearly.
    expect((await presence('POST', '/identities/id-alice/reject')).status).toBe(409);
    expect((await presence('POST', '/identities/id-nobody/accept')).status).toBe(404);
    for (const result of ['wrong-secret', 'bad-enrolment-token', 'rejected', 'revoked']) expect(await loginsWith(result)).toBeGreaterThan(0);
  });

  it('the simulator runs its fleet with per-agent identities: each agent enrols, is accepted, and is updated', async () => {
    const fleet = new Fleet({
      amqpUrl: nodeUrl,
      agents: 5,
      prefix: 'id-sim',
      components: { [TYPE]: ['1.2'] },
      heartbeatIntervalMs: 2_000,
      identity: { enrolmentToken: TOKEN, secretSeed: randomBytes(16).toString('hex') },
    });
    try {
      const starting = fleet.start(); // each agent's start waits for its acceptance
      const pending = await waitFor(
        async () => {
          const res = await presence<{ identities: Array<{ agentId: string }> }>('GET', '/identities?status=pending');
          const ids = res.body.identities.map((i) => i.agentId).filter((id) => id.startsWith('id-sim-'));
          return ids.length === 5 ? ids : undefined;
        },
        { what: 'the five simulated agents to enrol', timeoutMs: 60_000 },
      );
      for (const id of pending) expect((await presence('POST', `/identities/${id}/accept`)).status).toBe(200);
      await starting;
      expect(fleet.connectionCount).toBe(0); // one connection per agent, its own
      for (const id of pending) await h.waitOnline(id, true);
      await h.publish(TYPE, '1.3');
      await waitFor(async () => (await fleet.upToDate()) === 5, { what: 'the fleet on 1.3', timeoutMs: 60_000 });
    } finally {
      await fleet.stop();
    }
  });
});
