import { parseArgs } from 'node:util';
import { FolderUpstream } from './folder-upstream';

const usage = `Reference update source for Herald.

  update-source serve   [--dir ./var/upstream] [--port 3010]
  update-source publish [--dir ./var/upstream] --type virus-pattern [--version 17.2.0] [--size 65536]`;

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: 'string', default: process.env.UPSTREAM_DIR ?? './var/upstream' },
      port: { type: 'string', default: process.env.UPSTREAM_PORT ?? '3010' },
      type: { type: 'string' },
      version: { type: 'string' },
      size: { type: 'string', default: '65536' },
    },
  });
  const upstream = new FolderUpstream(values.dir!);
  switch (positionals[0]) {
    case 'serve': {
      await upstream.serve(Number(values.port));
      console.log(`update source serving ${values.dir} at http://127.0.0.1:${values.port}/manifest.json`);
      return;
    }
    case 'publish': {
      if (!values.type) throw new Error('publish needs --type');
      const { randomBytes } = await import('node:crypto');
      const entry = await upstream.publish(values.type, values.version, randomBytes(Number(values.size)));
      console.log(`published ${entry.type} ${entry.version} (${entry.size} bytes, sha256 ${entry.sha256})`);
      return;
    }
    default:
      console.log(usage);
      process.exitCode = positionals[0] ? 2 : 0;
  }
}

main().catch((err: Error) => {
  console.error(`update-source: ${err.message}`);
  process.exit(1);
});
