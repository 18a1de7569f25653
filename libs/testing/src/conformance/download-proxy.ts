import { type IncomingMessage, type IncomingHttpHeaders, type Server, type ServerResponse, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One download request an agent made, as the proxy saw it. */
export interface DownloadRequest {
  type: string;
  version: string;
  /** The query as the agent sent it (before any rewriting). */
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /** When the request arrived and when its answer was finished (ms since the epoch). */
  startedAt: number;
  endedAt: number;
  status: number;
  /** What the answer was: X-Herald-Delivery and X-Herald-Patch-Format, as the server sent them. */
  delivery: string | null;
  patchFormat: string | null;
  /** What the proxy did to it. */
  action: 'passed' | 'refused' | 'corrupted';
}

/** What the proxy does with the downloads of one component version. */
export interface DownloadRule {
  /** Answer this many requests `503` + `Retry-After: retryAfterSeconds` first (R6). */
  refuse?: number;
  retryAfterSeconds?: number;
  /** Flip one byte of every body (the headers, digests included, stay the server's). */
  corrupt?: boolean;
  /** Send only this patch format (rewrites `formats=`), to check each format the agent declares. */
  onlyFormat?: string;
  /** Hold every request until this resolves (a slow download, for R7). */
  holdUntil?: Promise<void>;
}

const DOWNLOAD_PATH = /^\/components\/([^/]+)\/versions\/([^/]+)\/download$/;

/**
 * Stands between the agents and component-download (the server's PUBLIC_BASE_URL points here, so
 * the commands' urls do): every download request is recorded, and per component version it can
 * be refused with 503 + Retry-After, corrupted, held, or narrowed to one patch format. Bodies are
 * passed on whole (conformance files are small), with the server's headers.
 */
export class DownloadProxy {
  readonly requests: DownloadRequest[] = [];
  private readonly rules = new Map<string, DownloadRule>();
  private server: Server | null = null;

  constructor(private readonly target: () => string) {}

  get url(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`conformance proxy: ${err.message}`);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  rule(type: string, version: string, rule: DownloadRule): void {
    this.rules.set(`${type}/${version}`, rule);
  }

  of(type: string, version?: string): DownloadRequest[] {
    return this.requests.filter((r) => r.type === type && (version === undefined || r.version === version));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const match = DOWNLOAD_PATH.exec(url.pathname);
    const startedAt = Date.now();
    if (!match) {
      await this.forward(req, res, url);
      return;
    }
    const [type, version] = [decodeURIComponent(match[1]!), decodeURIComponent(match[2]!)];
    const rule = this.rules.get(`${type}/${version}`) ?? {};
    const record: DownloadRequest = {
      type,
      version,
      query: new URLSearchParams(url.searchParams),
      headers: { ...req.headers },
      startedAt,
      endedAt: startedAt,
      status: 0,
      delivery: null,
      patchFormat: null,
      action: 'passed',
    };
    this.requests.push(record);
    const finish = () => {
      record.endedAt = Date.now();
    };
    if (rule.refuse && rule.refuse > 0) {
      rule.refuse--;
      record.action = 'refused';
      record.status = 503;
      res.writeHead(503, { 'retry-after': String(rule.retryAfterSeconds ?? 1), 'content-type': 'text/plain' });
      res.end('conformance: every download slot is taken');
      res.once('finish', finish);
      return;
    }
    if (rule.holdUntil) await rule.holdUntil;
    if (rule.onlyFormat && url.searchParams.has('formats')) url.searchParams.set('formats', rule.onlyFormat);
    const upstream = await this.fetchFrom(req, url);
    record.status = upstream.status;
    record.delivery = single(upstream.headers['x-herald-delivery']);
    record.patchFormat = single(upstream.headers['x-herald-patch-format']);
    const body = upstream.body;
    if (rule.corrupt && body.length > 0 && upstream.status < 300) {
      body[body.length >> 1] = body[body.length >> 1]! ^ 0xff;
      record.action = 'corrupted';
    }
    res.writeHead(upstream.status, headersOf(upstream.headers));
    res.once('finish', finish);
    res.end(body);
  }

  private async forward(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const upstream = await this.fetchFrom(req, url);
    res.writeHead(upstream.status, headersOf(upstream.headers));
    res.end(upstream.body);
  }

  /** The server's answer as it sent it: with node:http, so nothing is decoded on the way. */
  private fetchFrom(req: IncomingMessage, url: URL): Promise<Upstream> {
    const headers: Record<string, string> = {};
    for (const name of ['accept', 'accept-encoding', 'range', 'if-range', 'user-agent']) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    return new Promise((resolve, reject) => {
      const out = request(`${this.target()}${url.pathname}${url.search}`, { method: req.method, headers }, (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }));
        answer.on('error', reject);
      });
      out.on('error', reject);
      out.end();
    });
  }
}

interface Upstream {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function headersOf(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && name !== 'transfer-encoding' && name !== 'connection' && name !== 'keep-alive') out[name] = value;
  }
  return out;
}

const single = (value: string | string[] | undefined): string | null => (Array.isArray(value) ? (value[0] ?? null) : (value ?? null));
