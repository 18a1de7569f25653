import { generateUpstreamKeys, signStatement, type ComponentTarget } from '@herald/contracts';
import { HeraldAgent, UnsignedComponentError } from './herald-agent';
import { MemoryComponentStore } from './component-store';

describe('HeraldAgent.verifyTarget', () => {
  const keys = generateUpstreamKeys();
  const said = { type: 'virus-pattern', version: '2.0', sha256: 'a'.repeat(64), size: 100 };
  const target: ComponentTarget = { ...said, url: 'https://herald.example/components/virus-pattern/versions/2.0/download', statement: signStatement(said, keys.privateKeyPem) };
  const pinned = new HeraldAgent({ agentId: 'a', store: new MemoryComponentStore(), upstreamPublicKey: keys.publicKeyRaw });

  it('passes a target whose statement the pinned key signed, with the signed digest and size', () => {
    expect(pinned.verifyTarget(target)).toEqual(target);
    expect(pinned.upstreamKeyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses a digest or a size other than the signed ones', () => {
    expect(() => pinned.verifyTarget({ ...target, sha256: 'b'.repeat(64) })).toThrow(UnsignedComponentError);
    expect(() => pinned.verifyTarget({ ...target, sha256: 'b'.repeat(64) })).toThrow(`the server announced SHA-256 ${'b'.repeat(64)} (100 bytes), the upstream signed ${'a'.repeat(64)} (100 bytes)`);
    expect(() => pinned.verifyTarget({ ...target, size: 101 })).toThrow(/announced SHA-256 a{64} \(101 bytes\)/);
  });

  it('refuses a target without a statement, or one signed by another key', () => {
    const { statement: _none, ...bare } = target;
    expect(() => pinned.verifyTarget(bare)).toThrow('refused, not signed by the upstream: the server sent no signed statement from the upstream for it');
    expect(() => pinned.verifyTarget({ ...target, statement: signStatement(said, generateUpstreamKeys().privateKeyPem) })).toThrow(/not signed by the upstream key/);
  });

  it('without a pinned key, passes whatever the server sent', () => {
    const trusting = new HeraldAgent({ agentId: 'b', store: new MemoryComponentStore() });
    const { statement: _none, ...bare } = target;
    expect(trusting.verifyTarget({ ...bare, sha256: 'c'.repeat(64) })).toEqual({ ...bare, sha256: 'c'.repeat(64) });
    expect(trusting.upstreamKeyId).toBeNull();
  });

  it('refuses to start with a key that is not an Ed25519 public key', () => {
    expect(() => new HeraldAgent({ agentId: 'c', store: new MemoryComponentStore(), upstreamPublicKey: 'not a key' })).toThrow(/upstreamPublicKey is not an Ed25519 public key/);
  });
});
