export { DELTA_FORMAT, MalformedPatchError, type DeltaHeader } from './format';
export { createPatch, type CreatePatchOptions } from './create';
export { BSDIFF_FORMAT, applyBsdiffPatch, createBsdiffPatch } from './bsdiff';
export { applyPatch, applyPatchFile, composePatches, decodePatch, hashFile, patchHeader, PatchBaseMismatchError, type AppliedPatch } from './apply';
export { ZSTD_PATCH_FORMAT, ZSTD_PATCH_MAX_BYTES, applyZstdPatch, createZstdPatch, zstdPatchAvailable } from './zstd-patch';
export { BSDIFF_MAX_BYTES, PATCH_FORMATS, applicableFormats, applyPatchIn, buildableFormats, createPatchIn, isPatchFormat, type PatchFormatName } from './formats';
export { acceptEncoding, decodeBody, decodeFull, encodeFull, fullCodings, type FullCoding } from './content-coding';
