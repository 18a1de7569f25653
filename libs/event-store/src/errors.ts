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

/** A command the current state does not allow. Not retried; the caller maps it to its protocol. */
export class DomainError extends Error {
  override name = 'DomainError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
