import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { SecretMasker, brokerUrlProblem, redactUrlLoosely, redactUrlsIn, urlPasswords } from '@herald/common';

/** A setting is missing or wrong; the message names each offending variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const positiveMs = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * A list of bearer tokens, comma-separated, each optionally named: "alice:9f8e…,ci:7a6b…". The
 * name (default "token-<n>") is what the audit trail records as who made a change.
 */
const tokenList = z
  .string()
  .default('')
  .transform((raw, ctx) => {
    const tokens = raw
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean)
      .map((entry, i) => {
        const m = /^([a-z0-9][a-z0-9._-]{0,63}):(.+)$/i.exec(entry);
        return m ? { name: m[1]!, token: m[2]! } : { name: `token-${i + 1}`, token: entry };
      });
    for (const t of tokens) {
      if (t.token.length < 16) ctx.addIssue({ code: 'custom', message: `token "${t.name}" is shorter than 16 characters` });
    }
    return tokens;
  });
export type TokenList = z.infer<typeof tokenList>;

/** One amqp(s):// URL, or several comma-separated; each one checked, named by its place, its password hidden. */
const brokerUrlList = z.string().superRefine((raw, ctx) => {
  const urls = raw.split(',').map((u) => u.trim());
  if (urls.every((u) => u === '')) ctx.addIssue({ code: 'custom', message: 'names no URL' });
  urls.forEach((url, i) => {
    const problem = url === '' ? (urls.length > 1 ? 'is empty' : null) : brokerUrlProblem(url);
    if (problem) ctx.addIssue({ code: 'custom', message: `${urls.length > 1 ? `URL ${i + 1} of ${urls.length} ` : ''}(${redactUrlLoosely(url)}) ${problem}` });
  });
});

/**
 * PEM certificates (one or more, concatenated): the certificate authorities trusted for a TLS
 * connection. Given as text, or (the usual way) as the path of a PEM file in <NAME>_FILE.
 */
const pemCertificates = z.string().superRefine((pem, ctx) => {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must be PEM certificates (-----BEGIN CERTIFICATE-----); to name a file, set it in the _FILE variable instead' });
    return;
  }
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `certificate ${i + 1} of ${blocks.length} cannot be read: ${(err as Error).message}` });
    }
  });
});

/** An IPv4 or IPv6 address to listen on: 127.0.0.1 (this host only), 0.0.0.0 or :: (every interface), or one interface's. */
const bindAddress = (fallback: string) =>
  z
    .string()
    .refine((v) => isIP(v) !== 0, 'must be an IP address (127.0.0.1: this host only; 0.0.0.0: every interface)')
    .default(fallback);

/** Settings every service reads from its environment. */
export const BaseConfig = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/herald'),
  /**
   * The broker: one amqp(s):// URL, or the nodes of one cluster, comma-separated. Connections go
   * to one node at a time and move on to the next when it fails.
   */
  RABBITMQ_URL: brokerUrlList.default('amqp://guest:guest@127.0.0.1:5672'),
  /**
   * The certificate authorities an amqps:// broker's certificate must chain to, instead of the
   * system's (usually given as RABBITMQ_CA_FILE, the path of a PEM file). With it every URL in
   * RABBITMQ_URL must be amqps://: a CA with a plain connection would promise TLS and not give it.
   */
  RABBITMQ_CA: pemCertificates.optional(),
  /**
   * AMQP heartbeat. The broker drops a connection silent for two of these: a process whose event
   * loop is stalled that long (a loaded machine) loses its connection; a dead peer is noticed after as long.
   */
  RABBITMQ_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(600).default(30),
  /** While reconnecting, a publish waits this long for the connection before it fails (and is retried later). */
  RABBITMQ_PUBLISH_WAIT_MS: positiveMs(15_000),
  /** One attempt to connect to one broker node gives up after this long (a node that does not answer). */
  RABBITMQ_CONNECT_TIMEOUT_MS: positiveMs(10_000),
  /** Delay before the first reconnect attempt; it doubles with every failed one, with ±20 % jitter… */
  RABBITMQ_RECONNECT_DELAY_MS: positiveMs(100),
  /** …up to this. */
  RABBITMQ_RECONNECT_MAX_DELAY_MS: positiveMs(5_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * How long to keep trying an unreachable database or broker at start before giving up (exit
   * code 1). Long enough for a broker or database that starts at the same time and slowly.
   */
  STARTUP_TIMEOUT_MS: positiveMs(120_000),
  /** On SIGTERM, how long in-flight messages may take to finish before the connection closes. */
  SHUTDOWN_DRAIN_MS: positiveMs(10_000),
  OUTBOX_POLL_INTERVAL_MS: positiveMs(500),
  /**
   * Connections the kernel holds for the HTTP server before it accepts them (listen backlog,
   * capped by net.core.somaxconn). A fleet that hears of a version at once connects at once: with
   * Node's 511, the rest are dropped after the handshake and their requests hang for minutes.
   */
  HTTP_LISTEN_BACKLOG: z.coerce.number().int().min(1).max(65_535).default(4096),
  /**
   * The address the HTTP server listens on. This host only by default: the admin API is not
   * for the network unless ops say so (0.0.0.0 in a container, whose published ports decide).
   */
  HTTP_BIND_ADDRESS: bindAddress('127.0.0.1'),
  /** GET /health/ready fails while the oldest unpublished outbox message is older than this. */
  READY_MAX_OUTBOX_LAG_MS: positiveMs(60_000),
  /** Bearer tokens that may read and change (settings, privileges, checks). */
  ADMIN_TOKENS: tokenList,
  /** Bearer tokens that may only read. */
  READ_TOKENS: tokenList,
  /** When set, GET /metrics requires this bearer token; otherwise it is open (protect it on the network). */
  METRICS_TOKEN: z.string().min(16).optional(),
  /**
   * The most messages a parking queue keeps; past it the oldest is dropped (and counted). Applies
   * to parking queues declared from now on: an existing one keeps the bounds it was declared with.
   */
  PARKING_MAX_MESSAGES: z.coerce.number().int().min(1).default(10_000),
  /** The most bytes of message bodies a parking queue keeps (64 MiB); past it the oldest is dropped (and counted). */
  PARKING_MAX_BYTES: z.coerce.number().int().min(1024).default(64 * 1024 * 1024),
});
export type BaseConfig = z.infer<typeof BaseConfig>;

/**
 * The injection token of a service's validated settings (loaded once, at start-up). As a type it
 * is the settings every service has; a service injects its own full settings with
 * `@Inject(ServiceConfig) private readonly config: NotificationDispatchConfig`.
 */
export abstract class ServiceConfig extends (class {} as unknown as abstract new () => BaseConfig) {}

/** An http(s) URL; z.url() alone would accept "localhost:3001" (scheme "localhost:") or file://. */
const httpUrl = () => z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** "true" or "false" (not "1", "yes" or "on": one spelling, so a typo is an error, not a silent false). */
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true');

export const configFields = { port, positiveMs, httpUrl, bindAddress, flag, tokens: () => tokenList };

/**
 * Settings that pass one by one but not together: a CA for TLS with a broker URL that is not
 * amqps://. Throws a ConfigError naming them; runService calls it after loadConfig.
 */
export function checkBrokerTls(config: Pick<BaseConfig, 'RABBITMQ_URL' | 'RABBITMQ_CA'>): void {
  if (config.RABBITMQ_CA === undefined) return;
  const urls = config.RABBITMQ_URL.split(',').map((u) => u.trim()).filter(Boolean);
  const plain = urls.flatMap((url, i) => (/^amqps:\/\//i.test(url) ? [] : [urls.length > 1 ? `URL ${i + 1} of ${urls.length}` : 'the URL']));
  if (plain.length > 0) {
    throw new ConfigError(`invalid configuration: RABBITMQ_CA is set, but RABBITMQ_URL: ${plain.join(', ')} is not amqps:// (the CA is used only for TLS connections)`);
  }
}

/** How long the inbox remembers a handled message id (libs/event-store housekeeping). */
const INBOX_RETENTION_MS = 7 * 24 * 3600_000;

/**
 * The checks at the agent door (docs/asyncapi.yaml, "What the server refuses"), for the
 * services that take agent messages: `BaseConfig.extend({ ...AgentDoorConfig.shape, … })`.
 */
export const AgentDoorConfig = z.object({
  /** An agent message with a larger body is refused before it is parsed (the largest valid one is about 32 KB, pretty-printed). */
  AGENT_MESSAGE_MAX_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(64 * 1024),
  /**
   * An agent message sent longer ago than this is refused as stale. Generous, since messages wait
   * in the broker while a service is down (4 days: a long weekend); below the inbox's 7 days, so
   * a message old enough for its id to be forgotten can never be replayed.
   */
  AGENT_MESSAGE_MAX_AGE_MS: positiveMs(4 * 24 * 3600_000).refine((ms) => ms < INBOX_RETENTION_MS, {
    message: `must be under the inbox retention (${INBOX_RETENTION_MS} ms, 7 days), or a replayed message could be taken twice`,
  }),
  /** An agent message dated further ahead than this is refused as from the future: the clock skew allowed. */
  AGENT_MESSAGE_MAX_AHEAD_MS: z.coerce.number().int().min(0).default(5 * 60_000),
  /** Messages per second one agent may send, sustained, per service instance; the rest are dropped and counted. */
  AGENT_RATE_PER_SECOND: z.coerce.number().positive().default(5),
  /** Messages one agent may send at once after a quiet spell (its token bucket). */
  AGENT_RATE_BURST: z.coerce.number().int().min(1).default(50),
  /**
   * An agent whose message is refused (parked) is told with a message-refused at most once per
   * this long, per service instance; refusals in between are counted in the next one. 0: never told.
   */
  AGENT_REFUSAL_NOTICE_INTERVAL_MS: z.coerce.number().int().min(0).default(10_000),
});
export type AgentDoorConfig = z.infer<typeof AgentDoorConfig>;

/**
 * Parses the environment with the service's schema, or throws a ConfigError naming every bad field.
 * Any setting FOO of the schema may instead be given as FOO_FILE, the path of a file holding its value (Docker
 * and Kubernetes secrets, or a key another container wrote); FOO itself wins when both are set.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  // Empty variables (FOO= in a compose file) mean "not set", so defaults apply.
  const cleaned: Record<string, string> = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  // Only for the schema's own settings: the environment holds plenty of other *_FILE variables.
  const settings = schema instanceof z.ZodObject ? new Set(Object.keys(schema.shape as object)) : new Set<string>();
  const readFromFile = new Set<string>();
  for (const [key, file] of Object.entries(cleaned)) {
    if (!key.endsWith('_FILE')) continue;
    const name = key.slice(0, -'_FILE'.length);
    if (!settings.has(name) || cleaned[name] !== undefined) continue;
    try {
      cleaned[name] = readFileSync(file, 'utf8').trim();
      readFromFile.add(name);
    } catch (err) {
      throw new ConfigError(`invalid configuration: ${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => {
    const key = i.path.join('.');
    return `${key}: ${i.message}${shownValue(key, cleaned[key], readFromFile.has(key))}`;
  });
  // Whatever a message says, no secret of the environment gets through.
  const own = settings.size > 0 ? Object.fromEntries(Object.entries(cleaned).filter(([k]) => settings.has(k))) : cleaned;
  throw new ConfigError(secretMasker(own).mask(`invalid configuration: ${problems.join('; ')}`));
}

/** Settings whose values are secrets by their name: tokens, passwords, private keys. */
export function isSecretSetting(name: string): boolean {
  return /TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|PRIVATE_KEY|API_KEY/i.test(name);
}

/**
 * What an error about a setting shows of its value: nothing for a secret or a value read from a
 * *_FILE (Docker secrets), URLs with their passwords masked, and nothing of a value that holds
 * an "@" but no URL the masking recognises ("user:password@host": a password it could not find).
 */
function shownValue(key: string, value: string | undefined, readFromFile: boolean): string {
  if (value === undefined) return '';
  if (isSecretSetting(key)) return ' (the value is not shown: it is a secret)';
  if (readFromFile) return ` (the value, read from ${key}_FILE, is not shown)`;
  const shown = redactUrlsIn(value);
  if (shown.includes('@') && !shown.includes('***@')) return ' (the value is not shown: it may hold a password)';
  return ` (got ${JSON.stringify(shown)})`;
}

/**
 * A masker for every secret of an environment (or of loaded settings): the values of secret
 * settings, each entry of a token list with and without its "name:" prefix, and the password of
 * every URL (in comma-separated lists too). For error messages, logs and anything printed.
 */
export function secretMasker(env: Record<string, unknown>): SecretMasker {
  const secrets: string[] = [];
  const add = (value: string) => {
    secrets.push(value, ...urlPasswords(value));
    for (const part of value.split(',')) {
      const entry = part.trim();
      secrets.push(entry);
      const named = /^[a-z0-9][a-z0-9._-]{0,63}:(.+)$/i.exec(entry);
      if (named) secrets.push(named[1]!);
    }
  };
  for (const [key, value] of Object.entries(env)) {
    if (typeof value === 'string') {
      if (isSecretSetting(key)) add(value);
      else secrets.push(...urlPasswords(value));
    } else if (Array.isArray(value) && isSecretSetting(key)) {
      // A loaded token list: [{ name, token }].
      for (const t of value) if (t && typeof (t as { token?: unknown }).token === 'string') secrets.push((t as { token: string }).token);
    }
  }
  return new SecretMasker(secrets, 4);
}
