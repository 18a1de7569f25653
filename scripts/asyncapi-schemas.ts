import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { agentProtocolJsonSchemas } from '@herald/contracts';

/*
 * npm run docs:asyncapi — writes the JSON Schemas of the agent protocol, generated from the zod
 * schemas in libs/contracts, into components.schemas of docs/asyncapi.yaml. Everything else in
 * the document (and its comments) stays as it is. test/protocol/asyncapi.unit.spec.ts fails
 * while the document and the contracts disagree.
 */

/** The document with its components.schemas replaced by the generated ones. */
export function withGeneratedSchemas(documentText: string): string {
  const doc = parseDocument(documentText);
  if (doc.errors.length > 0) throw new Error(`docs/asyncapi.yaml does not parse: ${doc.errors[0]!.message}`);
  doc.setIn(['components', 'schemas'], doc.createNode(agentProtocolJsonSchemas()));
  return doc.toString({ lineWidth: 0 });
}

function main(): void {
  // Run from dist/scripts (see package.json) or from the repository root.
  const file = path.resolve(process.cwd(), 'docs', 'asyncapi.yaml');
  const before = readFileSync(file, 'utf8');
  const after = withGeneratedSchemas(before);
  if (after === before) {
    console.log(`${path.relative(process.cwd(), file)} is up to date`);
    return;
  }
  writeFileSync(file, after);
  console.log(`${path.relative(process.cwd(), file)}: components.schemas written from libs/contracts`);
}

if (require.main === module) main();
