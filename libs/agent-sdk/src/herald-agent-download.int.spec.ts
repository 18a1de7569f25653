import { createHash } from 'node:crypto';
import { type Server, createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HeraldAgent } from './herald-agent';
import { MemoryComponentStore } from './component-store';

jest.setTimeout(30_000);

describe('an agent downloading from a server that does not answer', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  const file = Buffer.from('virus-pattern 2.0\n'.repeat(100));
  let requests = 0;

  beforeAll(async () => {
    // The first request is read and never answered (a server that cannot keep up); the next is served.
    server = createServer((_req, res) => {
      requests++;
      if (requests === 1) return;
      res.setHeader('Content-Type', 'application/octet-stream');
      res.end(file);
    });
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  it('gives up waiting for the response after downloadResponseTimeoutMs and tries again', async () => {
    const store = new MemoryComponentStore([{ type: 'virus-pattern', version: '1.0' }]);
    const agent = new HeraldAgent({ agentId: 'a1', store, downloadResponseTimeoutMs: 300, retryJitterMs: 0 });
    const { port } = server.address() as AddressInfo;
    const sha256 = createHash('sha256').update(file).digest('hex');
    const applied = await agent.fetchComponent({ type: 'virus-pattern', version: '2.0', sha256, size: file.length, url: `http://127.0.0.1:${port}/virus-pattern/2.0` }, null);
    expect(applied).toMatchObject({ toVersion: '2.0', mode: 'full', bytes: file.length });
    expect(requests).toBe(2);
    expect(await store.installed()).toEqual([{ type: 'virus-pattern', version: '2.0' }]);
  });
});
