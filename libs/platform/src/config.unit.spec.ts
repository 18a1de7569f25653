import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { BaseConfig, ConfigError, loadConfig } from './config';

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
