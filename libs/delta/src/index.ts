export { DELTA_FORMAT, MalformedPatchError, type DeltaHeader } from './format';
export { createPatch, type CreatePatchOptions } from './create';
export { applyPatch, applyPatchFile, composePatches, decodePatch, hashFile, patchHeader, PatchBaseMismatchError, type AppliedPatch } from './apply';
