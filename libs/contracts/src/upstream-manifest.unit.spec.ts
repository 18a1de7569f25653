import { generateUpstreamKeys, parsePublicKey, signManifest, verifyManifest, type UpstreamManifest } from './upstream-manifest';

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
    expect(verifyManifest(envelope, trusted)).toEqual({ ok: true, manifest });
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
