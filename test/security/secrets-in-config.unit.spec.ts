import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { z } from 'zod';
import { SecretMasker, redactUrl, redactUrlsIn } from '@herald/common';
import { BaseConfig, ConfigError, loadConfig, secretMasker } from '@herald/platform';
import { AgentPresenceConfig } from '../../apps/agent-presence/src/config';
import { ComponentDownloadConfig } from '../../apps/component-download/src/config';
import { DashboardConfig } from '../../apps/dashboard/src/config';
import { NotificationDispatchConfig } from '../../apps/notification-dispatch/src/config';

/*
 * No secret is ever printed by a configuration error (issue 14): every secret-bearing setting of
 * every service (tokens, URL passwords, the metrics token), given directly or through *_FILE,
 * made invalid in each way it can be, and the error text grepped for every secret.
 */

const schemas: Array<[string, z.ZodType]> = [
  ['base', BaseConfig],
  ['agent-presence', AgentPresenceConfig],
  ['component-download', ComponentDownloadConfig],
  ['notification-dispatch', NotificationDispatchConfig],
  ['dashboard', DashboardConfig],
];

// Secrets of every shape: long and short tokens, passwords with characters URLs must escape.
const S = {
  admin1: 'Adm1nTokenAlphaBravoCharlie0001',
  admin2: 'Adm1nTokenDeltaEchoFoxtrot00002',
  shortAdmin: 'shortAdm1n',
  read1: 'ReadTokenGolfHotelIndiaJuliet01',
  shortRead: 'shrtRead9',
  metrics: 'metr1csSh0rt',
  dbPassword: 'Pg-Pa55w0rd-Kilo',
  mqPassword: 'Mq-Pa55w0rd-Lima',
  mqPassword2: 'Mq-Pa55w0rd-Mike',
  upstreamPassword: 'Up-Pa55w0rd-Nov',
  filePassword: 'F1le-Pa55-Oscar',
  fileToken: 'F1leTok3nPapa',
};
const secrets = Object.values(S);

/** Every way a secret could leak: as is, URL-encoded, JSON-escaped. */
function leaks(text: string): string[] {
  return secrets.filter((s) => text.includes(s) || text.includes(encodeURIComponent(s)) || text.includes(JSON.stringify(s).slice(1, -1)));
}

function errorOf(schema: z.ZodType, env: Record<string, string>): string {
  try {
    loadConfig(schema, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`);
}

const has = (schema: z.ZodType, key: string) => key in ((schema as unknown as { shape?: object }).shape ?? {});

describe('configuration errors print no secret', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-secrets-'));
  const file = (name: string, content: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, content);
    return p;
  };
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  // Each case: a setting, an invalid value holding secrets, and what the error must still say.
  const cases: Array<{ what: string; env: Record<string, string>; names: string }> = [
    {
      what: 'one short token among good admin tokens',
      env: { ADMIN_TOKENS: `alice:${S.admin1},${S.admin2},ci:${S.shortAdmin}` },
      names: 'ADMIN_TOKENS',
    },
    { what: 'a short unnamed read token', env: { READ_TOKENS: `${S.read1},${S.shortRead}` }, names: 'READ_TOKENS' },
    { what: 'a short metrics token', env: { METRICS_TOKEN: S.metrics }, names: 'METRICS_TOKEN' },
    { what: 'a database URL of another scheme', env: { DATABASE_URL: `mysql://herald:${S.dbPassword}@db:3306/herald` }, names: 'DATABASE_URL' },
    { what: 'a database URL missing a slash', env: { DATABASE_URL: `postgres:/herald:${S.dbPassword}@db/herald` }, names: 'DATABASE_URL' },
    { what: 'a database URL without a scheme', env: { DATABASE_URL: `herald:${S.dbPassword}@db/herald` }, names: 'DATABASE_URL' },
    { what: 'a database URL with an @ in the password', env: { DATABASE_URL: `pg://herald:${S.dbPassword}@x@db/herald` }, names: 'DATABASE_URL' },
    { what: 'a broker URL of another scheme', env: { RABBITMQ_URL: `http://herald:${S.mqPassword}@mq:5672` }, names: 'RABBITMQ_URL' },
    { what: 'a broker URL missing its slashes', env: { RABBITMQ_URL: `amqp:herald:${S.mqPassword}@mq:5672` }, names: 'RABBITMQ_URL' },
    {
      what: 'a comma-separated list of broker URLs, the first of another scheme',
      env: { RABBITMQ_URL: `amqq://herald:${S.mqPassword}@mq1:5672,amqp://herald:${S.mqPassword2}@mq2:5672` },
      names: 'RABBITMQ_URL',
    },
    { what: 'ADMIN_TOKENS_FILE with a short token', env: { ADMIN_TOKENS_FILE: file('admin', `ops:${S.fileToken}\n`) }, names: 'ADMIN_TOKENS' },
    { what: 'METRICS_TOKEN_FILE with a short token', env: { METRICS_TOKEN_FILE: file('metrics', S.fileToken) }, names: 'METRICS_TOKEN' },
    { what: 'DATABASE_URL_FILE with a bad URL', env: { DATABASE_URL_FILE: file('db', `mysql://u:${S.filePassword}@db/x`) }, names: 'DATABASE_URL' },
    { what: 'RABBITMQ_URL_FILE with a bad URL', env: { RABBITMQ_URL_FILE: file('mq', `http://u:${S.filePassword}@mq`) }, names: 'RABBITMQ_URL' },
    {
      what: 'an upstream manifest URL of another scheme with credentials',
      env: { UPSTREAM_MANIFEST_URL: `ftp://mirror:${S.upstreamPassword}@upstream.example/manifest.json`, UPSTREAM_PUBLIC_KEY: 'AAAA' },
      names: 'UPSTREAM_MANIFEST_URL',
    },
    { what: 'a dashboard service URL of another scheme with credentials', env: { COMPONENT_DOWNLOAD_URL: `ftp://u:${S.upstreamPassword}@cd:3001` }, names: 'COMPONENT_DOWNLOAD_URL' },
  ];

  for (const [service, schema] of schemas) {
    const applicable = cases.filter((c) => Object.keys(c.env).every((k) => has(schema, k.replace(/_FILE$/, ''))));

    it.each(applicable.map((c) => [c.what, c] as const))(`${service}: %s`, (_what, c) => {
      const message = errorOf(schema, c.env);
      expect(message).toContain(`${c.names}:`);
      expect(leaks(message)).toEqual([]);
    });

    it(`${service}: every bad setting at once, beside a bad port whose value is still shown`, () => {
      const env = Object.assign({}, ...applicable.map((c) => c.env)) as Record<string, string>;
      const port = Object.keys((schema as unknown as { shape: object }).shape).find((k) => k.endsWith('_PORT'));
      if (port) env[port] = 'eighty';
      const message = errorOf(schema, env);
      expect(leaks(message)).toEqual([]);
      if (port) expect(message).toContain(`${port}: `);
      if (port) expect(message).toContain('(got "eighty")');
    });

    it(`${service}: a URL with a password as the value of every setting`, () => {
      // Wherever it goes (a number, a list, a URL of another kind), the password is never printed.
      for (const key of Object.keys((schema as unknown as { shape: object }).shape)) {
        for (const value of [`ftp://u:${S.dbPassword}@host/x`, `amqp://u:${S.mqPassword}@host:99999`, `u:${S.dbPassword}@host`]) {
          let message = '';
          try {
            loadConfig(schema, { [key]: value });
          } catch (err) {
            message = (err as Error).message;
          }
          expect({ key, leaks: leaks(message) }).toEqual({ key, leaks: [] });
        }
      }
    });
  }
});

describe('masking helpers', () => {
  it('mask the password of every URL in a text, parseable or not, and leave URLs without one alone', () => {
    expect(redactUrlsIn('amqp://a:p1@h1:5672,amqps://b:p2@h2/vh')).toBe('amqp://a:***@h1:5672,amqps://b:***@h2/vh');
    expect(redactUrlsIn('cannot reach amqp://u:p@ss@host:99999 now')).toBe('cannot reach amqp://u:***@host:99999 now');
    expect(redactUrlsIn('{"url":"postgres://u:pw@db/x","n":1}')).toBe('{"url":"postgres://u:***@db/x","n":1}');
    expect(redactUrlsIn('http://host/path and postgres://u@db/x')).toBe('http://host/path and postgres://u@db/x');
    expect(redactUrl('amqp://a:p1@h1,amqp://b:p2@h2')).toBe('amqp://a:***@h1,amqp://b:***@h2');
    expect(redactUrl('amqp://guest:guest@127.0.0.1:5672/vh')).toBe('amqp://guest:***@127.0.0.1:5672/vh');
  });

  it('mask known secrets, also inside JSON strings, and the tokens of loaded settings', () => {
    const masker = new SecretMasker(['to"ken-with-quote', 'abc'], 4);
    expect(masker.mask(JSON.stringify({ msg: 'x to"ken-with-quote y abc' }))).toBe('{"msg":"x *** y abc"}');
    const config = loadConfig(BaseConfig, { ADMIN_TOKENS: `alice:${S.admin1}`, METRICS_TOKEN: S.admin2, DATABASE_URL: `postgres://u:${S.dbPassword}@db/x` });
    const line = secretMasker(config).mask(`token ${S.admin1} metrics ${S.admin2} pw ${S.dbPassword} url postgres://u:${S.dbPassword}@db/x`);
    expect(leaks(line)).toEqual([]);
    expect(line).toBe('token *** metrics *** pw *** url postgres://u:***@db/x');
  });
});
