import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CHECKS, ConformanceKit } from '@herald/testing';

/*
 * Section 10 of docs/asyncapi.yaml is what an agent team reads before running the kit: its
 * table of checks and its environment variables must be the kit's own.
 */
const description = (parseYaml(readFileSync(path.join(__dirname, '..', '..', 'docs', 'asyncapi.yaml'), 'utf8')) as { info: { description: string } }).info.description;
const section = description.slice(description.indexOf('## 10. Checking an agent'), description.indexOf('## Changes'));
const tableRows = (header: string) => {
  const start = section.indexOf(header);
  const rows: string[] = [];
  for (const line of section.slice(start).split('\n').slice(2)) {
    if (!line.trim().startsWith('|')) break;
    rows.push(/^\s*\| `([^`]+)`/.exec(line)?.[1] ?? '');
  }
  return rows;
};

describe('docs/asyncapi.yaml section 10 (the conformance kit)', () => {
  it('lists every check of the kit, in its order, and no other', () => {
    expect(tableRows('| check | what the agent must do |')).toEqual(CHECKS.map((c) => c.name));
  });

  it('names exactly the environment variables the kit sets', () => {
    const kit = new ConformanceKit({ agentCommand: 'true', workDir: '/nonexistent' });
    const env = (kit as unknown as { environment(id: string, o: object): Record<string, string> }).environment('a', {});
    expect(tableRows('| variable | meaning |').sort()).toEqual(Object.keys(env).sort());
  });
});
