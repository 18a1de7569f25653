import { type Readable, pipeline } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import type * as ZstdNapi from 'zstd-napi';
import { zstdPatchAvailable } from './zstd-patch';

/*
 * Full files compressed for HTTP content coding (RFC 9110 section 8.4.1): `gzip` (RFC 1952,
 * which every HTTP client decodes) and `zstd` (RFC 8878; as RFC 9659 requires of the `zstd`
 * content coding, a window of at most 8 MiB, so any decoder takes it with its default limits).
 */

export type FullCoding = 'zstd' | 'gzip';

/** Above this size zstd drops from level 19 to 12: level 19 runs at about 2 MB/s. */
const ZSTD_MAX_LEVEL_BYTES = 32 << 20;

// eslint-disable-next-line @typescript-eslint/no-require-imports
const zstd = () => require('zstd-napi') as typeof ZstdNapi;

/** The codings this process can produce (zstd needs zstd-napi's binding). */
export function fullCodings(): FullCoding[] {
  return zstdPatchAvailable() ? ['zstd', 'gzip'] : ['gzip'];
}

export function encodeFull(coding: FullCoding, data: Buffer): Buffer {
  if (coding === 'gzip') return gzipSync(data, { level: 9 });
  const c = new (zstd().Compressor)();
  c.setParameters({ compressionLevel: data.length > ZSTD_MAX_LEVEL_BYTES ? 12 : 19, windowLog: 23, checksumFlag: true, contentSizeFlag: true });
  return c.compress(data);
}

/** The Accept-Encoding of a client that decodes what this process can: zstd where the binding is built, then what fetch decodes itself. */
export function acceptEncoding(): string {
  return zstdPatchAvailable() ? 'zstd, gzip, deflate' : 'gzip, deflate';
}

/**
 * Decodes a zstd-coded body as it streams (Node's fetch decodes gzip and deflate itself, but
 * passes zstd through); any other body is returned as it is.
 */
export function decodeBody(body: Readable, contentEncoding: string | null): Readable {
  if (contentEncoding !== 'zstd') return body;
  const decoded = new (zstd().DecompressStream)();
  pipeline(body, decoded, (err) => err && decoded.destroy(err));
  return decoded;
}

export function decodeFull(coding: FullCoding, data: Buffer): Buffer {
  if (coding === 'gzip') return gunzipSync(data);
  return new (zstd().Decompressor)().decompress(data);
}
