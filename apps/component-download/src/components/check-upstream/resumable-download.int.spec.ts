import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { CuttingProxy } from '@herald/testing';
import { downloadResumable } from './resumable-download';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A plain file server over loopback; `ranges: false` makes it ignore Range like some servers do. */
async function fileServer(body: Buffer, ranges = true): Promise<{ server: Server; url: string; requests: IncomingMessage['headers'][] }> {
  const requests: IncomingMessage['headers'][] = [];
  const server = createServer((req, res) => {
    requests.push(req.headers);
    const range = ranges ? /^bytes=(\d+)-$/.exec(req.headers.range ?? '') : null;
    if (range) {
      const start = Number(range[1]);
      res.writeHead(206, { 'content-length': body.length - start, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/file`, requests };
}

describe('resumable upstream downloads (over loopback HTTP)', () => {
  const body = randomBytes(1_500_000);
  const expected = { size: body.length, sha256: sha256(body) };
  const log = pino({ level: 'silent' });
  let dir: string;
  const servers: Server[] = [];
  const proxies: CuttingProxy[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'resume-'));
  });
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((p) => p.stop()));
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    await rm(dir, { recursive: true, force: true });
  });

  const download = (url: string, attempts = 3) =>
    downloadResumable({ url: new URL(url), expected, partialPath: path.join(dir, 'partial'), attempts, idleTimeoutMs: 10_000, log });

  it('asks for the rest after a cut, and keeps exactly the file', async () => {
    const origin = await fileServer(body);
    servers.push(origin.server);
    const proxy = await new CuttingProxy(origin.url.replace('/file', '')).start();
    proxies.push(proxy);
    proxy.cutAfter('/file', 600_000);
    const result = await download(`${proxy.baseUrl}/file`);
    expect(result).toMatchObject({ ok: true, sha256: expected.sha256, size: body.length, resumedFrom: [600_000] });
    expect(proxy.requests.map((r) => [r.range, r.sent])).toEqual([
      [null, 600_000],
      ['bytes=600000-', body.length - 600_000],
    ]);
    expect((await readFile(path.join(dir, 'partial'))).equals(body)).toBe(true);
  });

  it('keeps what arrived when every try is cut, and the next check resumes it', async () => {
    const origin = await fileServer(body);
    servers.push(origin.server);
    const proxy = await new CuttingProxy(origin.url.replace('/file', '')).start();
    proxies.push(proxy);
    proxy.cutAfter('/file', 400_000, 1);
    const first = await download(`${proxy.baseUrl}/file`, 1);
    expect(first).toMatchObject({ ok: false, reason: 'download-failed' });
    expect((await stat(path.join(dir, 'partial'))).size).toBe(400_000);
    const second = await download(`${proxy.baseUrl}/file`, 1);
    expect(second).toMatchObject({ ok: true, resumedFrom: [400_000] });
  });

  it('starts over when the server ignores Range', async () => {
    const origin = await fileServer(body, false);
    servers.push(origin.server);
    await writeFile(path.join(dir, 'partial'), body.subarray(0, 1000));
    const result = await download(origin.url);
    expect(result).toMatchObject({ ok: true, sha256: expected.sha256, resumedFrom: [] });
    expect(origin.requests[0]!.range).toBe('bytes=1000-');
  });

  it('refuses a file larger than announced without writing past the size, and a wrong digest', async () => {
    const bigger = await fileServer(Buffer.concat([body, Buffer.from('extra')]));
    servers.push(bigger.server);
    expect(await download(bigger.url)).toMatchObject({ ok: false, reason: 'size-mismatch' });
    await expect(stat(path.join(dir, 'partial'))).rejects.toThrow();

    const other = Buffer.from(body);
    other[123] ^= 1;
    const tampered = await fileServer(other);
    servers.push(tampered.server);
    expect(await download(tampered.url)).toMatchObject({ ok: false, reason: 'digest-mismatch' });
    await expect(stat(path.join(dir, 'partial'))).rejects.toThrow();
  });
});
