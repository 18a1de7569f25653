import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { AgentCommand, AgentMessage } from '@herald/contracts';

/*
 * docs/asyncapi.yaml is a valid AsyncAPI 3 document: the official parser, with its rulesets,
 * reports no errors, and finds every message of the agent protocol. The parser takes about 2 s
 * of CPU on a quiet machine and has taken 15 s on a loaded one, so this runs in the int tier;
 * asyncapi.unit.spec.ts checks the document against libs/contracts.
 */

jest.setTimeout(120_000); // a deadline for a hang, not a measure of speed

const FILE = path.join(__dirname, '..', '..', 'docs', 'asyncapi.yaml');

const typesOf = (union: { options: readonly unknown[] }) => union.options.map((o) => String((o as { shape: { type: { value: string } } }).shape.type.value));

describe('docs/asyncapi.yaml', () => {
  it('is a valid AsyncAPI 3 document: the parser reports no errors', async () => {
    const { document, diagnostics } = await new Parser().parse(readFileSync(FILE, 'utf8'));
    const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
    expect(errors.map((d) => `${d.path.join('.')}: ${d.message}`)).toEqual([]);
    expect(document).toBeDefined();
    expect(document!.version()).toBe('3.0.0');
    expect(
      document!
        .messages()
        .all()
        .map((m) => m.name())
        .sort(),
    ).toEqual([...typesOf(AgentMessage), ...typesOf(AgentCommand)].sort());
  });
});
