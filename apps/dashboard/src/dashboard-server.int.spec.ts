import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NestExpressApplication } from '@nestjs/platform-express';
import pino from 'pino';
import { loadConfig } from '@herald/platform';
import { DashboardConfig } from './config';
import { createDashboard } from './dashboard-server';

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

/** A stand-in for one Herald service: records each request and answers what the test says. */
class FakeService {
  readonly seen: Seen[] = [];
  answer: (req: Seen) => { status: number; body: unknown } = () => ({ status: 200, body: { ok: true } });
  private server!: Server;

  async start(): Promise<this> {
    this.server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const seen = { method: req.method!, url: req.url!, authorization: req.headers.authorization, contentType: req.headers['content-type'], body: Buffer.concat(chunks).toString() };
        this.seen.push(seen);
        const { status, body } = this.answer(seen);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A port nothing listens on: the service is down. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

describe('dashboard server', () => {
  const download = new FakeService();
  const dispatch = new FakeService();
  let presenceDownUrl: string;
  let app: NestExpressApplication;
  let base: string;

  beforeAll(async () => {
    await Promise.all([download.start(), dispatch.start()]);
    presenceDownUrl = `http://127.0.0.1:${await closedPort()}`;
    const config = loadConfig(DashboardConfig, {
      COMPONENT_DOWNLOAD_URL: download.url,
      NOTIFICATION_DISPATCH_URL: dispatch.url,
      AGENT_PRESENCE_URL: presenceDownUrl,
    });
    app = await createDashboard(config, pino({ level: 'silent' }));
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([download.stop(), dispatch.stop()]);
  });

  it('serves the page, its script and its styles from its own origin only', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('<script src="app.js" defer></script>');
    // Nothing from a CDN: every src/href is relative (or a data: URL).
    for (const [, url] of html.matchAll(/(?:src|href)="([^"]*)"/g)) expect(url).not.toMatch(/^(https?:)?\/\//);
    for (const [file, type] of [
      ['app.js', /javascript/],
      ['style.css', /text\/css/],
    ] as const) {
      const res = await fetch(`${base}/${file}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(type);
    }
  });

  it('passes a change on untouched: method, path, query, body and the Authorization header', async () => {
    dispatch.answer = () => ({ status: 200, body: { maxAttempts: 3 } });
    const res = await fetch(`${base}/api/dispatch/settings/event-triggered-updates?x=1`, {
      method: 'PATCH',
      headers: { authorization: 'Bearer admin-token-0123456789', 'content-type': 'application/json' },
      body: JSON.stringify({ maxAttempts: 3 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ maxAttempts: 3 });
    expect(dispatch.seen.at(-1)).toEqual({
      method: 'PATCH',
      url: '/settings/event-triggered-updates?x=1',
      authorization: 'Bearer admin-token-0123456789',
      contentType: 'application/json',
      body: '{"maxAttempts":3}',
    });
  });

  it("passes the services' refusals back as they are, so the page can tell 401 from 403", async () => {
    for (const status of [400, 401, 403, 404]) {
      download.answer = () => ({ status, body: { statusCode: status, message: `answer ${status}` } });
      const res = await fetch(`${base}/api/download/components/check`, { method: 'POST', headers: { authorization: 'Bearer read-only-token-0123' } });
      expect(res.status).toBe(status);
      expect(await res.json()).toEqual({ statusCode: status, message: `answer ${status}` });
    }
    expect(download.seen.at(-1)).toMatchObject({ method: 'POST', url: '/components/check', authorization: 'Bearer read-only-token-0123' });
  });

  it('answers 502 naming the service when a service is down', async () => {
    const res = await fetch(`${base}/api/presence/agents/summary`);
    expect(res.status).toBe(502);
    expect(await res.json()).toEqual({ statusCode: 502, message: expect.stringMatching(/^agent-presence is not answering \(ECONNREFUSED\)/) });
  });

  it('says on /health that it runs, and which services answer', async () => {
    dispatch.answer = (req) => (req.url === '/health' ? { status: 503, body: { status: 'error' } } : { status: 200, body: {} });
    download.answer = () => ({ status: 200, body: { status: 'ok' } });
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'ok',
      services: {
        'component-download': { status: 'up' },
        'notification-dispatch': { status: 'down', detail: 'HTTP 503' },
        'agent-presence': { status: 'down', detail: 'ECONNREFUSED' },
      },
    });
  });

  it('answers 404 for an API prefix it does not know, without asking any service', async () => {
    const before = download.seen.length + dispatch.seen.length;
    const res = await fetch(`${base}/api/elsewhere/x`);
    expect(res.status).toBe(404);
    expect(download.seen.length + dispatch.seen.length).toBe(before);
  });
});
