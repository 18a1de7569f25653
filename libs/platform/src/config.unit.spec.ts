import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { BaseConfig, ConfigError, checkBrokerTls, loadConfig } from './config';

describe('loadConfig with FOO_FILE', () => {
  const schema = z.object({ SECRET: z.string().min(4), PORT: z.coerce.number().default(1) });
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-config-'));
  const file = path.join(dir, 'secret');
  writeFileSync(file, 'from-the-file\n');

  it('given only SECRET_FILE, when loaded, then SECRET is the file content without the trailing newline', () => {
    expect(loadConfig(schema, { SECRET_FILE: file })).toEqual({ SECRET: 'from-the-file', PORT: 1 });
  });

  it('given *_FILE variables that are not its settings (other tools use the pattern), when loaded, then they are left alone', () => {
    expect(loadConfig(schema, { SECRET: 'direct', TF_CLI_CONFIG_FILE: path.join(dir, 'nope'), PORT_FILE_FILE: 'x' })).toEqual({ SECRET: 'direct', PORT: 1 });
  });

  it('given both, when loaded, then SECRET itself wins', () => {
    expect(loadConfig(schema, { SECRET: 'direct', SECRET_FILE: file }).SECRET).toBe('direct');
  });

  it('given a file that cannot be read, when loaded, then the error names the setting and the path', () => {
    const missing = path.join(dir, 'nope');
    expect(() => loadConfig(schema, { SECRET_FILE: missing })).toThrow(ConfigError);
    expect(() => loadConfig(schema, { SECRET_FILE: missing })).toThrow(`SECRET_FILE: cannot read ${missing} (ENOENT)`);
  });

  it('given file content the schema refuses, when loaded, then the setting is named as usual', () => {
    const short = path.join(dir, 'short');
    writeFileSync(short, 'ab');
    expect(() => loadConfig(schema, { SECRET_FILE: short })).toThrow(/SECRET:/);
  });
});

describe('RABBITMQ_URL', () => {
  const load = (RABBITMQ_URL: string) => loadConfig(BaseConfig, { RABBITMQ_URL });
  const problem = (RABBITMQ_URL: string): string => {
    try {
      load(RABBITMQ_URL);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('accepted');
  };

  it('given one URL or the nodes of a cluster, comma-separated, when loaded, then it is taken as written', () => {
    expect(load('amqp://herald:pw@mq1:5672/herald').RABBITMQ_URL).toBe('amqp://herald:pw@mq1:5672/herald');
    expect(load('amqp://herald:pw@mq1:5672, amqp://herald:pw@mq2:5672,amqps://herald:pw@mq3').RABBITMQ_URL).toBe(
      'amqp://herald:pw@mq1:5672, amqp://herald:pw@mq2:5672,amqps://herald:pw@mq3',
    );
  });

  it('given a bad entry in the list, when loaded, then the error names its place and never shows a password', () => {
    const message = problem('amqp://herald:s3cret@mq1:5672,http://herald:s3cret@mq2:5672');
    expect(message).toMatch(/RABBITMQ_URL: URL 2 of 2 \(http:\/\/herald:\*\*\*@mq2:5672\/?\) must be an amqp:\/\/ or amqps:\/\/ URL/);
    expect(message).not.toContain('s3cret');
    expect(problem('amqp://herald:s3cret@mq1:5672,,amqp://mq3')).toMatch(/URL 2 of 3 .* is empty/);
    expect(problem('herald:s3cret@mq1:5672')).toMatch(/RABBITMQ_URL: \(\*\*\*@mq1:5672\) must be an amqp:\/\/ or amqps:\/\/ URL \(the value is not shown: it may hold a password\)/);
  });

  it('given a bad DATABASE_URL or a short token, when loaded, then the error shows neither password nor token', () => {
    const message = (() => {
      try {
        loadConfig(BaseConfig, { DATABASE_URL: 'mysql://herald:s3cret@db/herald', ADMIN_TOKENS: 'alice:s3cret' });
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    })();
    expect(message).toMatch(/DATABASE_URL: must be a postgres:\/\/ URL \(got "mysql:\/\/herald:\*\*\*@db\/herald"\)/);
    expect(message).toMatch(/ADMIN_TOKENS: .* \(the value is not shown: it is a secret\)/);
    expect(message).not.toContain('s3cret');
  });

  it('given nothing, when loaded, then start-up waits up to 2 minutes and heartbeats every 30 s', () => {
    const config = loadConfig(BaseConfig, {});
    expect(config.STARTUP_TIMEOUT_MS).toBe(120_000);
    expect(config.RABBITMQ_HEARTBEAT_SECONDS).toBe(30);
  });
});

describe('HTTP_BIND_ADDRESS', () => {
  it('given nothing, when loaded, then the HTTP server listens on this host only', () => {
    expect(loadConfig(BaseConfig, {}).HTTP_BIND_ADDRESS).toBe('127.0.0.1');
  });

  it('given an IPv4 or IPv6 address, when loaded, then it is taken; given a host name or junk, then it is refused', () => {
    for (const address of ['0.0.0.0', '10.1.2.3', '::', '::1']) expect(loadConfig(BaseConfig, { HTTP_BIND_ADDRESS: address }).HTTP_BIND_ADDRESS).toBe(address);
    for (const address of ['localhost', '0.0.0.0:3000', 'all']) {
      expect(() => loadConfig(BaseConfig, { HTTP_BIND_ADDRESS: address })).toThrow(/HTTP_BIND_ADDRESS: must be an IP address/);
    }
  });
});

/** A self-signed CA certificate (EC P-256, valid for 100 years), made once with openssl for these tests. */
const TEST_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBljCCAT2gAwIBAgIUCGSyb2vmFUXywrHTkGIAR9b9VH4wCgYIKoZIzj0EAwIw
IDEeMBwGA1UEAwwVSGVyYWxkIGNvbmZpZyB0ZXN0IENBMCAXDTI2MTEzMDEzMTMw
M1oYDzIxMjYxMTA2MTMxMzAzWjAgMR4wHAYDVQQDDBVIZXJhbGQgY29uZmlnIHRl
c3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATYo8cr+uR0LyipXQRdt1ok
1f1NmnrEPBUot51VGcGA5aWtq6TNn55UYlN998Ngl3ZK1LYTMvBTEbKyppBoY2cP
o1MwUTAdBgNVHQ4EFgQU3tviSApPqp6SIwRTYR4ZxrpGVhcwHwYDVR0jBBgwFoAU
3tviSApPqp6SIwRTYR4ZxrpGVhcwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQD
AgNHADBEAiBDk33D47mRoJbjjgfKBZtZFTk2bRajZecQRny9OooAqwIgF1CGuvmU
QQa9fsmE1UKSzBP9jgnL6GqcpR4S8OOgzgw=
-----END CERTIFICATE-----
`;

describe('RABBITMQ_CA', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-ca-'));

  it('given RABBITMQ_CA_FILE naming a PEM file, when loaded, then RABBITMQ_CA is its certificates', () => {
    const file = path.join(dir, 'ca.pem');
    writeFileSync(file, TEST_CA_PEM);
    expect(loadConfig(BaseConfig, { RABBITMQ_URL: 'amqps://h:pw@mq:5671', RABBITMQ_CA_FILE: file }).RABBITMQ_CA).toBe(TEST_CA_PEM.trim());
  });

  it('given a path instead of PEM text, or a damaged certificate, when loaded, then the error says what is wrong', () => {
    expect(() => loadConfig(BaseConfig, { RABBITMQ_CA: '/etc/ca.pem' })).toThrow(/RABBITMQ_CA: must be PEM certificates .*_FILE/);
    // A line of the certificate left out: its DER no longer parses.
    const damaged = TEST_CA_PEM.split('\n').filter((_, i) => i !== 3).join('\n');
    expect(() => loadConfig(BaseConfig, { RABBITMQ_CA: damaged })).toThrow(/RABBITMQ_CA: certificate 1 of 1 cannot be read/);
  });

  it('given a CA, when a broker URL is not amqps://, then the settings are refused together, naming the URL by its place', () => {
    const config = (RABBITMQ_URL: string) => loadConfig(BaseConfig, { RABBITMQ_URL, RABBITMQ_CA: TEST_CA_PEM });
    expect(() => checkBrokerTls(config('amqps://h:pw@mq1:5671,amqps://h:pw@mq2:5671'))).not.toThrow();
    expect(() => checkBrokerTls(config('amqp://h:pw@mq1:5672'))).toThrow('RABBITMQ_CA is set, but RABBITMQ_URL: the URL is not amqps://');
    expect(() => checkBrokerTls(config('amqps://h:pw@mq1:5671,amqp://h:pw@mq2:5672'))).toThrow('RABBITMQ_URL: URL 2 of 2 is not amqps://');
    expect(() => checkBrokerTls(loadConfig(BaseConfig, { RABBITMQ_URL: 'amqp://h:pw@mq1:5672' }))).not.toThrow();
  });
});
