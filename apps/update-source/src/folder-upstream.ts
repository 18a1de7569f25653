import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { compareVersions } from '@herald/contracts';

export interface ManifestEntry {
  type: string;
  version: string;
  size: number;
  sha256: string;
  url: string;
}

export interface Manifest {
  schemaVersion: 1;
  publishedAt: string;
  components: ManifestEntry[];
}

/**
 * An upstream update source kept in a folder: manifest.json plus files/<type>/<version>.
 * `publish` adds a version; `serve` exposes the folder over HTTP the way Herald expects.
 */
export class FolderUpstream {
  constructor(readonly dir: string) {}

  async manifest(): Promise<Manifest> {
    try {
      return JSON.parse(await readFile(path.join(this.dir, 'manifest.json'), 'utf8')) as Manifest;
    } catch {
      return { schemaVersion: 1, publishedAt: new Date().toISOString(), components: [] };
    }
  }

  /** Adds a version of a component (random content unless given) and makes it the latest. */
  async publish(type: string, version?: string, content: Buffer = randomBytes(64 * 1024)): Promise<ManifestEntry> {
    const manifest = await this.manifest();
    const current = manifest.components.find((c) => c.type === type);
    const next = version ?? bump(current?.version ?? '1.0.0');
    if (current && compareVersions(next, current.version) <= 0) throw new Error(`${type} ${next} is not newer than ${current.version}`);
    const relative = `files/${type}/${next}`;
    await mkdir(path.join(this.dir, 'files', type), { recursive: true });
    await writeFile(path.join(this.dir, relative), content);
    const entry: ManifestEntry = { type, version: next, size: content.length, sha256: createHash('sha256').update(content).digest('hex'), url: relative };
    manifest.components = [...manifest.components.filter((c) => c.type !== type), entry].sort((a, b) => a.type.localeCompare(b.type));
    manifest.publishedAt = new Date().toISOString();
    const file = path.join(this.dir, 'manifest.json');
    await writeFile(`${file}.tmp`, JSON.stringify(manifest, null, 2));
    await rename(`${file}.tmp`, file);
    return entry;
  }

  serve(port: number, host = '0.0.0.0'): Promise<Server> {
    const server = createServer(async (req, res) => {
      const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
      const file = path.resolve(this.dir, `.${url}`);
      if (!file.startsWith(path.resolve(this.dir) + path.sep) || !(url === '/manifest.json' || url.startsWith('/files/'))) {
        res.writeHead(404).end();
        return;
      }
      try {
        const info = await stat(file);
        res.writeHead(200, { 'content-length': info.size, 'content-type': url.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
        createReadStream(file).pipe(res);
      } catch {
        res.writeHead(404).end();
      }
    });
    return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
  }
}

/** The next patch-level version: 17.1.3 → 17.1.4. */
export function bump(version: string): string {
  const parts = version.split('.').map(Number);
  parts[parts.length - 1]! += 1;
  return parts.join('.');
}
