import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * An agent's own broker identity: it logs in as its agent id with `<enrolment token>:<secret>`.
 * The secret is the agent's (random, kept on its disk); the enrolment token is the one the
 * operator gave every agent of a site, needed only for the first login, which binds the secret to
 * the id. After that only this secret logs in as this id, while an admin has the agent accepted.
 */
export interface AgentCredentials {
  /** 32 or more characters, no ":" (agentSecret() makes and keeps one). */
  secret: string;
  /** Needed for the first login only; an enrolled agent may leave it out. */
  enrolmentToken?: string;
}

/** The broker password for these credentials. */
export function brokerPassword(credentials: AgentCredentials): string {
  if (credentials.secret.length < 32 || credentials.secret.includes(':')) throw new Error('an agent secret has at least 32 characters and no ":"');
  return credentials.enrolmentToken ? `${credentials.enrolmentToken}:${credentials.secret}` : credentials.secret;
}

/** `url` (one broker URL, or several comma-separated) with the agent's id and password as its user, on every node. */
export function withAgentIdentity(url: string | readonly string[], agentId: string, credentials: AgentCredentials): string[] {
  const urls = typeof url === 'string' ? url.split(',') : [...url];
  return urls.map((u) => {
    const parsed = new URL(u.trim());
    parsed.username = encodeURIComponent(agentId);
    parsed.password = encodeURIComponent(brokerPassword(credentials));
    return parsed.toString();
  });
}

/**
 * The agent's secret kept in `file`: read, or made (32 random bytes, base64url) and written with
 * mode 0600 on first use. Keep the file with the agent's other state: a lost secret means an admin
 * must forget the identity before the agent can enrol again.
 */
export async function agentSecret(file: string): Promise<string> {
  try {
    const kept = (await readFile(file, 'utf8')).trim();
    if (kept.length >= 32 && !kept.includes(':')) return kept;
    throw new Error(`${file} does not hold an agent secret (32 or more characters, no ":")`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const secret = randomBytes(32).toString('base64url');
  await mkdir(path.dirname(file), { recursive: true });
  // wx: two processes starting at once do not both write; the loser reads the winner's.
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
  return (await readFile(file, 'utf8')).trim();
}
