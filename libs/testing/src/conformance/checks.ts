import { randomBytes, randomUUID } from 'node:crypto';
import { parseAgentMessage } from '@herald/contracts';
import { rabbitmqctl } from '../rabbitmq';
import { sha256 } from '../upstream-fixture';
import { sleep, waitFor } from '../wait';
import { type AgentRun, type ConformanceKit, KIT_TIMINGS, type TimelineEntry } from './kit';

/** What the agent sent or was sent, as the broker trace recorded it. */
type Body = Record<string, unknown>;

/** One named check of the kit, with what it proves (printed by `--list` and in the document). */
export const CHECKS: ReadonlyArray<{ name: string; what: string }> = [
  { name: 'hello', what: 'on connecting: an exclusive, auto-delete, consuming queue herald.agent.<id>, then a valid hello (bootId, the seeded components, patchFormats); the server sees it online' },
  { name: 'heartbeat', what: 'heartbeats every AGENT_HEARTBEAT_SECONDS with the hello\'s bootId keep it online past the server\'s timeout' },
  { name: 'heartbeat-in-download', what: 'heartbeats go on while a download is in progress (the kit holds one for longer than the server\'s timeout), so the agent stays online' },
  { name: 'goodbye', what: 'SIGTERM: goodbye with the bootId, exit 0; the server sees it offline at once (reason goodbye)' },
  { name: 'update-full', what: 'an update command (R1): the full file downloaded, verified, installed, update-result completed with everything installed' },
  { name: 'ack-before-report', what: 'the ack (same commandId, notificationId, attempt) is sent at once, before any download and before the update-result' },
  { name: 'scan-now', what: 'R3: a scan command after the update is answered by one scan-result with its commandId and scanId, and no ack' },
  { name: 'duplicate-command', what: 'the same update command again: the same ack and update-result again (same messageIds), nothing downloaded or installed' },
  { name: 'patch', what: 'each patch format declared in hello: an incremental download in that format, applied, verified (formats= lists exactly the declared ones; none declared: never asks for a patch)' },
  { name: 'retry-after', what: 'R6: four 503 + Retry-After: 1 answers, each asked again after at least 1 s, with random jitter, then installed' },
  { name: 'bad-digest', what: 'a download whose bytes do not have the command\'s sha256 is never installed: update-result failed with an error, the old version still installed' },
  { name: 'independent', what: 'R8: hello says Independent mode; the rules leave it alone (no command), an admin\'s update-now updates it' },
  { name: 'raised-target', what: 'R7: a newer version published while it downloads; the next round of the same notification brings it to the newest' },
  { name: 'reconnect', what: 'R2: an outdated agent that restarts is updated at once after its hello' },
  { name: 'boot-id', what: 'a dropped connection: it reconnects by itself and says hello again with the same bootId; a restart: a new bootId' },
  { name: 'resend', what: 'R4: offline at the announcement, it acknowledges the attempt that reaches it after it is back; no attempt follows the ack' },
  { name: 'refused-spoofed-id', what: 'a message on its routing key naming another agent is refused (agent-id-mismatch): the agent gets message-refused, acknowledges it, answers nothing, carries on' },
  { name: 'refused-oversized', what: 'a body over 64 KiB on its routing key is refused (too-large): message-refused with the AMQP message id, handled as above' },
  { name: 'refused-stale', what: 'a message whose sentAt is days old is refused (stale): message-refused with its messageId, handled as above' },
  { name: 'foreign-command', what: 'a command naming another agent, and a command type it does not know, are acknowledged to the broker and ignored: no ack, no download' },
];

export type CheckName = (typeof CHECKS)[number]['name'];

export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  ms: number;
}

class CheckFailed extends Error {}

function must(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

/** Reports the checks of one scenario; whatever is not reported when it ends has failed. */
class Reporter {
  private started = Date.now();
  readonly results: CheckResult[] = [];

  constructor(
    readonly names: readonly string[],
    private readonly onResult: (r: CheckResult) => void,
  ) {}

  pass(name: string, detail: string): void {
    this.report({ name, ok: true, detail, ms: Date.now() - this.started });
  }

  fail(name: string, detail: string): void {
    this.report({ name, ok: false, detail, ms: Date.now() - this.started });
  }

  /** Runs one check's body: its failure is that check's, and the scenario goes on. */
  async check(name: string, body: () => Promise<string>): Promise<boolean> {
    try {
      this.pass(name, await body());
      return true;
    } catch (err) {
      this.fail(name, messageOf(err));
      return false;
    }
  }

  /** Every check not reported yet fails with `why`. */
  failRest(why: string): void {
    for (const name of this.names) if (!this.results.some((r) => r.name === name)) this.fail(name, why);
  }

  private report(result: CheckResult): void {
    if (!this.names.includes(result.name) || this.results.some((r) => r.name === result.name)) return;
    this.results.push(result);
    this.onResult(result);
    this.started = Date.now();
  }
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').slice(0, 400);

export interface Scenario {
  checks: readonly CheckName[];
  /** `settings`: changes the rules' settings, so it runs when nothing else does. */
  alone?: boolean;
  run(kit: ConformanceKit, r: Reporter): Promise<void>;
}

/**
 * The longest silence between two heartbeats the kit accepts: two thirds of the server's timeout
 * (four beats of 0.5 s). A beat late here and there is a busy machine (the kit reads the beats
 * through the broker's trace); an agent silent that long is one late beat from being offline.
 */
const MAX_BEAT_GAP_MS = (KIT_TIMINGS.heartbeatTimeoutMs * 2) / 3;

/** The type of a component only this scenario uses (component types are lower-case words and dashes). */
const typeFor = (name: string) => `kit-${name}`;

const sentBy = (kit: ConformanceKit, id: string, type?: string): Body[] => kit.trace.fromAgent(id, type);
const sentTo = (kit: ConformanceKit, id: string, type?: string): Body[] => kit.trace.toAgent(id, type);
const at = (m: Body): number => m._at as number;
const strip = (m: Body): Body => Object.fromEntries(Object.entries(m).filter(([k]) => k !== '_at'));

/** Waits for the agent's next hello (after `after` hellos), checks it against the protocol's schema. */
async function helloOf(kit: ConformanceKit, id: string, after = 0, timeoutMs = 30_000): Promise<Body> {
  const hello = await waitFor(async () => sentBy(kit, id, 'hello')[after], { what: `a hello from ${id} (hello number ${after + 1})`, timeoutMs });
  const parsed = parseAgentMessage(Buffer.from(JSON.stringify(strip(hello))), `agent.${id}.hello`);
  must(parsed.ok, `the hello is not valid: ${parsed.ok ? '' : `${parsed.reason}: ${parsed.detail}`}`);
  return hello;
}

/** Launches the agent with `components` seeded and waits until the server has it online; its hello. */
async function online(kit: ConformanceKit, id: string, components: string, options: { independent?: boolean } = {}): Promise<{ run: AgentRun; hello: Body }> {
  const before = sentBy(kit, id, 'hello').length;
  const run = kit.launch(id, { components, ...options });
  const hello = await helloOf(kit, id, before);
  await kit.waitOnline(id, true);
  return { run, hello };
}

const completedTo = (type: string, version: string) => (e: TimelineEntry) =>
  e.type === 'UpdateCompleted' && Array.isArray(e.components) && (e.components as Array<{ type: string; toVersion: string }>).some((c) => c.type === type && c.toVersion === version);

/** A new version of `base`: 16 small edits, so every patch format makes a small patch of it. */
function edited(base: Buffer): Buffer {
  const next = Buffer.from(base);
  for (let i = 0; i < 16; i++) randomBytes(24).copy(next, Math.floor(Math.random() * (next.length - 24)));
  return next;
}

const presenceScenario: Scenario = {
  checks: ['hello', 'heartbeat', 'goodbye'],
  async run(kit, r) {
    const id = kit.agentId('presence');
    const type = typeFor('presence');
    const run = kit.launch(id, { components: `${type}=1.0` });
    let hello: Body | undefined;
    if (
      !(await r.check('hello', async () => {
        hello = await helloOf(kit, id);
        must(typeof hello.bootId === 'string', 'the hello has no bootId');
        const components = hello.components as Array<{ type: string; version: string }>;
        must(components.length === 1 && components[0]!.type === type && components[0]!.version === '1.0', `the hello lists ${JSON.stringify(components)}, not AGENT_COMPONENTS (${type}=1.0)`);
        const shape = await kit.queueShape(id);
        must(shape, `no queue herald.agent.${id}`);
        must(shape.exclusive && !shape.durable && shape.autoDelete, `herald.agent.${id} is not exclusive, non-durable and auto-delete: ${JSON.stringify(shape)}`);
        must(shape.consumers >= 1, `nobody consumes herald.agent.${id}`);
        await kit.waitOnline(id, true);
        return `bootId ${String(hello.bootId)}, components ${type}=1.0, patchFormats ${JSON.stringify(hello.patchFormats ?? null)}; queue exclusive and consumed; online`;
      }))
    )
      return r.failRest('no hello');

    await r.check('heartbeat', async () => {
      const from = Date.now();
      await sleep(KIT_TIMINGS.heartbeatTimeoutMs + 1_500);
      const presence = await kit.presence(id);
      must(presence?.status === 'online', `offline ${Date.now() - from} ms after its hello (server timeout ${KIT_TIMINGS.heartbeatTimeoutMs} ms): ${presence?.disconnectReason ?? ''}`);
      const beats = sentBy(kit, id, 'heartbeat').filter((b) => at(b) >= at(hello!));
      must(beats.length >= 3, `${beats.length} heartbeats in ${Date.now() - from} ms with AGENT_HEARTBEAT_SECONDS=${KIT_TIMINGS.heartbeatSeconds}`);
      const wrong = beats.find((b) => b.bootId !== hello!.bootId);
      must(!wrong, `a heartbeat with bootId ${String(wrong?.bootId)}, not the hello's ${String(hello!.bootId)}`);
      const times = [at(hello!), ...beats.map(at)];
      const gap = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
      must(gap <= MAX_BEAT_GAP_MS, `${gap} ms between two beats (interval ${KIT_TIMINGS.heartbeatSeconds * 1000} ms)`);
      return `${beats.length} heartbeats in ${((Date.now() - from) / 1000).toFixed(1)} s, at most ${gap} ms apart, all with the hello's bootId; online past the ${KIT_TIMINGS.heartbeatTimeoutMs / 1000} s timeout`;
    });

    await r.check('goodbye', async () => {
      const code = await run.stop();
      must(code === 0, code === null ? 'still running 10 s after SIGTERM' : `exit code ${code} after SIGTERM`);
      const goodbye = sentBy(kit, id, 'goodbye')[0];
      must(goodbye, 'no goodbye before it exited');
      must(goodbye.bootId === hello!.bootId, `goodbye with bootId ${String(goodbye.bootId)}, not the hello's`);
      // The reason tells a goodbye from the heartbeat timeout, so the wait need not race it.
      await kit.waitOnline(id, false);
      const presence = await kit.presence(id);
      must(presence?.disconnectReason === 'goodbye', `offline for ${String(presence?.disconnectReason)}, not the goodbye`);
      return 'goodbye with the bootId, exit 0, offline at once';
    });
  },
};

const updateScenario: Scenario = {
  checks: ['update-full', 'ack-before-report', 'scan-now', 'duplicate-command', 'patch'],
  async run(kit, r) {
    const id = kit.agentId('update');
    const type = typeFor('update');
    const { hello } = await online(kit, id, `${type}=1.0`);
    const v11 = randomBytes(256 * 1024);
    await kit.publish(type, '1.1', v11);

    let update: Body | undefined;
    if (
      !(await r.check('update-full', async () => {
        const entries = await kit.waitForEntry(id, completedTo(type, '1.1'), 'the update to 1.1 (UpdateCompleted)');
        const done = entries.find(completedTo(type, '1.1'))!;
        const c = (done.components as Array<Record<string, unknown>>).find((x) => x.type === type)!;
        must(c.mode === 'full' && c.fromVersion === '1.0', `reported ${JSON.stringify(c)}, expected mode full from 1.0`);
        must(c.bytes === v11.length, `reported ${String(c.bytes)} bytes downloaded for a ${v11.length}-byte file`);
        must(done.targetReached === true, `the server says the target was not reached: installed ${JSON.stringify(done.installed)}`);
        update = sentTo(kit, id, 'update')[0];
        must(update, 'no update command on record');
        const downloads = kit.proxy.of(type, '1.1').filter((q) => q.status === 200);
        must(downloads.length >= 1, 'nothing was downloaded');
        return `full file of ${v11.length} bytes in ${downloads.length} download(s), update-result completed, installed ${type} 1.1`;
      }))
    )
      return r.failRest('the update did not complete');

    await r.check('ack-before-report', async () => {
      const acks = sentBy(kit, id, 'ack').filter((a) => a.commandId === update!.commandId);
      must(acks.length >= 1, `no ack for commandId ${String(update!.commandId)}`);
      const ack = acks[0]!;
      must(ack.notificationId === update!.notificationId && ack.attempt === update!.attempt, `the ack says notificationId ${String(ack.notificationId)} attempt ${String(ack.attempt)}`);
      const result = sentBy(kit, id, 'update-result').find((m) => m.commandId === update!.commandId)!;
      const firstDownload = Math.min(...kit.proxy.of(type, '1.1').map((q) => q.startedAt));
      must(at(ack) <= firstDownload, `the ack came ${at(ack) - firstDownload} ms after the download started`);
      must(at(ack) < at(result), 'the update-result came before the ack');
      const delay = at(ack) - at(update!);
      must(delay < KIT_TIMINGS.ackTimeoutSeconds * 1000, `the ack came ${delay} ms after the command (ackTimeoutSeconds ${KIT_TIMINGS.ackTimeoutSeconds})`);
      return `ack ${delay} ms after the command, before the download and the report`;
    });

    await r.check('scan-now', async () => {
      await kit.waitForEntry(id, (e) => e.type === 'ScanCompleted', 'the scan after the update (ScanCompleted)');
      const scan = sentTo(kit, id, 'scan')[0]!;
      const results = sentBy(kit, id, 'scan-result').filter((m) => m.commandId === scan.commandId);
      must(results.length === 1, `${results.length} scan-results for the scan command`);
      must(results[0]!.scanId === scan.scanId, `scan-result names scanId ${String(results[0]!.scanId)}, the command ${String(scan.scanId)}`);
      must(!sentBy(kit, id, 'ack').some((a) => a.commandId === scan.commandId), 'it sent an ack for the scan command (ack answers update commands only)');
      return `scan-result ${String(results[0]!.outcome)} with the scan's commandId and scanId`;
    });

    await r.check('duplicate-command', async () => {
      const entriesBefore = (await kit.entries(id)).length;
      const downloadsBefore = kit.proxy.of(type).length;
      const result = sentBy(kit, id, 'update-result').find((m) => m.commandId === update!.commandId)!;
      await kit.publishRaw('herald.agent.outbound', id, Buffer.from(JSON.stringify(strip(update!))), { messageId: String(update!.commandId), type: 'update' });
      await waitFor(async () => sentBy(kit, id, 'update-result').filter((m) => m.commandId === update!.commandId).length >= 2, {
        what: 'the update-result to be sent again for the copy',
        timeoutMs: 15_000,
      });
      const results = sentBy(kit, id, 'update-result').filter((m) => m.commandId === update!.commandId);
      must(results[1]!.messageId === result.messageId, `the result was sent again with a new messageId (${String(results[1]!.messageId)}, was ${String(result.messageId)})`);
      // The ack again may have a new messageId (section 3): the server counted the first one.
      must(sentBy(kit, id, 'ack').filter((m) => m.commandId === update!.commandId).length >= 2, 'no ack was sent again for the copy');
      await sleep(1_000);
      must(kit.proxy.of(type).length === downloadsBefore, 'it downloaded again');
      must((await kit.entries(id)).length === entriesBefore, 'the server recorded something new');
      return 'the ack and the same update-result (its messageId) again, nothing downloaded';
    });

    await r.check('patch', async () => {
      const formats = Array.isArray(hello.patchFormats) ? (hello.patchFormats as string[]) : [];
      if (formats.length === 0) {
        const asked = kit.proxy.of(type).filter((q) => q.query.has('from'));
        must(asked.length === 0, `declares no patch format but asked for a patch: ${asked.map((q) => q.query.toString()).join(' ')}`);
        return 'declares no patch format and never asks for a patch: full files only';
      }
      let base: Buffer = v11;
      let from = '1.1';
      const done: string[] = [];
      for (const [i, format] of formats.entries()) {
        const version = `1.${i + 2}`;
        const next = edited(base);
        kit.proxy.rule(type, version, { onlyFormat: format });
        await kit.publish(type, version, next);
        const entries = await kit.waitForEntry(id, completedTo(type, version), `the update to ${version} with a ${format} patch`, 60_000);
        const c = (entries.find(completedTo(type, version))!.components as Array<Record<string, unknown>>).find((x) => x.type === type)!;
        const served = kit.proxy.of(type, version).filter((q) => q.status === 200);
        must(served.length > 0, `nothing downloaded for ${version}`);
        const asked = served[0]!.query;
        must(asked.get('from') === from, `asked from=${String(asked.get('from'))}, it has ${from}`);
        const listed = (asked.get('formats') ?? '').split(',').filter(Boolean);
        must(listed.length === formats.length && formats.every((f) => listed.includes(f)), `formats=${asked.get('formats') ?? ''} is not what hello declared (${formats.join(',')})`);
        must(served.some((q) => q.delivery === 'incremental' && q.patchFormat === format), `no ${format} patch was served (got ${served.map((q) => `${q.delivery}/${q.patchFormat ?? ''}`).join(', ')})`);
        must(c.mode === 'incremental', `reported mode ${String(c.mode)} for the ${format} patch`);
        done.push(`${format} (${String(c.bytes)} bytes)`);
        base = next;
        from = version;
      }
      return `applied ${done.join(', ')}`;
    });
  },
};

const retryAfterScenario: Scenario = {
  checks: ['retry-after'],
  async run(kit, r) {
    const id = kit.agentId('retry-after');
    const type = typeFor('retry-after');
    await online(kit, id, `${type}=1.0`);
    const refusals = 4;
    kit.proxy.rule(type, '1.1', { refuse: refusals, retryAfterSeconds: 1 });
    await kit.publish(type, '1.1', randomBytes(64 * 1024));
    await r.check('retry-after', async () => {
      await kit.waitForEntry(id, completedTo(type, '1.1'), 'the update once the proxy lets it through', 60_000);
      const asked = kit.proxy.of(type, '1.1').sort((a, b) => a.startedAt - b.startedAt);
      must(asked.filter((q) => q.action === 'refused').length === refusals, `${asked.length} requests in all`);
      const gaps = asked.slice(1, refusals + 1).map((q, i) => q.startedAt - asked[i]!.endedAt);
      must(
        gaps.every((g) => g >= 990),
        `asked again ${gaps.join(', ')} ms after a 503 with Retry-After: 1`,
      );
      const spread = Math.max(...gaps) - Math.min(...gaps);
      must(spread >= 20, `waited ${gaps.join(', ')} ms: no jitter (Retry-After plus a random delay, so a fleet does not come back in step)`);
      return `asked again after ${gaps.join(', ')} ms`;
    });
  },
};

const badDigestScenario: Scenario = {
  checks: ['bad-digest'],
  async run(kit, r) {
    const id = kit.agentId('bad-digest');
    const type = typeFor('bad-digest');
    await online(kit, id, `${type}=1.0`);
    kit.proxy.rule(type, '1.1', { corrupt: true });
    await kit.publish(type, '1.1', randomBytes(64 * 1024));
    await r.check('bad-digest', async () => {
      const result = await waitFor(async () => sentBy(kit, id, 'update-result')[0], { what: 'an update-result', timeoutMs: 90_000 });
      must(result.outcome === 'failed', `reported ${String(result.outcome)} after ${kit.proxy.of(type, '1.1').length} corrupted downloads`);
      must(typeof result.error === 'string' && result.error.length > 0, 'failed without an error');
      const installed = (result.installed as Array<{ type: string; version: string }>).find((c) => c.type === type);
      must(installed?.version === '1.0', `reports ${type} ${installed?.version ?? 'missing'} installed`);
      return `${kit.proxy.of(type, '1.1').length} corrupted download(s), reported failed ("${String(result.error).slice(0, 80)}"), still on 1.0`;
    });
  },
};

const independentScenario: Scenario = {
  checks: ['independent'],
  async run(kit, r) {
    const id = kit.agentId('independent');
    const type = typeFor('independent');
    await r.check('independent', async () => {
      const { hello } = await online(kit, id, `${type}=1.0`, { independent: true });
      must(hello.independentMode === true, 'the hello does not say independentMode: true (AGENT_INDEPENDENT=true)');
      await kit.publish(type, '1.1', randomBytes(32 * 1024));
      const entries = await kit.waitForEntry(id, (e) => e.type === 'TargetSkipped', 'the rules to leave it alone (TargetSkipped)');
      must(entries.find((e) => e.type === 'TargetSkipped')!.reason === 'no-privilege', 'skipped for another reason than no-privilege');
      await sleep(1_000);
      must(sentTo(kit, id, 'update').length === 0, 'it was sent an update');
      const res = await kit.system.http('notification-dispatch', 'POST', `/agents/${id}/update-now`);
      must(res.status === 200, `update-now answered ${res.status}`);
      const after = await kit.waitForEntry(id, completedTo(type, '1.1'), 'the update the admin asked for');
      must(after.some((e) => e.type === 'UpdateTargeted' && e.trigger === 'admin'), 'the update was not the admin\'s');
      return 'independentMode in hello, skipped by the rules (no-privilege), updated when the admin asked';
    });
  },
};

const raisedTargetScenario: Scenario = {
  checks: ['heartbeat-in-download', 'raised-target'],
  async run(kit, r) {
    const id = kit.agentId('raised-target');
    const type = typeFor('raised-target');
    await online(kit, id, `${type}=1.0`);
    let release!: () => void;
    kit.proxy.rule(type, '1.1', { holdUntil: new Promise<void>((resolve) => (release = resolve)) });
    try {
      await kit.publish(type, '1.1', randomBytes(64 * 1024));
      const held = await waitFor(async () => kit.proxy.of(type, '1.1')[0], { what: 'the agent to start downloading 1.1', timeoutMs: 30_000 });
      const raised = (async () => {
        await kit.publish(type, '1.2', randomBytes(64 * 1024));
        await kit.waitForEntry(id, (e) => e.type === 'NotificationTargetRaised', 'the open notification to be raised to 1.2');
      })();
      raised.catch(() => undefined);
      await r.check('heartbeat-in-download', async () => {
        // The download is held for longer than the server's heartbeat timeout.
        await sleep(Math.max(0, held.startedAt + KIT_TIMINGS.heartbeatTimeoutMs + 1_500 - Date.now()));
        const presence = await kit.presence(id);
        must(presence?.status === 'online', `offline while downloading (${presence?.disconnectReason ?? ''}): no heartbeats during the download`);
        const beats = sentBy(kit, id, 'heartbeat').filter((b) => at(b) >= held.startedAt).map(at);
        const times = [held.startedAt, ...beats, Date.now()];
        const gap = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
        must(gap <= MAX_BEAT_GAP_MS, `${gap} ms without a heartbeat while the download was in progress`);
        return `${beats.length} heartbeats in the ${((Date.now() - held.startedAt) / 1000).toFixed(1)} s the download was held, at most ${gap} ms apart`;
      });
      await r.check('raised-target', async () => {
        await raised;
        release();
        const entries = await kit.waitForEntry(id, completedTo(type, '1.2'), 'the next round to bring 1.2', 60_000);
        const commands = sentTo(kit, id, 'update');
        must(commands.length >= 2, `${commands.length} update commands`);
        must(new Set(commands.map((c) => c.notificationId)).size === 1, 'the second round came as another notification');
        must((commands.at(-1)!.attempt as number) > (commands[0]!.attempt as number), 'the second round has no higher attempt');
        const last = entries.filter((e) => e.type === 'UpdateCompleted').at(-1)!;
        must(last.targetReached === true, 'the last report did not reach the target');
        return `installed 1.1, then 1.2 in attempt ${String(commands.at(-1)!.attempt)} of the same notification`;
      });
    } finally {
      release();
    }
  },
};

const reconnectScenario: Scenario = {
  checks: ['reconnect'],
  async run(kit, r) {
    const id = kit.agentId('reconnect');
    const type = typeFor('reconnect');
    await r.check('reconnect', async () => {
      const { run } = await online(kit, id, `${type}=1.0`);
      must((await run.stop()) === 0, 'it did not exit 0 on SIGTERM');
      await kit.waitOnline(id, false);
      await kit.publish(type, '1.1', randomBytes(32 * 1024));
      await kit.waitForEntry(id, (e) => e.type === 'TargetSkipped' && e.reason === 'offline', 'the skip: it is offline');
      const hellos = sentBy(kit, id, 'hello').length;
      kit.launch(id);
      const hello = await helloOf(kit, id, hellos);
      const entries = await kit.waitForEntry(id, completedTo(type, '1.1'), 'the update on reconnect');
      const targeted = entries.find((e) => e.type === 'UpdateTargeted');
      must(targeted?.trigger === 'reconnect', `targeted by ${String(targeted?.trigger)}, not the reconnect`);
      const sent = entries.find((e) => e.type === 'AttemptSent')!;
      const delay = Date.parse(sent.at) - at(hello);
      must(delay < 5_000, `the command came ${delay} ms after the hello`);
      return `updated on its hello after the restart (command ${Math.max(0, delay)} ms after it)`;
    });
  },
};

/** Closes the agent's own connection (the one consuming its queue), as a network failure would. */
async function dropConnection(kit: ConformanceKit, id: string): Promise<void> {
  // Tab-separated rows: the JSON formatter writes pids in a form close_connection does not take.
  const rows = async (...args: string[]) => (await rabbitmqctl(...args, '--no-table-headers')).split('\n').filter(Boolean).map((line) => line.split('\t'));
  const channel = (await rows('list_consumers', '-p', kit.system.vhost.name, 'queue_name', 'channel_pid')).find(([queue]) => queue === `herald.agent.${id}`)?.[1];
  must(channel, `nobody consumes herald.agent.${id}`);
  const connection = (await rows('list_channels', 'pid', 'connection')).find(([pid]) => pid === channel)?.[1];
  must(connection, 'its connection is gone already');
  await rabbitmqctl('close_connection', connection, 'conformance: the network dropped the connection');
}

const bootIdScenario: Scenario = {
  checks: ['boot-id'],
  async run(kit, r) {
    const id = kit.agentId('boot-id');
    const type = typeFor('boot-id');
    await r.check('boot-id', async () => {
      const { run, hello } = await online(kit, id, `${type}=1.0`);
      await dropConnection(kit, id);
      const dropped = Date.now();
      const again = await helloOf(kit, id, 1, 30_000);
      must(again.bootId === hello.bootId, `a new bootId (${String(again.bootId)}) after a reconnect of the same process`);
      await kit.waitOnline(id, true);
      await sleep(1_000);
      must(sentBy(kit, id, 'heartbeat').filter((b) => at(b) > at(again)).every((b) => b.bootId === hello.bootId), 'heartbeats with another bootId after the reconnect');
      await run.stop();
      kit.launch(id);
      const restarted = await helloOf(kit, id, 2);
      must(restarted.bootId !== hello.bootId, 'the same bootId after a restart of the process');
      return `hello again ${at(again) - dropped} ms after the connection dropped, with the same bootId; a new one after the restart`;
    });
  },
};

const resendScenario: Scenario = {
  checks: ['resend'],
  alone: true,
  async run(kit, r) {
    const id = kit.agentId('resend');
    const type = typeFor('resend');
    await kit.settings({ includeIndependentAndOffline: true, updateOnReconnect: false });
    try {
      await r.check('resend', async () => {
        const { run } = await online(kit, id, `${type}=1.0`);
        await run.stop();
        await kit.waitOnline(id, false);
        await kit.publish(type, '1.1', randomBytes(32 * 1024));
        await kit.waitForEntry(id, (e) => e.type === 'ResendScheduled', 'the first resend to be scheduled');
        kit.launch(id);
        const entries = await kit.waitForEntry(id, completedTo(type, '1.1'), 'the update by a resend', 60_000);
        const sent = entries.filter((e) => e.type === 'AttemptSent');
        const last = sent.at(-1)!.attempt!;
        must(last >= 2, 'the first attempt reached it although it was offline');
        const acked = entries.find((e) => e.type === 'NotificationAcknowledged');
        must(acked?.attempt === last, `acknowledged attempt ${String(acked?.attempt)}, the last sent was ${last}`);
        must(sentBy(kit, id, 'ack').some((a) => a.attempt === last), `no ack for attempt ${last}`);
        await sleep(KIT_TIMINGS.resendIntervalSeconds * 2_000 + 500);
        const after = (await kit.entries(id)).filter((e) => e.type === 'AttemptSent');
        must(after.length === sent.length, 'an attempt followed the ack');
        return `attempt ${last} reached it after ${last - 1} failed (no queue), acknowledged; none followed`;
      });
    } finally {
      await kit.settings({});
    }
  },
};

const refusalScenario: Scenario = {
  checks: ['refused-spoofed-id', 'refused-oversized', 'refused-stale', 'foreign-command'],
  async run(kit, r) {
    const id = kit.agentId('refusals');
    const type = typeFor('refusals');
    const { hello } = await online(kit, id, `${type}=1.0`);
    const hellos = () => sentBy(kit, id, 'hello').length;
    /** Waits until the agent's queue holds nothing, delivered or not: it basic.acked what came. */
    const drained = (what: string) =>
      waitFor(async () => {
        const depth = await kit.queueDepth(id);
        return depth !== null && depth.ready === 0 && depth.unacked === 0;
      }, { what, timeoutMs: 5_000 });
    const envelope = (body: Body) => ({ schemaVersion: 1, messageId: randomUUID(), agentId: id, sentAt: new Date().toISOString(), ...body });

    /** Sends a bad message as the agent, and checks the agent is told and carries on. */
    const refused = async (reason: string, send: () => Promise<string>) => {
      const before = sentTo(kit, id, 'message-refused').length;
      const helloCount = hellos();
      const messageId = await send();
      const notice = await waitFor(async () => sentTo(kit, id, 'message-refused').slice(before).find((n) => n.reason === reason), {
        what: `the server to send message-refused (${reason}) to the agent`,
        timeoutMs: 10_000,
      });
      must(notice.refusedMessageId === messageId, `message-refused names ${String(notice.refusedMessageId)}, the message was ${messageId}`);
      await drained('the agent to acknowledge message-refused to the broker');
      await sleep(500);
      must(!sentBy(kit, id).some((m) => m.commandId === notice.commandId), 'it answered message-refused');
      must(hellos() === helloCount, 'it reconnected (a new hello)');
      must(sentBy(kit, id, 'heartbeat').some((b) => at(b) > at(notice)), 'no heartbeat since');
      return `told (message-refused ${reason}, ${String(notice.refusedMessageId)}), acknowledged, carried on`;
    };

    await r.check('refused-spoofed-id', () =>
      refused('agent-id-mismatch', async () => {
        const body = envelope({ type: 'heartbeat', bootId: hello.bootId, agentId: kit.agentId('someone-else') });
        await kit.publishRaw('herald.agent.inbound', `agent.${id}.heartbeat`, Buffer.from(JSON.stringify(body)), { messageId: body.messageId, type: 'heartbeat' });
        return body.messageId;
      }),
    );
    await r.check('refused-oversized', () =>
      refused('too-large', async () => {
        const messageId = randomUUID();
        const body = envelope({ type: 'heartbeat', bootId: hello.bootId, messageId, padding: 'x'.repeat(70 * 1024) });
        await kit.publishRaw('herald.agent.inbound', `agent.${id}.heartbeat`, Buffer.from(JSON.stringify(body)), { messageId, type: 'heartbeat' });
        return messageId;
      }),
    );
    await r.check('refused-stale', () =>
      refused('stale', async () => {
        const body = envelope({ type: 'heartbeat', bootId: hello.bootId, sentAt: new Date(Date.now() - 5 * 86_400_000).toISOString() });
        await kit.publishRaw('herald.agent.inbound', `agent.${id}.heartbeat`, Buffer.from(JSON.stringify(body)), { messageId: body.messageId, type: 'heartbeat' });
        return body.messageId;
      }),
    );
    await r.check('foreign-command', async () => {
      const helloCount = hellos();
      const other = kit.agentId('someone-else');
      const content = randomBytes(1024);
      const forged = {
        type: 'update',
        schemaVersion: 1,
        commandId: randomUUID(),
        agentId: other,
        sentAt: new Date().toISOString(),
        notificationId: randomUUID(),
        attempt: 1,
        components: [{ type, version: '9.0', sha256: sha256(content), size: content.length, url: `${kit.proxy.url}/components/${type}/versions/9.0/download` }],
      };
      const future = { type: 'defragment-now', schemaVersion: 1, commandId: randomUUID(), agentId: id, sentAt: new Date().toISOString() };
      for (const command of [forged, future]) {
        await kit.publishRaw('herald.agent.outbound', id, Buffer.from(JSON.stringify(command)), { messageId: command.commandId, type: command.type });
      }
      await drained('the agent to acknowledge both commands to the broker');
      await sleep(1_000);
      const answered = sentBy(kit, id).filter((m) => m.commandId === forged.commandId || m.commandId === future.commandId);
      must(answered.length === 0, `it answered: ${answered.map((m) => String(m.type)).join(', ')}`);
      must(kit.proxy.of(type, '9.0').length === 0, 'it downloaded what a command for another agent named');
      must(hellos() === helloCount, 'it reconnected (a new hello)');
      must((await kit.presence(id))?.status === 'online', 'it is no longer online');
      return 'both acknowledged to the broker and ignored';
    });
  },
};


/** In the order they run: side by side first, then each that changes the settings alone. */
export const SCENARIOS: readonly Scenario[] = [
  presenceScenario,
  updateScenario,
  retryAfterScenario,
  badDigestScenario,
  independentScenario,
  raisedTargetScenario,
  reconnectScenario,
  bootIdScenario,
  refusalScenario,
  resendScenario,
];

/** Runs the scenarios that hold any of `only` (all without it); results as they come. */
export async function runScenarios(kit: ConformanceKit, onResult: (r: CheckResult) => void, only?: ReadonlySet<string>): Promise<CheckResult[]> {
  const chosen = SCENARIOS.filter((s) => !only || s.checks.some((c) => only.has(c)));
  const play = async (s: Scenario): Promise<CheckResult[]> => {
    const names = only ? s.checks.filter((c) => only.has(c)) : s.checks;
    const reporter = new Reporter(names, onResult);
    try {
      await s.run(kit, reporter);
    } catch (err) {
      reporter.failRest(messageOf(err));
    }
    reporter.failRest('not reached');
    return reporter.results;
  };
  const together = await Promise.all(chosen.filter((s) => !s.alone).map(play));
  const alone: CheckResult[][] = [];
  for (const s of chosen.filter((s) => s.alone)) alone.push(await play(s));
  const results = [...together, ...alone].flat();
  const order = CHECKS.map((c) => c.name);
  return results.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
}
