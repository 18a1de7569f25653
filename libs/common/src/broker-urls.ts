import { redactUrl, redactUrlLoosely } from './redact';

/**
 * A list of RabbitMQ URLs, comma-separated ("amqp://u:p@mq1:5672,amqp://u:p@mq2:5672"), or one
 * URL: the nodes of one cluster. Each must be an amqp:// or amqps:// URL with a host. Throws an
 * Error that names the bad entry with its password hidden.
 */
export function parseBrokerUrls(value: string | readonly string[]): string[] {
  const entries = (typeof value === 'string' ? value.split(',') : value.flatMap((v) => v.split(','))).map((u) => u.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('no RabbitMQ URL given');
  const problems = entries.flatMap((url, i) => {
    const problem = brokerUrlProblem(url);
    return problem ? [`${entries.length > 1 ? `URL ${i + 1} of ${entries.length} ` : ''}(${redactUrlLoosely(url)}) ${problem}`] : [];
  });
  if (problems.length > 0) throw new Error(problems.join('; '));
  return entries;
}

/** What is wrong with one broker URL, or null. */
export function brokerUrlProblem(url: string): string | null {
  if (!/^amqps?:\/\//i.test(url)) return 'must be an amqp:// or amqps:// URL';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a valid URL';
  }
  if (!parsed.hostname) return 'names no host';
  if (parsed.port !== '' && !(Number(parsed.port) >= 1 && Number(parsed.port) <= 65_535)) return 'has an invalid port';
  return null;
}

/** The URLs with their passwords hidden, for logs and errors. */
export function redactBrokerUrls(urls: readonly string[]): string {
  return urls.map(redactUrl).join(', ');
}

/** host:port of a broker URL (no user, no password): names the node in logs and metrics. */
export function brokerNodeOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'amqps:' ? '5671' : '5672')}`;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * TLS settings for amqps:// connections, handed to Node's tls.connect as they are. `ca` replaces
 * the system's certificate authorities: the broker's certificate must chain to one of these.
 * `cert` and `key` present a client certificate (for a broker that asks for one).
 */
export interface BrokerTlsOptions {
  ca?: string | Buffer | (string | Buffer)[];
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  /** The name the certificate must carry, when it is not the URL's host name. */
  servername?: string;
}

/**
 * Throws when TLS settings come with a plain amqp:// URL: they would not be used, and the
 * connection would carry the password in clear while the caller believes it encrypted.
 */
export function assertTlsUrls(urls: readonly string[], tls: BrokerTlsOptions | undefined): void {
  if (!tls) return;
  const plain = urls.filter((u) => !/^amqps:\/\//i.test(u));
  if (plain.length > 0) throw new Error(`TLS settings are given, but ${redactBrokerUrls(plain)} ${plain.length > 1 ? 'are' : 'is'} not amqps://`);
}

/** What amqplib's connect() takes as a URL object (its `Options.Connect`). */
export interface AmqpConnectTarget {
  protocol?: string;
  hostname?: string;
  port?: number;
  username?: string;
  password?: string;
  vhost?: string;
  heartbeat?: number;
  frameMax?: number;
  channelMax?: number;
  locale?: string;
}

/** One broker URL in amqplib's object form, with a heartbeat unless the URL names one. */
export function amqpConnectTarget(url: string, defaultHeartbeatSeconds: number): AmqpConnectTarget {
  const u = new URL(url);
  const q = u.searchParams;
  const int = (name: string): number | undefined => (q.has(name) ? Number.parseInt(q.get(name)!, 10) : undefined);
  const hasCredentials = u.username !== '' || u.password !== '';
  return {
    protocol: u.protocol.replace(/:$/, '').toLowerCase(),
    hostname: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : undefined,
    username: hasCredentials ? decodeURIComponent(u.username) : undefined,
    password: hasCredentials ? decodeURIComponent(u.password) : undefined,
    // amqplib unescapes it, as it does the path of a URL string; empty means "/".
    vhost: u.pathname.slice(1),
    heartbeat: int('heartbeat') ?? defaultHeartbeatSeconds,
    frameMax: int('frameMax'),
    channelMax: int('channelMax'),
    locale: q.get('locale') ?? undefined,
  };
}

export interface BackoffOptions {
  /** The delay before the first retry. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Each delay is spread by up to this fraction either way (0.2: ±20 %), so a fleet does not retry in step. */
  jitter?: number;
}

/** The delay before retry number `attempt` (1, 2, …): doubling from initialMs, capped, with jitter. */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.2));
  // The base is capped below maxMs so that the jittered value never exceeds it and stays spread.
  const base = Math.min(options.maxMs / (1 + jitter), options.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(0, Math.round(base * (1 - jitter + random() * 2 * jitter)));
}

/**
 * The nodes of a cluster, tried in turn: after a failed attempt or a lost connection the next
 * one is tried. `target` is one object whose fields are switched to the current node's; handed to
 * amqplib's recovering connect() as its URL, every (re)connection attempt reads it afresh.
 */
export class BrokerRotation {
  readonly urls: readonly string[];
  readonly target: AmqpConnectTarget = {};
  private index = 0;

  constructor(
    urls: string | readonly string[],
    private readonly heartbeatSeconds: number,
  ) {
    this.urls = parseBrokerUrls(urls);
    this.select(0);
  }

  /** The node the next (or current) connection attempt goes to. */
  get current(): string {
    return this.urls[this.index]!;
  }

  /** Moves on to the next node (round robin); returns it. */
  advance(): string {
    this.select((this.index + 1) % this.urls.length);
    return this.current;
  }

  private select(index: number): void {
    this.index = index;
    const next = amqpConnectTarget(this.urls[index]!, this.heartbeatSeconds);
    for (const key of Object.keys(this.target) as Array<keyof AmqpConnectTarget>) delete this.target[key];
    Object.assign(this.target, next);
  }
}
