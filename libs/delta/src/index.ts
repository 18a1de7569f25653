export { DELTA_FORMAT, MalformedPatchError, type DeltaHeader } from './format';
export { createPatch, type CreatePatchOptions } from './create';
export { BSDIFF_FORMAT, applyBsdiffPatch, createBsdiffPatch } from './bsdiff';
export { applyPatch, applyPatchFile, composePatches, decodePatch, hashFile, patchHeader, PatchBaseMismatchError, type AppliedPatch } from './apply';
