import { readFileSync } from 'node:fs';

/**
 * The upstream public key the simulated agents pin (HeraldAgentOptions.upstreamPublicKey): the
 * --upstream-key option, else UPSTREAM_PUBLIC_KEY, else the file UPSTREAM_PUBLIC_KEY_FILE
 * names; undefined (the agents trust the server) when none is given.
 */
export function pinnedUpstreamKey(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (option) return option;
  if (env.UPSTREAM_PUBLIC_KEY) return env.UPSTREAM_PUBLIC_KEY;
  const file = env.UPSTREAM_PUBLIC_KEY_FILE;
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`UPSTREAM_PUBLIC_KEY_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

/**
 * TLS settings for the agents' broker connections: the --ca option, else the file
 * RABBITMQ_CA_FILE names (as for the services), read as the certificate authority the broker's
 * certificate must chain to; undefined (plain amqp://, or the system's CAs) when neither is given.
 */
export function brokerTls(option: string | undefined, env: NodeJS.ProcessEnv = process.env): { ca: string } | undefined {
  const file = option ?? env.RABBITMQ_CA_FILE;
  if (!file) return undefined;
  try {
    return { ca: readFileSync(file, 'utf8') };
  } catch (err) {
    throw new Error(`${option ? '--ca' : 'RABBITMQ_CA_FILE'}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}
