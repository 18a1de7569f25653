import type * as ZstdNapi from 'zstd-napi';
import { MalformedPatchError } from './format';

/*
 * zstd with the old file as reference: one Zstandard frame (RFC 8878) of the new file,
 * compressed with the old file loaded as a raw-content dictionary. Any zstd decoder applies it
 * with the old file as its dictionary (raw content, dictionary id 0) or prefix:
 *
 *   zstd -d --long=31 --patch-from=OLD PATCH -o NEW       (the CLI, 1.4.7 and later)
 *   zstandard.ZstdDecompressor(dict_data=ZstdCompressionDict(old, dict_type=DICT_TYPE_RAWCONTENT),
 *                              max_window_size=2**31).decompress(patch)          (Python)
 *   zstd.NewReader(r, zstd.WithDecoderDictRaw(0, old), zstd.WithDecoderMaxWindow(1<<31))  (Go)
 *
 * The frame records the content size and a checksum of the new file. Its window covers both
 * files; with both at most ZSTD_PATCH_MAX_BYTES it is at most 64 MiB, within every decoder's
 * default limit (128 MiB).
 */

export const ZSTD_PATCH_FORMAT = 'zstd-patch-from';

/** Above this size (either file) the method is not used: level 19 costs minutes there, and bsdiff40 or herald-delta win. */
export const ZSTD_PATCH_MAX_BYTES = 32 << 20;

/** What a base must not start with: a zstd dictionary's magic number would make it a formatted dictionary, not raw content. */
const DICTIONARY_MAGIC = 0xec30a437;

let binding: typeof ZstdNapi | null | undefined;

/** zstd-napi, when its native binding was built (npm ci builds it; see the README); null otherwise. */
function zstd(): typeof ZstdNapi | null {
  if (binding === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      binding = require('zstd-napi') as typeof ZstdNapi;
    } catch {
      binding = null;
    }
  }
  return binding;
}

/** Whether this process can build and apply zstd-patch-from patches (the native binding loads). */
export function zstdPatchAvailable(): boolean {
  return zstd() !== null;
}

/** Whether the method can be used for this pair: small enough, and a base zstd reads as raw content. */
export function zstdPatchApplies(baseSize: number, targetSize: number, baseHead: Buffer): boolean {
  if (baseSize > ZSTD_PATCH_MAX_BYTES || targetSize > ZSTD_PATCH_MAX_BYTES) return false;
  return !(baseHead.length >= 4 && baseHead.readUInt32LE(0) === DICTIONARY_MAGIC);
}

const windowLog = (bytes: number) => Math.max(20, Math.min(31, Math.ceil(Math.log2(bytes + 1))));

/** The new file as one zstd frame with the old file as its dictionary (level 19, long-distance matching); null where the method does not apply. */
export function createZstdPatch(base: Buffer, target: Buffer): Buffer | null {
  const z = zstd();
  if (!z || !zstdPatchApplies(base.length, target.length, base)) return null;
  const c = new z.Compressor();
  c.setParameters({
    compressionLevel: 19,
    windowLog: windowLog(base.length + target.length),
    enableLongDistanceMatching: true,
    checksumFlag: true,
    contentSizeFlag: true,
    dictIDFlag: false,
  });
  c.loadDictionary(base);
  return c.compress(target);
}

/** Rebuilds the new file; throws MalformedPatchError when the patch is not a zstd frame for this base. */
export function applyZstdPatch(base: Buffer, patch: Buffer): Buffer {
  const z = zstd();
  if (!z) throw new Error(`${ZSTD_PATCH_FORMAT}: the zstd-napi native binding is not built here`);
  const d = new z.Decompressor();
  d.setParameters({ windowLogMax: 31 });
  d.loadDictionary(base);
  try {
    return d.decompress(patch);
  } catch (err) {
    throw new MalformedPatchError(`${ZSTD_PATCH_FORMAT}: ${(err as Error).message}`);
  }
}
