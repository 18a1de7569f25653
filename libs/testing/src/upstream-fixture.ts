import { createHash } from 'node:crypto';
import { type SignedStatement, generateUpstreamKeys, signManifest, signStatement } from '@herald/contracts';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UpstreamFile {
  type: string;
  version: string;
  content: Buffer;
  /** Serve different bytes than the manifest announces (tamper tests). */
  serve?: Buffer;
  /**
   * The entry's signed statement: 'signed' (default), 'none' (an upstream of the first protocol
   * release, without per-version statements), or one made by a test.
   */
  statement?: 'signed' | 'none' | ((entry: { type: string; version: string; sha256: string; size: number }, privateKeyPem: string) => SignedStatement);
}

/**
 * A tiny upstream update source for tests: a signed manifest listing the latest version of each
 * component, and the files, over HTTP. Give the services `publicKey` as UPSTREAM_PUBLIC_KEY.
 * (The reference source in apps/update-source is the full one, with patches and Range.)
 */
export class UpstreamFixture {
  private readonly latest = new Map<string, UpstreamFile>();
  private readonly keys = generateUpstreamKeys();
  private manifestVersion = 0;

  /** base64 of the raw Ed25519 public key the manifest is signed with. */
  get publicKey(): string {
    return this.keys.publicKeyRaw;
  }
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
    this.manifestVersion++;
    return { sha256: sha256(file.content), size: file.content.length };
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.requests.push(req.url ?? '');
      if (req.url === '/manifest.json') {
        res.setHeader('content-type', 'application/json');
        const manifest = {
          schemaVersion: 2 as const,
          manifestVersion: Math.max(1, this.manifestVersion),
          publishedAt: new Date().toISOString(),
          components: [...this.latest.values()].map((f) => {
            const said = { type: f.type, version: f.version, sha256: sha256(f.content), size: f.content.length };
            const statement =
              f.statement === 'none' ? undefined : typeof f.statement === 'function' ? f.statement(said, this.keys.privateKeyPem) : signStatement(said, this.keys.privateKeyPem);
            return { ...said, url: `files/${f.type}/${f.version}`, patches: [], ...(statement ? { statement } : {}) };
          }),
        };
        res.end(JSON.stringify(signManifest(manifest, this.keys.privateKeyPem)));
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
