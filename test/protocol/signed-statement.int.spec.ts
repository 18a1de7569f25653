import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { type ComponentTarget, generateUpstreamKeys, parsePublicKey, signManifest, signStatement, verifyStatement } from '@herald/contracts';
import { HeraldAgent, MemoryComponentStore } from '@herald/agent-sdk';

jest.setTimeout(60_000);

/*
 * The "Signed components" recipe of docs/asyncapi.yaml, run as written: its Python function
 * (with the `cryptography` package) must accept what the reference agent accepts and refuse what
 * it refuses, and the document's example command must verify with the document's example key.
 * (A process per run: int tier.)
 */

const doc = parseYaml(readFileSync(path.join(__dirname, '..', '..', 'docs', 'asyncapi.yaml'), 'utf8')) as {
  info: { description: string };
  components: { messages: Record<string, { examples: Array<{ payload: { components: ComponentTarget[] } }> }> };
};
const python = /```python\n([\s\S]*?)```/.exec(doc.info.description)?.[1];
const exampleKey = /example key `([A-Za-z0-9+/=]{44})`/.exec(doc.info.description)?.[1];

const driver = `
import json, sys
cases = json.load(sys.stdin)
out = []
for case in cases:
    try:
        verify_component(case["entry"], case["key"])
        out.append("ok")
    except ValueError as e:
        out.append("refused: %s" % e)
print(json.dumps(out))
`;

async function runPython(cases: Array<{ entry: ComponentTarget; key: string }>): Promise<string[]> {
  const child = promisify(execFile)('python3', ['-c', `${python}\n${driver}`], { timeout: 30_000 });
  child.child.stdin!.end(JSON.stringify(cases));
  const { stdout } = await child;
  return JSON.parse(stdout) as string[];
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('the signed-components recipe of docs/asyncapi.yaml', () => {
  it('is in the document, with an example key', () => {
    expect(python).toContain('def verify_component(entry, upstream_key_b64):');
    expect(exampleKey).toBeDefined();
  });

  it("verifies the example update command's component with the example key", async () => {
    const entry = doc.components.messages.update!.examples[0]!.payload.components[0]!;
    expect(verifyStatement(entry.statement, parsePublicKey(exampleKey!), entry)).toMatchObject({ ok: true });
    expect(await runPython([{ entry, key: exampleKey! }])).toEqual(['ok']);
  });

  it('agrees with the reference agent on honest entries and on every kind of lie', async () => {
    const upstream = generateUpstreamKeys();
    const stranger = generateUpstreamKeys();
    const file = Buffer.from('virus-pattern 2.0\n'.repeat(50));
    const other = Buffer.from('something else');
    const said = { type: 'virus-pattern', version: '2.0', sha256: sha256(file), size: file.length };
    const base: ComponentTarget = { ...said, url: 'https://herald.example.org/components/virus-pattern/versions/2.0/download', statement: signStatement(said, upstream.privateKeyPem) };
    const manifest = signManifest(
      { schemaVersion: 2, manifestVersion: 1, publishedAt: new Date().toISOString(), components: [{ ...said, url: 'files/x', patches: [] }] },
      upstream.privateKeyPem,
    );
    const { statement: _none, ...unsigned } = base;
    const entries: Record<string, ComponentTarget> = {
      honest: base,
      'whole manifest': { ...base, statement: manifest },
      'another digest': { ...base, sha256: sha256(other), size: other.length },
      'another size': { ...base, size: file.length + 1 },
      'another key': { ...base, statement: signStatement(said, stranger.privateKeyPem) },
      'another version': { ...base, statement: signStatement({ ...said, version: '1.9' }, upstream.privateKeyPem) },
      'another type': { ...base, statement: signStatement({ ...said, type: 'scan-engine' }, upstream.privateKeyPem) },
      'not in the manifest': { ...base, version: '2.1', statement: manifest },
      'payload changed': { ...base, statement: { ...base.statement!, payload: Buffer.from(JSON.stringify({ ...said, size: 1 })).toString('base64') } },
      'no statement': unsigned,
    };
    const agent = new HeraldAgent({ agentId: 'recipe', store: new MemoryComponentStore(), upstreamPublicKey: upstream.publicKeyRaw });
    const reference = Object.values(entries).map((entry) => {
      try {
        agent.verifyTarget(entry);
        return 'ok';
      } catch {
        return 'refused';
      }
    });
    const verdicts = await runPython(Object.values(entries).map((entry) => ({ entry, key: upstream.publicKeyRaw })));
    const named = (list: string[]) => Object.fromEntries(Object.keys(entries).map((name, i) => [name, list[i]!.startsWith('ok') ? 'ok' : 'refused']));
    expect(named(verdicts)).toEqual(named(reference));
    expect(named(reference)).toEqual({
      honest: 'ok',
      'whole manifest': 'ok',
      'another digest': 'refused',
      'another size': 'refused',
      'another key': 'refused',
      'another version': 'refused',
      'another type': 'refused',
      'not in the manifest': 'refused',
      'payload changed': 'refused',
      'no statement': 'refused',
    });
  });
});

