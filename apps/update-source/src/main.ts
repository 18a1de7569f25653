import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { FolderUpstream } from './folder-upstream';

const usage = `Reference update source for Herald (docs/upstream-protocol.md).

  update-source serve   [--dir ./var/upstream] [--port 3010]
  update-source publish [--dir ./var/upstream] --type virus-pattern [--version 17.2.0]
                        [--pattern] [--size 1000000] [--patches 3]
  update-source key     [--dir ./var/upstream]      prints the public key for UPSTREAM_PUBLIC_KEY

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
    },
  });
  const upstream = new FolderUpstream(values.dir!);
  switch (positionals[0]) {
    case 'serve': {
      await upstream.privateKeyPem();
      await upstream.serve(Number(values.port));
      console.log(`update source serving ${values.dir} at http://127.0.0.1:${values.port}/manifest.json`);
      console.log(`UPSTREAM_PUBLIC_KEY=${await upstream.publicKey()}`);
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
