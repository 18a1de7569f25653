/**
 * What can go wrong with the component store's disk, by kind: each kind is a label of
 * herald_storage_faults_total and appears in recorded reasons (docs/operations.md, "Storage faults").
 */
export type StorageFaultKind =
  /** The file system is mounted read-only (EROFS). */
  | 'read-only'
  /** No space (ENOSPC) or quota (EDQUOT) left. */
  | 'full'
  /** The process may not read or write there (EACCES, EPERM). */
  | 'permission'
  /** The disk failed to read or write (EIO), or the store is otherwise unusable (too many open files, stale mount…). */
  | 'io'
  /** A file the catalog refers to is not in the store (ENOENT). */
  | 'missing'
  /** A stored file's bytes are not the digest it is stored under. */
  | 'corrupt';

const BY_CODE: Record<string, StorageFaultKind> = {
  EROFS: 'read-only',
  ENOSPC: 'full',
  EDQUOT: 'full',
  EFBIG: 'full',
  EACCES: 'permission',
  EPERM: 'permission',
  EIO: 'io',
  EMFILE: 'io',
  ENFILE: 'io',
  ESTALE: 'io',
  ENOTDIR: 'io',
  EISDIR: 'io',
  ENXIO: 'io',
  ENODEV: 'io',
  ENOENT: 'missing',
};

/** A fault of the store, with its kind; the message says what was being done and the system's error. */
export class StorageFaultError extends Error {
  override name = 'StorageFaultError';

  constructor(
    readonly kind: StorageFaultKind,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** The kind of a file-system error, or null for an error that is not one (a bug, a network error). */
export function storageFaultKind(err: unknown): StorageFaultKind | null {
  if (err instanceof StorageFaultError) return err.kind;
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' ? (BY_CODE[code] ?? null) : null;
}

/** Words for a kind, for reasons people read. */
export function describeKind(kind: StorageFaultKind): string {
  switch (kind) {
    case 'read-only':
      return 'the component store is read-only';
    case 'full':
      return 'the component store is full';
    case 'permission':
      return 'the component store is not accessible (permission denied)';
    case 'io':
      return 'the component store failed (I/O error)';
    case 'missing':
      return 'a file is missing from the component store';
    case 'corrupt':
      return 'a stored file does not match its digest';
  }
}

/**
 * Wraps a file-system error as a StorageFaultError, or returns null when it is not one. While
 * writing, a missing path means the store's own folders are gone (an unmounted volume): `io`.
 */
export function asStorageFault(err: unknown, doing: string, writing = false): StorageFaultError | null {
  if (err instanceof StorageFaultError) return err;
  let kind = storageFaultKind(err);
  if (!kind) return null;
  if (writing && kind === 'missing') kind = 'io';
  const e = err as NodeJS.ErrnoException;
  return new StorageFaultError(kind, `${describeKind(kind)} (${doing}: ${e.message})`, e.code);
}
