import { BSDIFF_FORMAT, applyBsdiffPatch, createBsdiffPatch } from './bsdiff';
import { DELTA_FORMAT } from './format';
import { applyPatch } from './apply';
import { createPatch } from './create';
import { ZSTD_PATCH_FORMAT, applyZstdPatch, createZstdPatch, zstdPatchApplies, zstdPatchAvailable } from './zstd-patch';

/** The patch formats Herald builds, in the order of preference between patches of equal size. */
export const PATCH_FORMATS = [DELTA_FORMAT, BSDIFF_FORMAT, ZSTD_PATCH_FORMAT] as const;
export type PatchFormatName = (typeof PATCH_FORMATS)[number];

/**
 * Above this size (either file) bsdiff40 is not built: its build time grows a little faster than
 * the file (17 s for a 10 MB executable pair on the project machine, docs/delta-benchmark.md), and
 * with the other formats a pair's patches must be built in under a minute.
 */
export const BSDIFF_MAX_BYTES = 16 << 20;

export const isPatchFormat = (f: string): f is PatchFormatName => (PATCH_FORMATS as readonly string[]).includes(f);

/** The formats this process can build for a pair of these sizes (the base's first bytes decide zstd's). */
export function buildableFormats(baseSize: number, targetSize: number, baseHead: Buffer): PatchFormatName[] {
  const formats: PatchFormatName[] = [DELTA_FORMAT];
  if (baseSize <= BSDIFF_MAX_BYTES && targetSize <= BSDIFF_MAX_BYTES) formats.push(BSDIFF_FORMAT);
  if (zstdPatchAvailable() && zstdPatchApplies(baseSize, targetSize, baseHead)) formats.push(ZSTD_PATCH_FORMAT);
  return formats;
}

/** The formats this process can apply. */
export function applicableFormats(): PatchFormatName[] {
  return zstdPatchAvailable() ? [...PATCH_FORMATS] : [DELTA_FORMAT, BSDIFF_FORMAT];
}

/** Builds a patch in one format; null where the format does not apply to this pair. */
export function createPatchIn(format: PatchFormatName, base: Buffer, target: Buffer): Buffer | null {
  switch (format) {
    case DELTA_FORMAT:
      return createPatch(base, target);
    case BSDIFF_FORMAT:
      return createBsdiffPatch(base, target);
    case ZSTD_PATCH_FORMAT:
      return createZstdPatch(base, target);
  }
}

/**
 * Rebuilds the new file from the base and a patch in the given format. Only herald-delta-1
 * carries the digests of its files; callers check the result against the digest they were given.
 */
export function applyPatchIn(format: string, base: Buffer, patch: Buffer): Buffer {
  switch (format) {
    case DELTA_FORMAT:
      return applyPatch(base, patch);
    case BSDIFF_FORMAT:
      return applyBsdiffPatch(base, patch);
    case ZSTD_PATCH_FORMAT:
      return applyZstdPatch(base, patch);
    default:
      throw new Error(`unknown patch format ${format}`);
  }
}

