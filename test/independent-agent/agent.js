#!/usr/bin/env node
'use strict';
/*
 * An independent Herald agent, written from docs/asyncapi.yaml alone: it imports nothing of
 * Herald's code, only amqplib, fetch and Node's built-ins. It proves the document is enough to
 * write an agent; test/conformance.e2e-spec.ts runs the conformance kit against it.
 *
 *   node test/independent-agent/agent.js --id pc-1 --amqp amqp://guest:guest@localhost:5672/ \
 *        --dir ./var/pc-1 [--component virus-pattern=17.0.0 ...] [--heartbeat-ms 30000]
 *        [--independent] [--retry-jitter-ms 1000]
 *
 * or configured as section 10 of the document says (what the conformance kit sets): AGENT_ID,
 * RABBITMQ_URL, AGENT_STATE_DIR, AGENT_COMPONENTS (type=version,...), AGENT_INDEPENDENT,
 * AGENT_HEARTBEAT_SECONDS. An argument wins over the environment.
 *
 * Installed components live in --dir: each file at <dir>/<type>/<version>, what is installed in
 * <dir>/installed.json, the commands already handled (and what was answered) in
 * <dir>/handled.json, so de-duplication survives a restart. --component seeds installed.json
 * the first time. Everything the agent does is printed to stdout as one JSON object per line.
 * SIGTERM or SIGINT: goodbye, then exit 0.
 */
const amqp = require('amqplib');
const { createHash, randomUUID } = require('node:crypto');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { Readable } = require('node:stream');
const { pipeline } = require('node:stream/promises');

// ---- the protocol's names (docs/asyncapi.yaml, section 1) ----
const INBOUND_EXCHANGE = 'herald.agent.inbound';
const COMMANDS_EXCHANGE = 'herald.agent.commands';
const queueOf = (agentId) => `herald.agent.${agentId}`;
const routingKeyOf = (agentId, type) => `agent.${agentId}.${type}`;

function parseArgs(argv, env = process.env) {
  const options = {
    id: env.AGENT_ID,
    amqpUrl: env.RABBITMQ_URL,
    dir: env.AGENT_STATE_DIR,
    components: (env.AGENT_COMPONENTS || '').split(',').filter(Boolean).map((c) => {
      const [type, version] = c.split('=');
      return { type, version };
    }),
    heartbeatMs: env.AGENT_HEARTBEAT_SECONDS ? Number(env.AGENT_HEARTBEAT_SECONDS) * 1000 : 30_000,
    independent: env.AGENT_INDEPENDENT === 'true',
    retryJitterMs: 1_000,
    maxDownloadTries: 20,
  };
  let seeded = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === '--id') options.id = value();
    else if (arg === '--amqp') options.amqpUrl = value();
    else if (arg === '--dir') options.dir = value();
    else if (arg === '--component') {
      if (!seeded) options.components = [];
      seeded = true;
      const [type, version] = value().split('=');
      options.components.push({ type, version });
    } else if (arg === '--heartbeat-ms') options.heartbeatMs = Number(value());
    else if (arg === '--retry-jitter-ms') options.retryJitterMs = Number(value());
    else if (arg === '--independent') options.independent = true;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!options.id || !/^[A-Za-z0-9_-]{1,64}$/.test(options.id)) throw new Error('--id: 1 to 64 letters, digits, "-" or "_"');
  if (!options.amqpUrl) throw new Error('--amqp is required');
  if (!options.dir) throw new Error('--dir is required');
  return options;
}

const log = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ event, at: new Date().toISOString(), ...fields })}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Versions: dot-separated numbers, compared part by part; a missing part is 0. */
function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] || 0) - (pb[i] || 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** Installed components and the memory of handled commands, kept in the agent's directory. */
class Disk {
  constructor(dir) {
    this.dir = dir;
    this.installedFile = path.join(dir, 'installed.json');
    this.handledFile = path.join(dir, 'handled.json');
  }

  async init(seed) {
    await fsp.mkdir(this.dir, { recursive: true });
    if (!fs.existsSync(this.installedFile)) await this.writeJson(this.installedFile, Object.fromEntries(seed.map((c) => [c.type, c.version])));
    if (!fs.existsSync(this.handledFile)) await this.writeJson(this.handledFile, {});
    this.handled = JSON.parse(await fsp.readFile(this.handledFile, 'utf8'));
  }

  async installed() {
    const map = JSON.parse(await fsp.readFile(this.installedFile, 'utf8'));
    return Object.entries(map)
      .map(([type, version]) => ({ type, version }))
      .sort((a, b) => a.type.localeCompare(b.type));
  }

  async setInstalled(type, version) {
    const map = JSON.parse(await fsp.readFile(this.installedFile, 'utf8'));
    map[type] = version;
    await this.writeJson(this.installedFile, map);
  }

  /** What was answered to a command, or undefined when it was never handled. */
  replies(commandId) {
    return this.handled[commandId];
  }

  async remember(commandId, replies) {
    this.handled[commandId] = replies;
    // A bounded memory: the oldest entries go first.
    const ids = Object.keys(this.handled);
    for (const old of ids.slice(0, Math.max(0, ids.length - 500))) delete this.handled[old];
    await this.writeJson(this.handledFile, this.handled);
  }

  async writeJson(file, value) {
    const tmp = `${file}.${process.pid}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(value, null, 2));
    await fsp.rename(tmp, file);
  }
}

class IndependentAgent {
  constructor(options) {
    this.options = options;
    this.id = options.id;
    this.bootId = randomUUID();
    this.disk = new Disk(options.dir);
    this.connection = null;
    this.channel = null;
    this.stopping = false;
    this.work = Promise.resolve();
    this.heartbeat = null;
  }

  async start() {
    await this.disk.init(this.options.components);
    this.heartbeat = setInterval(() => {
      if (this.channel) this.publish({ type: 'heartbeat', bootId: this.bootId }).catch((err) => log('warning', { message: `heartbeat: ${err.message}` }));
    }, this.options.heartbeatMs);
    this.connectLoop().catch((err) => log('warning', { message: `connect loop: ${err.message}` }));
  }

  /** Connects, sets up, waits for the connection to end, and again, with backoff, until stopped. */
  async connectLoop() {
    let delay = 200;
    while (!this.stopping) {
      try {
        const connection = await amqp.connect(this.options.amqpUrl, { clientProperties: { connection_name: `independent-agent ${this.id}` } });
        this.connection = connection;
        const closed = new Promise((resolve) => connection.once('close', resolve));
        connection.on('error', (err) => log('warning', { message: `connection: ${err.message}` }));
        await this.setUp(connection);
        delay = 200;
        await closed;
        this.channel = null;
        this.connection = null;
        if (!this.stopping) log('disconnected');
      } catch (err) {
        log('warning', { message: `could not connect or set up: ${err.message}` });
        this.channel = null;
        if (this.connection) await this.connection.close().catch(() => undefined);
        this.connection = null;
      }
      if (this.stopping) return;
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 5_000);
    }
  }

  /** Section 1: queue, binding, consumer, and only then hello. */
  async setUp(connection) {
    const ch = await connection.createConfirmChannel();
    ch.on('error', (err) => log('warning', { message: `channel: ${err.message}` }));
    const queue = queueOf(this.id);
    await ch.assertQueue(queue, { exclusive: true, durable: false, autoDelete: true });
    await ch.bindQueue(queue, COMMANDS_EXCHANGE, this.id);
    await ch.prefetch(16);
    await ch.consume(queue, (msg) => msg && this.onDelivery(ch, msg), { noAck: false });
    this.channel = ch;
    await this.publish({
      type: 'hello',
      bootId: this.bootId,
      hostname: os.hostname().slice(0, 255) || 'unknown',
      agentVersion: 'independent-0.1.0',
      independentMode: this.options.independent,
      components: await this.disk.installed(),
    });
    log('connected', { bootId: this.bootId });
  }

  /** A message of ours with the envelope every message carries. */
  envelope(body) {
    return { ...body, schemaVersion: 1, messageId: randomUUID(), agentId: this.id, sentAt: new Date().toISOString() };
  }

  /** Publishes (a copy keeps its messageId) and waits for the broker's confirm. */
  async publish(bodyOrMessage) {
    const message = bodyOrMessage.messageId ? bodyOrMessage : this.envelope(bodyOrMessage);
    const ch = this.channel;
    if (!ch) throw new Error(`not connected; ${message.type} not sent`);
    await new Promise((resolve, reject) => {
      ch.publish(
        INBOUND_EXCHANGE,
        routingKeyOf(this.id, message.type),
        Buffer.from(JSON.stringify(message)),
        { persistent: true, messageId: message.messageId, type: message.type, contentType: 'application/json' },
        (err) => (err ? reject(new Error(`broker refused ${message.type}`)) : resolve()),
      );
    });
    log('sent', { message });
    return message;
  }

  /** Commands one at a time, in order, so a copy never runs beside its original. */
  onDelivery(ch, msg) {
    this.work = this.work
      .then(() => this.onCommand(msg))
      .catch((err) => log('warning', { message: `command failed: ${err.message}` }))
      .finally(() => {
        try {
          ch.ack(msg);
        } catch {
          // the channel is gone; so is the queue, and the server will resend
        }
      });
  }

  async onCommand(msg) {
    let command;
    try {
      command = JSON.parse(msg.content.toString('utf8'));
    } catch {
      log('ignored', { reason: 'not JSON' });
      return;
    }
    const known = command && command.schemaVersion === 1 && (command.type === 'update' || command.type === 'scan') && typeof command.commandId === 'string';
    if (!known || command.agentId !== this.id) {
      log('ignored', { reason: 'not a command for this agent', command });
      return;
    }
    const replies = this.disk.replies(command.commandId);
    log('command', { command, duplicate: Boolean(replies) });
    if (replies) {
      // Handled before: answer the same again (same messageIds, so the server drops copies it has), do nothing else.
      for (const reply of replies) await this.publish(reply);
      return;
    }
    if (command.type === 'update') await this.onUpdate(command);
    else await this.onScan(command);
  }

  async onUpdate(command) {
    const ack = await this.publish({ type: 'ack', commandId: command.commandId, notificationId: command.notificationId, attempt: command.attempt });
    const applied = [];
    let error;
    for (const target of command.components) {
      const current = (await this.disk.installed()).find((c) => c.type === target.type);
      const fromVersion = current ? current.version : null;
      if (fromVersion !== null && compareVersions(fromVersion, target.version) >= 0) {
        applied.push({ type: target.type, fromVersion, toVersion: fromVersion, mode: 'none', bytes: 0 });
        continue;
      }
      try {
        const bytes = await this.downloadAndInstall(target);
        applied.push({ type: target.type, fromVersion, toVersion: target.version, mode: 'full', bytes });
      } catch (err) {
        error = `${target.type} ${target.version}: ${err.message}`.slice(0, 2000);
        break;
      }
    }
    const result = this.envelope({
      type: 'update-result',
      commandId: command.commandId,
      notificationId: command.notificationId,
      outcome: error ? 'failed' : 'completed',
      components: applied,
      installed: await this.disk.installed(),
      ...(error ? { error } : {}),
    });
    await this.disk.remember(command.commandId, [ack, result]);
    await this.publish(result);
    log('updated', { notificationId: command.notificationId, outcome: result.outcome, components: applied, error });
  }

  /**
   * Section 6, without patches: GET the url, on 503 wait Retry-After plus jitter and ask again,
   * stream to a temporary file while hashing, install only if the digest and size are the
   * command's.
   */
  async downloadAndInstall(target) {
    const typeDir = path.join(this.disk.dir, target.type);
    await fsp.mkdir(typeDir, { recursive: true });
    for (let attempt = 1; ; attempt++) {
      let res;
      try {
        res = await fetch(target.url);
      } catch (err) {
        if (attempt >= this.options.maxDownloadTries) throw new Error(`download failed: ${err.message}`);
        log('download-retry', { url: target.url, reason: err.message, seconds: 1 });
        await sleep(1_000 + Math.random() * this.options.retryJitterMs);
        continue;
      }
      if (res.status === 503 && attempt < this.options.maxDownloadTries) {
        if (res.body) await res.body.cancel();
        const header = Number(res.headers.get('retry-after'));
        const seconds = Number.isFinite(header) && header >= 0 ? header : 1;
        log('download-retry', { url: target.url, status: 503, seconds });
        await sleep(seconds * 1_000 + Math.random() * this.options.retryJitterMs);
        continue;
      }
      if (res.status !== 200 || !res.body) {
        if (res.body) await res.body.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      const delivery = res.headers.get('x-herald-delivery');
      if (delivery !== 'full') {
        await res.body.cancel();
        throw new Error(`expected the full file, got X-Herald-Delivery: ${delivery}`);
      }
      const tmp = path.join(typeDir, `.${target.version}.${randomUUID()}.part`);
      const hash = createHash('sha256');
      let bytes = 0;
      try {
        await pipeline(
          Readable.fromWeb(res.body),
          async function* (source) {
            for await (const chunk of source) {
              hash.update(chunk);
              bytes += chunk.length;
              yield chunk;
            }
          },
          fs.createWriteStream(tmp),
        );
        const digest = hash.digest('hex');
        if (digest !== target.sha256 || bytes !== target.size) {
          throw new Error(`digest mismatch: got ${bytes} bytes with SHA-256 ${digest}, the command says ${target.size} bytes with ${target.sha256}`);
        }
        await fsp.rename(tmp, path.join(typeDir, target.version));
      } catch (err) {
        await fsp.rm(tmp, { force: true });
        throw err;
      }
      await this.disk.setInstalled(target.type, target.version);
      log('installed', { type: target.type, version: target.version, bytes, sha256: target.sha256 });
      return bytes;
    }
  }

  async onScan(command) {
    // A stand-in for Scan Now: read every installed file.
    let outcome = 'clean';
    let error;
    try {
      for (const c of await this.disk.installed()) {
        const file = path.join(this.disk.dir, c.type, c.version);
        if (fs.existsSync(file)) await fsp.readFile(file);
      }
    } catch (err) {
      outcome = 'failed';
      error = err.message.slice(0, 2000);
    }
    const result = this.envelope({ type: 'scan-result', commandId: command.commandId, scanId: command.scanId, outcome, threatsFound: 0, ...(error ? { error } : {}) });
    await this.disk.remember(command.commandId, [result]);
    await this.publish(result);
    log('scanned', { scanId: command.scanId, outcome });
  }

  /** Goodbye (section 4), then close. */
  async stop() {
    this.stopping = true;
    clearInterval(this.heartbeat);
    await this.work.catch(() => undefined);
    if (this.channel) await this.publish({ type: 'goodbye', bootId: this.bootId }).catch((err) => log('warning', { message: `goodbye: ${err.message}` }));
    const connection = this.connection;
    this.channel = null;
    this.connection = null;
    if (connection) await connection.close().catch(() => undefined);
    log('stopped');
  }
}

/** Runs an agent of class `Agent` configured from argv and the environment until SIGTERM or SIGINT. */
function main(Agent = IndependentAgent) {
  let agent;
  try {
    agent = new Agent(parseArgs(process.argv.slice(2)));
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  agent.start().catch((err) => {
    process.stderr.write(`${err.stack || err.message}\n`);
    process.exit(1);
  });
}

if (require.main === module) main();

module.exports = { IndependentAgent, compareVersions, main, log };
