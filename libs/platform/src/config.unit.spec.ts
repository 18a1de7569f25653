import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError, loadConfig } from './config';

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
