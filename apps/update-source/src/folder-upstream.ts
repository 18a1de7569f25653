import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { UpstreamComponent} from '@herald/contracts';
import { UpstreamManifest, compareVersions, generateUpstreamKeys, rawPublicKey, signManifest, signStatement } from '@herald/contracts';
import { DELTA_FORMAT, createPatch } from '@herald/delta';
import { initialPatternFile, nextPatternFile } from './pattern-file';

export interface PublishOptions {
  /** The new version; default: the latest with its last part plus one (or 1.0.0). */
  version?: string;
  /**
   * How many earlier versions the upstream offers an incremental patch from (herald-delta-1),
   * built here from its own files; 0 or false offers none. Default 3.
   */
  patches?: number | false;
}

/**
 * The reference update source: a folder served over HTTP the way docs/upstream-protocol.md
 * says. It keeps every release under files/<type>/<version>, the patches it offers under
 * patches/<type>/<from>_<to>, its Ed25519 key under keys/, the plain manifest in state.json and
 * the signed one, what it serves, in manifest.json. `publish` adds a release; `serve` answers
 * GET (with Range) for manifest.json, files/ and patches/.
 */
export class FolderUpstream {
  constructor(readonly dir: string) {}

  private get keyFile(): string {
    return path.join(this.dir, 'keys', 'upstream-ed25519.pem');
  }

  /** The signing key, made on first use. */
  async privateKeyPem(): Promise<string> {
    try {
      return await readFile(this.keyFile, 'utf8');
    } catch {
      const keys = generateUpstreamKeys();
      await mkdir(path.dirname(this.keyFile), { recursive: true });
      await writeFile(this.keyFile, keys.privateKeyPem, { mode: 0o600, flag: 'wx' }).catch(() => undefined);
      await writeFile(path.join(this.dir, 'keys', 'upstream-ed25519.pub'), keys.publicKeyPem).catch(() => undefined);
      return readFile(this.keyFile, 'utf8');
    }
  }

  /** The public key as Herald's UPSTREAM_PUBLIC_KEY wants it (base64 of the raw 32 bytes). */
  async publicKey(): Promise<string> {
    return rawPublicKey(createPublicKey(await this.privateKeyPem()));
  }

  async manifest(): Promise<UpstreamManifest> {
    try {
      return UpstreamManifest.parse(JSON.parse(await readFile(path.join(this.dir, 'state.json'), 'utf8')));
    } catch {
      return { schemaVersion: 2, manifestVersion: 0 as number, publishedAt: new Date().toISOString(), components: [] };
    }
  }

  /** Every release of a type this source holds, oldest first. */
  async versions(type: string): Promise<string[]> {
    const names = await readdir(path.join(this.dir, 'files', type)).catch(() => [] as string[]);
    return names.filter((n) => /^\d+(\.\d+)*$/.test(n)).sort(compareVersions);
  }

  fileOf(type: string, version: string): string {
    return path.join(this.dir, 'files', type, version);
  }

  /** Publishes the next release of a synthetic pattern file, evolved from the latest one. */
  async publishPattern(type: string, options: PublishOptions & { bytes?: number } = {}): Promise<UpstreamComponent> {
    const previous = (await this.versions(type)).pop();
    const version = options.version ?? (previous ? bump(previous) : '1.0.0');
    const content = previous
      ? nextPatternFile(await readFile(this.fileOf(type, previous)), type, version)
      : initialPatternFile(type, version, options.bytes ?? 1_000_000);
    return this.publish(type, content, { ...options, version });
  }

  /** Adds a release with the given content (random bytes unless given) and makes it the latest. */
  async publish(type: string, content: Buffer = randomBytes(64 * 1024), options: PublishOptions = {}): Promise<UpstreamComponent> {
    const manifest = await this.manifest();
    const history = await this.versions(type);
    const current = history[history.length - 1];
    const version = options.version ?? (current ? bump(current) : '1.0.0');
    if (current && compareVersions(version, current) <= 0) throw new Error(`${type} ${version} is not newer than ${current}`);
    await mkdir(path.join(this.dir, 'files', type), { recursive: true });
    await writeFile(this.fileOf(type, version), content);
    const patches = [];
    const offered = options.patches === false ? 0 : (options.patches ?? 3);
    for (const from of history.slice(-offered).reverse()) {
      if (offered === 0) break;
      const patch = createPatch(await readFile(this.fileOf(type, from)), content);
      const relative = `patches/${type}/${from}_${version}`;
      await mkdir(path.join(this.dir, 'patches', type), { recursive: true });
      await writeFile(path.join(this.dir, relative), patch);
      patches.push({ fromVersion: from, toVersion: version, format: DELTA_FORMAT, size: patch.length, sha256: sha256(patch), url: relative });
    }
    const said = { type, version, size: content.length, sha256: sha256(content) };
    // The per-version statement agents verify with the pinned key (docs/upstream-protocol.md).
    const statement = signStatement({ type, version, sha256: said.sha256, size: said.size }, await this.privateKeyPem());
    const entry: UpstreamComponent = { ...said, url: `files/${type}/${version}`, patches, statement };
    manifest.components = [...manifest.components.filter((c) => c.type !== type), entry].sort((a, b) => a.type.localeCompare(b.type));
    await this.writeManifest({ ...manifest, manifestVersion: manifest.manifestVersion + 1, publishedAt: new Date().toISOString() });
    return entry;
  }

  /** Signs and writes a manifest (state.json keeps the plain one for the next publish). */
  async writeManifest(manifest: UpstreamManifest): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const envelope = signManifest(manifest, await this.privateKeyPem());
    await atomicWrite(path.join(this.dir, 'state.json'), JSON.stringify(manifest, null, 2));
    await atomicWrite(path.join(this.dir, 'manifest.json'), JSON.stringify(envelope, null, 2));
  }

  /** Serves manifest.json, files/ and patches/; answers Range requests with 206 so downloads can resume. */
  serve(port: number, host = '0.0.0.0'): Promise<Server> {
    const server = createServer(async (req, res) => {
      const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
      const file = path.resolve(this.dir, `.${url}`);
      const allowed = url === '/manifest.json' || url.startsWith('/files/') || url.startsWith('/patches/');
      if (req.method !== 'GET' || !allowed || !file.startsWith(path.resolve(this.dir) + path.sep)) {
        res.writeHead(404).end();
        return;
      }
      let size: number;
      try {
        const info = await stat(file);
        if (!info.isFile()) throw new Error('not a file');
        size = info.size;
      } catch {
        res.writeHead(404).end();
        return;
      }
      const type = url.endsWith('.json') ? 'application/json' : 'application/octet-stream';
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
        if (start >= size || start > end) {
          res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
          return;
        }
        res.writeHead(206, { 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}`, 'content-type': type, 'accept-ranges': 'bytes' });
        createReadStream(file, { start, end }).pipe(res);
        return;
      }
      res.writeHead(200, { 'content-length': size, 'content-type': type, 'accept-ranges': 'bytes' });
      createReadStream(file).pipe(res);
    });
    return new Promise((resolve) => server.listen(port, host, () => resolve(server)));
  }
}

async function atomicWrite(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** The next patch-level version: 17.1.3 → 17.1.4. */
export function bump(version: string): string {
  const parts = version.split('.').map(Number);
  parts[parts.length - 1]! += 1;
  return parts.join('.');
}
