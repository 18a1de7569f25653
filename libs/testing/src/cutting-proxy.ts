import { request, createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ProxiedRequest {
  path: string;
  range: string | null;
  status: number;
  /** Body bytes this proxy sent for it. */
  sent: number;
  cut: boolean;
}

/**
 * An HTTP proxy in front of an upstream that can break downloads the way networks do: for a
 * chosen path it sends the headers and the first N body bytes, then drops the connection.
 * Everything else passes through unchanged (Range included). Requests are recorded.
 */
export class CuttingProxy {
  private server: Server | null = null;
  private readonly cuts = new Map<string, { afterBytes: number; times: number }>();
  readonly requests: ProxiedRequest[] = [];

  constructor(private readonly target: string) {}

  get baseUrl(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** The next `times` responses for `path` stop after `afterBytes` body bytes. */
  cutAfter(path: string, afterBytes: number, times = 1): void {
    this.cuts.set(path, { afterBytes, times });
  }

  async start(): Promise<this> {
    const target = new URL(this.target);
    this.server = createServer((req, res) => {
      const path = req.url ?? '/';
      const record: ProxiedRequest = { path, range: (req.headers.range as string | undefined) ?? null, status: 0, sent: 0, cut: false };
      this.requests.push(record);
      const upstream = request(
        { host: target.hostname, port: target.port, path, method: req.method, headers: { ...req.headers, host: target.host } },
        (up) => {
          record.status = up.statusCode ?? 0;
          res.writeHead(up.statusCode ?? 502, up.headers);
          const cut = this.cuts.get(path.split('?')[0]!);
          if (!cut || cut.times <= 0 || up.statusCode !== 200) {
            up.on('data', (c: Buffer) => (record.sent += c.length));
            up.pipe(res);
            return;
          }
          cut.times--;
          up.on('data', (chunk: Buffer) => {
            const room = cut.afterBytes - record.sent;
            if (room <= 0) return;
            const part = chunk.subarray(0, room);
            record.sent += part.length;
            res.write(part, () => {
              if (record.sent >= cut.afterBytes && !record.cut) {
                record.cut = true;
                up.destroy();
                // FIN, not RST: a reset would make the client drop bytes it has not read yet.
                res.socket?.end();
              }
            });
          });
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
