import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { COMPONENT_STATEMENT_PAYLOAD_TYPE, MANIFEST_PAYLOAD_TYPE, SignedStatement } from './common';
import { ComponentType, ComponentVersion } from './versions';

/*
 * The upstream protocol (docs/upstream-protocol.md): what an update source publishes and how
 * Herald checks it. The manifest is a DSSE-style envelope: the manifest JSON travels as base64
 * bytes, signed with Ed25519 over the pre-authentication encoding of those exact bytes, so no
 * JSON canonicalisation is needed and nothing outside the signature is ever trusted.
 */

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'a lower-case hex SHA-256 digest');

/** An incremental patch the upstream offers, from an older version to the listed one. */
export const UpstreamPatch = z.object({
  fromVersion: ComponentVersion,
  toVersion: ComponentVersion,
  /** Only herald-delta-1 is understood; patches in other formats are ignored. */
  format: z.string().min(1),
  size: z.number().int().nonnegative(),
  sha256: Sha256Hex,
  /** Absolute, or relative to the manifest's URL. */
  url: z.string().min(1),
});
export type UpstreamPatch = z.infer<typeof UpstreamPatch>;

export const UpstreamComponent = z.object({
  type: ComponentType,
  version: ComponentVersion,
  size: z.number().int().nonnegative(),
  sha256: Sha256Hex,
  url: z.string().min(1),
  patches: z.array(UpstreamPatch).max(64).default([]),
  /**
   * The upstream's signed statement for this version ({type, version, sha256, size}), which
   * Herald passes on to agents. Optional: for an upstream without one, Herald passes on the
   * whole signed manifest instead.
   */
  statement: SignedStatement.refine((s) => s.payloadType === COMPONENT_STATEMENT_PAYLOAD_TYPE, 'a component statement').optional(),
});
export type UpstreamComponent = z.infer<typeof UpstreamComponent>;

/** The signed content. */
export const UpstreamManifest = z.object({
  schemaVersion: z.literal(2),
  /** Grows with every publication; Herald refuses one lower than the highest it accepted (rollback). */
  manifestVersion: z.number().int().positive(),
  publishedAt: z.iso.datetime({ offset: true }),
  components: z.array(UpstreamComponent).max(256),
});
export type UpstreamManifest = z.infer<typeof UpstreamManifest>;

export const SignedManifestEnvelope = z.object({
  payloadType: z.literal(MANIFEST_PAYLOAD_TYPE),
  /** base64 of the manifest's JSON bytes. */
  payload: z.string().min(1),
  signatures: z.array(z.object({ keyid: z.string().max(128).optional(), sig: z.string().min(1) })).max(16),
});
export type SignedManifestEnvelope = z.infer<typeof SignedManifestEnvelope>;

/** DSSE pre-authentication encoding: what the signature covers. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${payload.length} `), payload]);
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** An Ed25519 public key from PEM (SPKI) or from base64 of its 32 raw bytes. */
export function parsePublicKey(text: string): KeyObject {
  const trimmed = text.trim();
  const key = trimmed.includes('BEGIN')
    ? createPublicKey(trimmed.replace(/\\n/g, '\n'))
    : (() => {
        const raw = Buffer.from(trimmed, 'base64');
        if (raw.length !== 32) throw new Error('a raw Ed25519 public key is 32 bytes (base64)');
        return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
      })();
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`the upstream key must be Ed25519, not ${key.asymmetricKeyType}`);
  return key;
}

/** The key id: the first 16 hex digits of the SHA-256 of the raw public key. */
export function keyId(key: KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return createHash('sha256').update(der.subarray(der.length - 32)).digest('hex').slice(0, 16);
}

/** base64 of the 32 raw bytes of an Ed25519 public key (the UPSTREAM_PUBLIC_KEY form). */
export function rawPublicKey(key: KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return der.subarray(der.length - 32).toString('base64');
}

export function generateUpstreamKeys(): { privateKeyPem: string; publicKeyPem: string; publicKeyRaw: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKeyRaw: rawPublicKey(publicKey),
  };
}

/** Signs a manifest into the envelope an upstream serves as manifest.json. */
export function signManifest(manifest: UpstreamManifest, privateKeyPem: string): SignedManifestEnvelope {
  const key = createPrivateKey(privateKeyPem);
  const payload = Buffer.from(JSON.stringify(manifest), 'utf8');
  const sig = sign(null, preAuthEncoding(MANIFEST_PAYLOAD_TYPE, payload), key);
  return { payloadType: MANIFEST_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: keyId(createPublicKey(key)), sig: sig.toString('base64') }] };
}

export type ManifestVerdict =
  | { ok: true; manifest: UpstreamManifest; envelope: SignedManifestEnvelope }
  | { ok: false; reason: 'unsigned' | 'bad-signature' | 'malformed-manifest'; detail: string; manifestVersion: number | null };

/**
 * Checks a fetched manifest.json: an envelope, signed by `trustedKey`, whose payload is a valid
 * manifest. Never trusts anything it has not verified; on failure it still reports which
 * manifest version the document claimed, for the record.
 */
export function verifyManifest(document: unknown, trustedKey: KeyObject): ManifestVerdict {
  const envelope = SignedManifestEnvelope.safeParse(document);
  if (!envelope.success) {
    const bare = UpstreamManifest.safeParse(document);
    if (bare.success) return { ok: false, reason: 'unsigned', detail: 'the manifest is not in a signed envelope', manifestVersion: bare.data.manifestVersion };
    return { ok: false, reason: 'malformed-manifest', detail: `not a signed manifest envelope: ${envelope.error.issues[0]?.message}`, manifestVersion: null };
  }
  const payload = Buffer.from(envelope.data.payload, 'base64');
  const claimed = (() => {
    try {
      const v = (JSON.parse(payload.toString('utf8')) as { manifestVersion?: unknown }).manifestVersion;
      return typeof v === 'number' && Number.isInteger(v) ? v : null;
    } catch {
      return null;
    }
  })();
  if (envelope.data.signatures.length === 0) return { ok: false, reason: 'unsigned', detail: 'the envelope carries no signature', manifestVersion: claimed };
  const pae = preAuthEncoding(envelope.data.payloadType, payload);
  const valid = envelope.data.signatures.some((s) => {
    try {
      return verify(null, pae, trustedKey, Buffer.from(s.sig, 'base64'));
    } catch {
      return false;
    }
  });
  if (!valid) {
    return { ok: false, reason: 'bad-signature', detail: `no signature verifies with the trusted key ${keyId(trustedKey)}`, manifestVersion: claimed };
  }
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, reason: 'malformed-manifest', detail: 'the signed payload is not JSON', manifestVersion: null };
  }
  const manifest = UpstreamManifest.safeParse(json);
  if (!manifest.success) {
    return { ok: false, reason: 'malformed-manifest', detail: `the signed manifest does not match the upstream protocol: ${manifest.error.issues[0]?.message}`, manifestVersion: claimed };
  }
  return { ok: true, manifest: manifest.data, envelope: envelope.data };
}

/** What a component statement says: the signed facts about one component version. */
export const ComponentStatement = z.strictObject({
  type: ComponentType,
  version: ComponentVersion,
  sha256: Sha256Hex,
  size: z.number().int().nonnegative(),
});
export type ComponentStatement = z.infer<typeof ComponentStatement>;

/** Signs the statement for one component version, as an upstream puts it in its manifest entry. */
export function signStatement(statement: ComponentStatement, privateKeyPem: string): SignedStatement {
  const key = createPrivateKey(privateKeyPem);
  const payload = Buffer.from(JSON.stringify(ComponentStatement.parse(statement)), 'utf8');
  const sig = sign(null, preAuthEncoding(COMPONENT_STATEMENT_PAYLOAD_TYPE, payload), key);
  return { payloadType: COMPONENT_STATEMENT_PAYLOAD_TYPE, payload: payload.toString('base64'), signatures: [{ keyid: keyId(createPublicKey(key)), sig: sig.toString('base64') }] };
}

export type StatementVerdict = { ok: true; statement: ComponentStatement } | { ok: false; detail: string };

/**
 * What the upstream signed about `type` `version`, from a signed statement: a component
 * statement, or a whole manifest that lists the version. Only a signature by `trustedKey` over
 * the exact payload bytes counts; the payload is parsed only after it verified. The caller then
 * compares sha256 and size with what it is about to install.
 */
export function verifyStatement(statement: unknown, trustedKey: KeyObject, wanted: { type: string; version: string }): StatementVerdict {
  if (statement === undefined || statement === null) return { ok: false, detail: 'the server sent no signed statement from the upstream for it' };
  const envelope = SignedStatement.safeParse(statement);
  if (!envelope.success) return { ok: false, detail: `the signed statement is malformed: ${envelope.error.issues[0]?.message}` };
  const payload = Buffer.from(envelope.data.payload, 'base64');
  const pae = preAuthEncoding(envelope.data.payloadType, payload);
  const valid = envelope.data.signatures.some((s) => {
    try {
      return verify(null, pae, trustedKey, Buffer.from(s.sig, 'base64'));
    } catch {
      return false;
    }
  });
  if (!valid) return { ok: false, detail: `the statement is not signed by the upstream key ${keyId(trustedKey)}` };
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch {
    return { ok: false, detail: 'the signed payload is not JSON' };
  }
  const said = (() => {
    if (envelope.data.payloadType === COMPONENT_STATEMENT_PAYLOAD_TYPE) {
      const parsed = ComponentStatement.safeParse(json);
      return parsed.success ? parsed.data : `the signed statement is not {type, version, sha256, size}: ${parsed.error.issues[0]?.message}`;
    }
    const manifest = UpstreamManifest.safeParse(json);
    if (!manifest.success) return `the signed manifest does not match the upstream protocol: ${manifest.error.issues[0]?.message}`;
    const entry = manifest.data.components.find((c) => c.type === wanted.type && c.version === wanted.version);
    return entry ? { type: entry.type, version: entry.version, sha256: entry.sha256, size: entry.size } : `the signed manifest does not list ${wanted.type} ${wanted.version}`;
  })();
  if (typeof said === 'string') return { ok: false, detail: said };
  if (said.type !== wanted.type || said.version !== wanted.version) {
    return { ok: false, detail: `the upstream signed ${said.type} ${said.version}, not ${wanted.type} ${wanted.version}` };
  }
  return { ok: true, statement: said };
}
