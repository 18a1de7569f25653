import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { databaseUrlOn } from './postgres';

const run = promisify(execFile);

export interface PrivatePostgresOptions {
  /** Port to listen on (127.0.0.1); a free one is picked when not given. */
  port?: number;
  /** Cluster name prefix (`<name>-<pid>-<random>`). */
  name?: string;
  /** PostgreSQL major version; the newest in /etc/postgresql when not given. */
  version?: string;
}

export interface PrivatePostgres {
  /** Maintenance URL (user postgres, database postgres, trust auth on 127.0.0.1). */
  readonly url: string;
  readonly port: number;
  readonly version: string;
  readonly cluster: string;
  /** A URL of a database on this cluster. */
  databaseUrl(database: string): string;
  /** Creates a database on this cluster and returns its URL. */
  createDatabase(database: string): Promise<string>;
  /** Stops the server (fast: open connections are cut, as in a crash seen from the client). */
  stop(): Promise<void>;
  start(): Promise<void>;
  isRunning(): Promise<boolean>;
  /** Stops the cluster and deletes it (data, config, logs). Safe to call twice. */
  remove(): Promise<void>;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function installedPostgresVersion(): string {
  const versions = readdirSync('/etc/postgresql')
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error('no PostgreSQL version in /etc/postgresql');
  return versions[0]!;
}

/**
 * A PostgreSQL cluster of our own (Debian's pg_createcluster, on a port of its own, never the
 * shared one on 5432), trust auth from 127.0.0.1: for fault tests that stop and start the database.
 */
export async function startPrivatePostgres(options: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const version = options.version ?? installedPostgresVersion();
  const port = options.port ?? (await freeLoopbackPort());
  const cluster = `${options.name ?? 'herald-pg'}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let removed = false;

  const ctl = (action: 'start' | 'stop'): Promise<unknown> =>
    run('pg_ctlcluster', action === 'stop' ? [version, cluster, 'stop', '-m', 'fast'] : [version, cluster, 'start'], { timeout: 120_000 });

  const remove = async (): Promise<void> => {
    if (removed) return;
    removed = true;
    await run('pg_dropcluster', ['--stop', version, cluster], { timeout: 120_000 }).catch(async (err: unknown) => {
      // A cluster that was never fully created leaves nothing pg_dropcluster knows of.
      const { stdout } = await run('pg_lsclusters', ['--no-header']);
      if (stdout.split('\n').some((line) => line.split(/\s+/)[1] === cluster)) throw err;
    });
    // pg_dropcluster leaves a folder behind when it holds a file it did not write.
    await Promise.all([rm(`/etc/postgresql/${version}/${cluster}`, { recursive: true, force: true }), rm(`/var/lib/postgresql/${version}/${cluster}`, { recursive: true, force: true })]);
  };

  try {
    // --start-conf manual: the system never starts it by itself at boot.
    const settings = ['listen_addresses=localhost', 'max_connections=200', 'fsync=off'].flatMap((s) => ['-o', s]);
    await run('pg_createcluster', ['--port', String(port), '--start-conf', 'manual', ...settings, version, cluster, '--', '--auth-local=peer', '--auth-host=trust'], {
      timeout: 120_000,
    });
    const conf = `/etc/postgresql/${version}/${cluster}`;
    await writeFile(
      `${conf}/pg_hba.conf`,
      ['local all postgres peer', 'local all all peer', 'host all all 127.0.0.1/32 trust', 'host all all ::1/128 trust', ''].join('\n'),
    );
    await ctl('start');
  } catch (err) {
    await remove().catch(() => undefined);
    throw err;
  }

  const databaseUrl = (database: string): string => databaseUrlOn(url, database);

  return {
    url,
    port,
    version,
    cluster,
    databaseUrl,
    createDatabase: async (database) => {
      const client = new Client({ connectionString: url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
      } finally {
        await client.end();
      }
      return databaseUrl(database);
    },
    stop: async () => {
      await ctl('stop');
    },
    start: async () => {
      await ctl('start');
    },
    isRunning: async () => {
      const { stdout } = await run('pg_lsclusters', ['--no-header', version, cluster]);
      return /\bonline\b/.test(stdout);
    },
    remove,
  };
}
