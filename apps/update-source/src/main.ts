import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FolderUpstream } from './folder-upstream';

const usage = `Reference update source for Herald (docs/upstream-protocol.md).

  update-source serve   [--dir ./var/upstream] [--port 3010] [--public-key-out FILE]
                        [--type virus-pattern --every 30 [--size 1000000] [--patches 3]]
  update-source publish [--dir ./var/upstream] --type virus-pattern [--version 17.2.0]
                        [--pattern] [--size 1000000] [--patches 3]
  update-source key     [--dir ./var/upstream]      prints the public key for UPSTREAM_PUBLIC_KEY

serve --type T --every S also publishes a new pattern release of T every S seconds (and a first
one at once if T has none): a live upstream for demos. --public-key-out writes the public key
(base64, as UPSTREAM_PUBLIC_KEY takes it) to FILE for a Herald that reads UPSTREAM_PUBLIC_KEY_FILE.
publish --pattern evolves a synthetic pattern file from the latest release (records added,
dropped, changed); without it the release is --size random bytes. --patches N offers
incremental patches from the N previous releases (0: none).`;

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: 'string', default: process.env.UPSTREAM_DIR ?? './var/upstream' },
      port: { type: 'string', default: process.env.UPSTREAM_PORT ?? '3010' },
      type: { type: 'string' },
      version: { type: 'string' },
      size: { type: 'string', default: '1000000' },
      pattern: { type: 'boolean', default: false },
      patches: { type: 'string', default: '3' },
      every: { type: 'string' },
      'public-key-out': { type: 'string' },
    },
  });
  const upstream = new FolderUpstream(values.dir!);
  switch (positionals[0]) {
    case 'serve': {
      const publicKey = await upstream.publicKey();
      if (values['public-key-out']) {
        await mkdir(path.dirname(values['public-key-out']), { recursive: true });
        await writeFile(values['public-key-out'], `${publicKey}\n`);
      }
      const every = values.every ? Number(values.every) : 0;
      if (values.every && (!Number.isFinite(every) || every <= 0)) throw new Error(`--every is a number of seconds, not ${values.every}`);
      if (every > 0 && !values.type) throw new Error('serve --every needs --type');
      const release = async () => {
        const entry = await upstream.publishPattern(values.type!, { patches: Number(values.patches), bytes: Number(values.size) });
        console.log(`${new Date().toISOString()} published ${entry.type} ${entry.version} (${entry.size} bytes, ${entry.patches.length} patches)`);
      };
      if (every > 0 && (await upstream.versions(values.type!)).length === 0) await release();
      await upstream.serve(Number(values.port));
      console.log(`update source serving ${values.dir} at http://127.0.0.1:${values.port}/manifest.json`);
      console.log(`UPSTREAM_PUBLIC_KEY=${publicKey}`);
      if (every > 0) {
        setInterval(() => void release().catch((err: Error) => console.error(`update-source: publishing failed: ${err.message}`)), every * 1000);
      }
      return;
    }
    case 'publish': {
      if (!values.type) throw new Error('publish needs --type');
      const options = { version: values.version, patches: Number(values.patches) };
      const entry = values.pattern
        ? await upstream.publishPattern(values.type, { ...options, bytes: Number(values.size) })
        : await upstream.publish(values.type, randomBytes(Number(values.size)), options);
      console.log(`published ${entry.type} ${entry.version} (${entry.size} bytes, sha256 ${entry.sha256}, ${entry.patches.length} patches)`);
      return;
    }
    case 'key':
      console.log(await upstream.publicKey());
      return;
    default:
      console.log(usage);
      process.exitCode = positionals[0] ? 2 : 0;
  }
}

main().catch((err: Error) => {
  console.error(`update-source: ${err.message}`);
  process.exit(1);
});
