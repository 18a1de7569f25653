import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamFile {
  type: string;
  version: string;
  content: Buffer;
  /** Serve different bytes than the manifest announces (tamper tests). */
  serve?: Buffer;
}

/**
 * A tiny upstream update source for tests: a manifest listing the latest version of each
 * component, and the files, over HTTP.
 */
export class UpstreamFixture {
  private readonly latest = new Map<string, UpstreamFile>();
  private server: Server | null = null;
  /** Requests served, by path, for assertions. */
  readonly requests: string[] = [];

  get baseUrl(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  get manifestUrl(): string {
    return `${this.baseUrl}/manifest.json`;
  }

  publish(file: UpstreamFile): { sha256: string; size: number } {
    this.latest.set(file.type, file);
    return { sha256: sha256(file.content), size: file.content.length };
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.requests.push(req.url ?? '');
      if (req.url === '/manifest.json') {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            schemaVersion: 1,
            publishedAt: new Date().toISOString(),
            components: [...this.latest.values()].map((f) => ({
              type: f.type,
              version: f.version,
              size: f.content.length,
              sha256: sha256(f.content),
              url: `files/${f.type}/${f.version}`,
            })),
          }),
        );
        return;
      }
      const match = /^\/files\/([^/]+)\/([^/]+)$/.exec(req.url ?? '');
      const file = match && this.latest.get(match[1]!);
      if (!file || file.version !== match![2]) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/octet-stream');
      res.end(file.serve ?? file.content);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');
