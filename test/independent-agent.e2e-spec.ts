import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as amqp from 'amqplib';
import { REPO_ROOT, sleep, waitFor } from '@herald/testing';
import { RulesHarness, types } from './support/rules-harness';

jest.setTimeout(180_000);

/*
 * test/independent-agent/agent.js was written from docs/asyncapi.yaml alone and imports nothing
 * of Herald. Run as its own process against the three services, it must get through an update
 * (with Scan Now), a resend (R4), a reconnect after a restart and after a dropped connection (R2)
 * and a full download endpoint (R6: 503 + Retry-After) — so the document is enough to write an
 * agent that works.
 */

const AGENT_JS = path.join(REPO_ROOT, 'test', 'independent-agent', 'agent.js');
const INTERVAL_S = 2;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface AgentEvent {
  event: string;
  at: string;
  [key: string]: unknown;
}

interface CommandEvent extends AgentEvent {
  command: { type: string; commandId: string; notificationId: string; attempt?: number; components?: Array<{ type: string; version: string }> };
  duplicate: boolean;
}

/** One run of the independent agent as a child process; its JSON-lines stdout is the record. */
class AgentProcess {
  readonly events: AgentEvent[] = [];
  private child: ChildProcess | null = null;
  private log: WriteStream;

  constructor(
    readonly id: string,
    readonly dir: string,
    private readonly amqpUrl: string,
    private readonly seed: string[],
  ) {
    const logDir = path.join(REPO_ROOT, 'test', 'artifacts', 'logs');
    mkdirSync(logDir, { recursive: true });
    this.log = createWriteStream(path.join(logDir, `independent-agent-${id}.log`), { flags: 'a' });
  }

  /** Starts a new process (a new boot) and waits until it has said hello. */
  async start(): Promise<void> {
    const connectedBefore = this.count('connected');
    const args = [AGENT_JS, '--id', this.id, '--amqp', this.amqpUrl, '--dir', this.dir, '--heartbeat-ms', '500', '--retry-jitter-ms', '200'];
    for (const c of this.seed) args.push('--component', c);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      this.log.write(chunk);
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) if (line.trim()) this.events.push(JSON.parse(line) as AgentEvent);
    });
    child.stderr!.on('data', (chunk: Buffer) => this.log.write(chunk));
    await this.waitForEvent((e) => e.event === 'connected' && this.count('connected') > connectedBefore, 'to connect');
  }

  /** SIGTERM: the agent says goodbye and exits 0. */
  async stop(): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const code = await exited;
    this.child = null;
    return code;
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  count(event: string): number {
    return this.events.filter((e) => e.event === event).length;
  }

  get commands(): CommandEvent[] {
    return this.events.filter((e): e is CommandEvent => e.event === 'command');
  }

  sent(type: string): Array<Record<string, unknown>> {
    return this.events.filter((e) => e.event === 'sent' && (e.message as { type: string }).type === type).map((e) => e.message as Record<string, unknown>);
  }

  async waitForEvent(predicate: (e: AgentEvent) => boolean, what: string, timeoutMs = 20_000): Promise<AgentEvent> {
    return waitFor(async () => this.events.find(predicate), { what: `agent ${this.id} ${what}`, timeoutMs, intervalMs: 50 });
  }

  async installedFile(type: string, version: string): Promise<Buffer> {
    return readFile(path.join(this.dir, type, version));
  }

  async installed(): Promise<Record<string, string>> {
    return JSON.parse(await readFile(path.join(this.dir, 'installed.json'), 'utf8')) as Record<string, string>;
  }
}

describe('an independent agent written from docs/asyncapi.yaml', () => {
  const h = new RulesHarness();
  const agents: AgentProcess[] = [];
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'herald-independent-agent-'));
    // One download slot, so the last scenario can take it and make the agent wait (R6).
    await h.start({ DOWNLOAD_SLOTS: '1', DOWNLOAD_RETRY_AFTER_SECONDS: '1' });
  });

  afterAll(async () => {
    await Promise.allSettled(agents.map((a) => a.kill()));
    await h.stop();
    await rm(root, { recursive: true, force: true });
  });

  const settings = (patch: Record<string, unknown> = {}) =>
    h.settings({
      notifyOnDownload: true,
      includeIndependentAndOffline: false,
      updateOnReconnect: true,
      scanAfterUpdate: false,
      resendIntervalSeconds: INTERVAL_S,
      maxAttempts: 5,
      ackTimeoutSeconds: 2,
      ...patch,
    });

  const newAgent = (id: string, components: string[]) => {
    const agent = new AgentProcess(id, path.join(root, id), h.system.amqpUrl, components);
    agents.push(agent);
    return agent;
  };

  /** Publishes a version upstream with known content, has Herald download it, returns its rollout id. */
  const publish = async (type: string, version: string, content: Buffer): Promise<string> => {
    h.upstream.publish({ type, version, content });
    const check = await h.system.http<{ downloaded: unknown[] }>('component-download', 'POST', '/components/check');
    expect(check.body.downloaded).toEqual([expect.objectContaining({ componentType: type, version })]);
    const rollout = await waitFor(
      async () => {
        const res = await h.system.http<{ rollouts: Array<{ rolloutId: string; component: { type: string; version: string } }> }>(
          'notification-dispatch',
          'GET',
          '/rollouts?limit=100',
        );
        return res.body.rollouts.find((r) => r.component.type === type && r.component.version === version);
      },
      { what: `the rollout of ${type} ${version}` },
    );
    return rollout.rolloutId;
  };

  const presence = async (id: string) =>
    (await h.system.http<{ status: string; disconnectReason: string | null; components: Array<{ type: string; version: string }> }>('agent-presence', 'GET', `/agents/${id}`))
      .body;

  it('update: an online agent is notified, acknowledges, downloads, verifies, reports, runs Scan Now; a copy of the command changes nothing', async () => {
    await settings({ scanAfterUpdate: true });
    const type = 'ia-pattern';
    const agent = newAgent('ia-update', [`${type}=1.0`]);
    await agent.start();
    await h.waitOnline(agent.id, true);
    // Its heartbeats keep it online past the server's timeout (3 s here).
    await sleep(4_000);
    expect((await presence(agent.id)).status).toBe('online');

    const content = randomBytes(200 * 1024);
    const rolloutId = await publish(type, '1.1', content);
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'ScanCompleted', 'the scan after the update');

    expect(types(entries)).toEqual(['UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted', 'ScanRequested', 'ScanCommandSent', 'ScanCompleted']);
    expect(entries[0]).toMatchObject({ trigger: 'download', components: [expect.objectContaining({ type, version: '1.1', sha256: sha256(content), size: content.length })] });
    expect(entries[2]).toMatchObject({ attempt: 1 });
    expect(entries[3]).toMatchObject({
      targetReached: true,
      components: [{ type, fromVersion: '1.0', toVersion: '1.1', mode: 'full', bytes: content.length }],
      installed: [{ type, version: '1.1' }],
    });
    expect(entries[6]).toMatchObject({ outcome: 'clean', threatsFound: 0 });

    // What it installed is the published file, verified, and it says so.
    expect(sha256(await agent.installedFile(type, '1.1'))).toBe(sha256(content));
    expect(await agent.installed()).toEqual({ [type]: '1.1' });
    expect(agent.commands.map((c) => [c.command.type, c.duplicate])).toEqual([
      ['update', false],
      ['scan', false],
    ]);
    expect(agent.count('installed')).toBe(1);
    // It acknowledged before it reported (a report alone would imply the acknowledgement).
    const update = agent.commands[0]!.command;
    const replies = agent.events.filter((e) => e.event === 'sent' && ['ack', 'update-result'].includes((e.message as { type: string }).type));
    expect(replies.map((e) => e.message)).toEqual([
      expect.objectContaining({ type: 'ack', commandId: update.commandId, notificationId: update.notificationId, attempt: 1 }),
      expect.objectContaining({ type: 'update-result', commandId: update.commandId, notificationId: update.notificationId, outcome: 'completed' }),
    ]);

    // The rollout and presence agree.
    const rollout = await waitFor(
      async () => {
        const r = await h.rollout(rolloutId);
        return r.counts.scanned === 1 ? r : undefined;
      },
      { what: 'the rollout to count the update and the scan' },
    );
    expect(rollout.counts).toMatchObject({ targeted: 1, notified: 1, acknowledged: 1, updated: 1, failed: 0, gaveUp: 0, scanRequested: 1, scanned: 1 });
    expect(rollout.complete).toBe(true);
    await waitFor(async () => (await presence(agent.id)).components.find((c) => c.type === type)?.version === '1.1', { what: 'presence to see 1.1' });

    // A copy of the update command (at-least-once delivery): answered again, never applied twice.
    const connection = await amqp.connect(h.system.amqpUrl);
    try {
      const ch = await connection.createConfirmChannel();
      ch.publish('herald.agent.commands', agent.id, Buffer.from(JSON.stringify(update)), { messageId: update.commandId, type: 'update', contentType: 'application/json' });
      await ch.waitForConfirms();
    } finally {
      await connection.close();
    }
    await agent.waitForEvent((e) => e.event === 'command' && (e as CommandEvent).duplicate, 'to see the copy');
    await waitFor(async () => agent.sent('update-result').length === 2, { what: 'the report to be sent again' });
    const [first, again] = agent.sent('update-result');
    expect(again).toEqual(first); // the same message, the same messageId: the server drops it
    expect(agent.count('installed')).toBe(1);
    await sleep(1_000);
    expect(await h.entries(agent.id)).toHaveLength(entries.length);

    // Goodbye: offline at once, not after the heartbeat timeout; the reason tells which of the two
    // it was, so the wait need not race the 3 s timeout (a loaded machine is slow at both).
    expect(await agent.stop()).toBe(0);
    await waitFor(async () => (await presence(agent.id)).status === 'offline', { what: 'presence to see the goodbye', timeoutMs: 30_000, intervalMs: 50 });
    expect((await presence(agent.id)).disconnectReason).toBe('goodbye');
  });

  it('resend (R1a, R4): an agent offline at the announcement gets attempts at the interval, acknowledges the one after it comes back, and no attempt follows', async () => {
    await settings({ includeIndependentAndOffline: true, updateOnReconnect: false });
    const type = 'ia-resend-pattern';
    const agent = newAgent('ia-resend', [`${type}=1.0`]);
    await agent.start();
    await h.waitOnline(agent.id, true);
    await agent.stop();
    await h.waitOnline(agent.id, false);

    const content = randomBytes(64 * 1024);
    await publish(type, '1.1', content);
    await h.waitForEntry(agent.id, (e) => e.type === 'ResendScheduled', 'the first resend to be scheduled');
    await agent.start(); // back before the next attempt; R2 is off, so only the resend can reach it

    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the update by a resend');
    const sent = entries.filter((e) => e.type === 'AttemptSent');
    const last = sent.at(-1)!.attempt!;
    expect(last).toBeGreaterThanOrEqual(2);
    expect(sent.map((e) => e.attempt)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    // Every attempt before it found no queue; each came one interval after the failure before it.
    expect(entries.filter((e) => e.type === 'AttemptFailed').map((e) => [e.attempt, e.reason])).toEqual(
      Array.from({ length: last - 1 }, (_, i) => [i + 1, 'no-queue']),
    );
    const times = sent.map((e) => Date.parse(e.at));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(INTERVAL_S * 1000 - 50);
    expect(entries.find((e) => e.type === 'NotificationAcknowledged')).toMatchObject({ attempt: last });

    // The agent saw exactly that attempt, of the one notification, and applied it once.
    const notificationId = entries.find((e) => e.type === 'UpdateTargeted')!.notificationId;
    expect(types(entries).filter((t) => t === 'UpdateTargeted')).toHaveLength(1);
    expect(agent.commands.map((c) => [c.command.notificationId, c.command.attempt, c.duplicate])).toEqual([[notificationId, last, false]]);
    expect(agent.sent('ack')).toEqual([expect.objectContaining({ notificationId, attempt: last, commandId: agent.commands[0]!.command.commandId })]);
    expect(sha256(await agent.installedFile(type, '1.1'))).toBe(sha256(content));

    // No attempt follows the acknowledgement.
    await sleep(INTERVAL_S * 1000 * 2 + 500);
    const after = await h.entries(agent.id);
    expect(after).toHaveLength(entries.length);
    expect(agent.commands).toHaveLength(1);
    await agent.stop();
  });

  it('reconnect (R2): an outdated agent that restarts is updated at once', async () => {
    await settings();
    const type = 'ia-reconnect-pattern';
    const agent = newAgent('ia-reconnect', [`${type}=1.0`]);
    await agent.start();
    await h.waitOnline(agent.id, true);
    await agent.stop();
    await h.waitOnline(agent.id, false);

    const content = randomBytes(64 * 1024);
    const rolloutId = await publish(type, '1.1', content);
    await h.waitForEntry(agent.id, (e) => e.type === 'TargetSkipped', 'the skip: it is offline');
    await sleep(1_000);
    expect(agent.commands).toHaveLength(0);

    const restartedAt = Date.now();
    await agent.start();
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the update on reconnect');
    expect(types(entries)).toEqual(['TargetSkipped', 'UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
    expect(entries[0]).toMatchObject({ reason: 'offline' });
    expect(entries[1]).toMatchObject({ trigger: 'reconnect' });
    expect(Date.parse(entries[2]!.at) - restartedAt).toBeLessThan(5_000);
    expect(entries[4]).toMatchObject({ components: [{ type, fromVersion: '1.0', toVersion: '1.1', mode: 'full', bytes: content.length }] });
    expect(sha256(await agent.installedFile(type, '1.1'))).toBe(sha256(content));
    await waitFor(async () => (await h.rollout(rolloutId)).counts.updatedAfterSkip === 1, { what: 'the rollout to count it' });
  });

  it('reconnect (R2): an outdated agent whose connection drops reconnects by itself, says hello again and is updated at once', async () => {
    await settings();
    const type = 'ia-drop-pattern';
    const agent = newAgent('ia-drop', [`${type}=1.0`]);
    await agent.start();
    await h.waitOnline(agent.id, true);

    // A version the agent is not told about (R1 off): it stays outdated while connected.
    await settings({ notifyOnDownload: false });
    const content = randomBytes(64 * 1024);
    await publish(type, '1.1', content);
    await sleep(1_000);
    expect(agent.commands).toHaveLength(0);
    await settings();

    // The broker drops every connection, the services' and the agent's.
    await h.system.vhost.closeAllConnections();
    await agent.waitForEvent((e) => e.event === 'disconnected', 'to notice the dropped connection');
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the update after the reconnect', 40_000);
    expect(types(entries)).toEqual(['UpdateTargeted', 'AttemptSent', 'NotificationAcknowledged', 'UpdateCompleted']);
    expect(entries[0]).toMatchObject({ trigger: 'reconnect' });
    // The same process (one boot) said hello on both connections.
    const hellos = agent.sent('hello');
    expect(hellos.length).toBeGreaterThanOrEqual(2);
    expect(new Set(hellos.map((m) => m.bootId)).size).toBe(1);
    expect(sha256(await agent.installedFile(type, '1.1'))).toBe(sha256(content));
  });

  it('download slots (R6): told 503 + Retry-After, the agent waits and asks again until a slot is free', async () => {
    await settings();
    const type = 'ia-busy-pattern';
    const agent = newAgent('ia-busy', [`${type}=1.0`]);
    await agent.start();
    await h.waitOnline(agent.id, true);

    // Herald gets the new version while R1 is off, so the test can take the one slot first.
    await settings({ notifyOnDownload: false });
    const content = randomBytes(32 * 1024 * 1024);
    await publish(type, '1.1', content);
    const url = `${h.system.url('component-download')}/components/${type}/versions/1.1/download`;
    const held = await fetch(url);
    expect(held.status).toBe(200);
    // Not reading the body keeps the transfer, and so the slot, busy.
    const refused = await fetch(url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    await refused.body?.cancel();

    await settings();
    await agent.stop();
    await agent.start(); // R2 sends it the update at once
    await agent.waitForEvent((e) => e.event === 'download-retry' && e.status === 503, 'to be told to wait');
    await sleep(2_500);
    expect(agent.count('installed')).toBe(0);
    const waitedBefore = agent.count('download-retry');
    expect(waitedBefore).toBeGreaterThanOrEqual(2); // it asked again after Retry-After, and was refused again
    const waits = agent.events.filter((e) => e.event === 'download-retry');
    expect(waits.every((e) => e.status === 503 && e.seconds === 1)).toBe(true);
    // Each new try came at least Retry-After after the refusal before it.
    for (let i = 1; i < waits.length; i++) expect(Date.parse(waits[i]!.at) - Date.parse(waits[i - 1]!.at)).toBeGreaterThanOrEqual(1_000);

    await held.body?.cancel(); // the slot is free again
    const entries = await h.waitForEntry(agent.id, (e) => e.type === 'UpdateCompleted', 'the update once a slot is free', 30_000);
    expect(entries.at(-1)).toMatchObject({ components: [{ type, fromVersion: '1.0', toVersion: '1.1', mode: 'full', bytes: content.length }] });
    expect(sha256(await agent.installedFile(type, '1.1'))).toBe(sha256(content));
    const slots = await h.system.http<{ refused: number }>('component-download', 'GET', '/components/downloads');
    expect(slots.body.refused).toBeGreaterThanOrEqual(waitedBefore + 1);
  });
});
