/** Another writer appended to the stream first; reload and decide again. */
export class ExpectedVersionConflictError extends Error {
  override name = 'ExpectedVersionConflictError';
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number | 'any',
  ) {
    super(`stream ${streamId} is no longer at version ${expectedVersion}`);
  }
}
