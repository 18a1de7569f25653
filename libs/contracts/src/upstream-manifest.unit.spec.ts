import { ComponentTarget } from './common';
import { generateUpstreamKeys, parsePublicKey, signManifest, signStatement, verifyManifest, verifyStatement, type UpstreamManifest } from './upstream-manifest';

const manifest: UpstreamManifest = {
  schemaVersion: 2,
  manifestVersion: 7,
  publishedAt: '2026-11-27T10:00:00.000Z',
  components: [{ type: 'virus-pattern', version: '17.1.0', size: 10, sha256: 'a'.repeat(64), url: 'files/virus-pattern/17.1.0', patches: [] }],
};

describe('signed upstream manifests', () => {
  const keys = generateUpstreamKeys();
  const trusted = parsePublicKey(keys.publicKeyRaw);

  it('verify when signed by the trusted key, with the key given as raw base64 or PEM', () => {
    const envelope = signManifest(manifest, keys.privateKeyPem);
    expect(verifyManifest(envelope, trusted)).toEqual({ ok: true, manifest, envelope });
    expect(verifyManifest(JSON.parse(JSON.stringify(envelope)), parsePublicKey(keys.publicKeyPem))).toMatchObject({ ok: true });
  });

  it('refuse a bare manifest and an envelope without signatures as unsigned', () => {
    expect(verifyManifest(manifest, trusted)).toMatchObject({ ok: false, reason: 'unsigned', manifestVersion: 7 });
    expect(verifyManifest({ ...signManifest(manifest, keys.privateKeyPem), signatures: [] }, trusted)).toMatchObject({ ok: false, reason: 'unsigned' });
  });

  it('refuse another key, a changed payload and a garbled signature', () => {
    const other = signManifest(manifest, generateUpstreamKeys().privateKeyPem);
    expect(verifyManifest(other, trusted)).toMatchObject({ ok: false, reason: 'bad-signature', manifestVersion: 7 });
    const envelope = signManifest(manifest, keys.privateKeyPem);
    const changed = { ...envelope, payload: Buffer.from(JSON.stringify({ ...manifest, manifestVersion: 8 })).toString('base64') };
    expect(verifyManifest(changed, trusted)).toMatchObject({ ok: false, reason: 'bad-signature', manifestVersion: 8 });
    expect(verifyManifest({ ...envelope, signatures: [{ sig: 'AAAA' }] }, trusted)).toMatchObject({ ok: false, reason: 'bad-signature' });
  });

  it('refuse what is not a manifest at all, and a signed payload that breaks the protocol', () => {
    expect(verifyManifest('hello', trusted)).toMatchObject({ ok: false, reason: 'malformed-manifest', manifestVersion: null });
    const broken = signManifest({ ...manifest, components: [{ ...manifest.components[0]!, sha256: 'xyz' }] }, keys.privateKeyPem);
    expect(verifyManifest(broken, trusted)).toMatchObject({ ok: false, reason: 'malformed-manifest' });
  });

  it('accept only Ed25519 keys', () => {
    expect(() => parsePublicKey(Buffer.alloc(31).toString('base64'))).toThrow(/32 bytes/);
  });
});

describe('signed component statements', () => {
  const keys = generateUpstreamKeys();
  const trusted = parsePublicKey(keys.publicKeyRaw);
  const said = { type: 'virus-pattern', version: '17.1.0', sha256: 'a'.repeat(64), size: 10 };
  const wanted = { type: 'virus-pattern', version: '17.1.0' };

  it('say what the upstream signed, for the version asked about', () => {
    const statement = signStatement(said, keys.privateKeyPem);
    expect(statement.payloadType).toBe('application/vnd.herald.component-statement+json');
    expect(JSON.parse(Buffer.from(statement.payload, 'base64').toString('utf8'))).toEqual(said);
    expect(verifyStatement(statement, trusted, wanted)).toEqual({ ok: true, statement: said });
    expect(verifyStatement(JSON.parse(JSON.stringify(statement)), parsePublicKey(keys.publicKeyPem), wanted)).toMatchObject({ ok: true });
  });

  it('travel in a component target, and are refused there when malformed', () => {
    const target = { ...said, url: 'https://herald.example/components/virus-pattern/versions/17.1.0/download', statement: signStatement(said, keys.privateKeyPem) };
    expect(ComponentTarget.safeParse(target).success).toBe(true);
    expect(ComponentTarget.safeParse({ ...target, statement: { ...target.statement, signatures: [] } }).success).toBe(false);
    expect(ComponentTarget.safeParse({ ...target, statement: { ...target.statement, payloadType: 'text/plain' } }).success).toBe(false);
    expect(ComponentTarget.safeParse({ ...target, statement: { ...target.statement, extra: 1 } }).success).toBe(false);
  });

  it('refuse a missing statement, another key, a changed payload and a garbled signature', () => {
    expect(verifyStatement(undefined, trusted, wanted)).toEqual({ ok: false, detail: 'the server sent no signed statement from the upstream for it' });
    expect(verifyStatement(signStatement(said, generateUpstreamKeys().privateKeyPem), trusted, wanted)).toMatchObject({ ok: false, detail: expect.stringMatching(/not signed by the upstream key/) });
    const statement = signStatement(said, keys.privateKeyPem);
    const changed = { ...statement, payload: Buffer.from(JSON.stringify({ ...said, sha256: 'b'.repeat(64) })).toString('base64') };
    expect(verifyStatement(changed, trusted, wanted)).toMatchObject({ ok: false, detail: expect.stringMatching(/not signed by the upstream key/) });
    expect(verifyStatement({ ...statement, signatures: [{ sig: 'AAAA' }] }, trusted, wanted)).toMatchObject({ ok: false, detail: expect.stringMatching(/not signed/) });
    expect(verifyStatement({ ...statement, payload: 'not base64!' }, trusted, wanted)).toMatchObject({ ok: false, detail: expect.stringMatching(/malformed/) });
  });

  it('refuse a statement signed for another version or another type', () => {
    const older = signStatement({ ...said, version: '17.0.9' }, keys.privateKeyPem);
    expect(verifyStatement(older, trusted, wanted)).toEqual({ ok: false, detail: 'the upstream signed virus-pattern 17.0.9, not virus-pattern 17.1.0' });
    const engine = signStatement({ ...said, type: 'scan-engine' }, keys.privateKeyPem);
    expect(verifyStatement(engine, trusted, wanted)).toEqual({ ok: false, detail: 'the upstream signed scan-engine 17.1.0, not virus-pattern 17.1.0' });
  });

  it('accept a whole signed manifest as the statement of each version it lists, and of no other', () => {
    const envelope = signManifest(manifest, keys.privateKeyPem);
    expect(verifyStatement(envelope, trusted, wanted)).toEqual({ ok: true, statement: said });
    expect(verifyStatement(envelope, trusted, { type: 'virus-pattern', version: '17.2.0' })).toEqual({ ok: false, detail: 'the signed manifest does not list virus-pattern 17.2.0' });
    expect(verifyStatement(signManifest(manifest, generateUpstreamKeys().privateKeyPem), trusted, wanted)).toMatchObject({ ok: false });
  });
});
