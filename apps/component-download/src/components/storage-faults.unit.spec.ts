import { StorageFaultError, asStorageFault, storageFaultKind } from './storage-faults';

const fsError = (code: string, message = `${code}: something, open '/store/x'`) => Object.assign(new Error(message), { code });

describe('storage faults', () => {
  it('classifies file-system errors by kind, and nothing else', () => {
    expect(['EROFS', 'ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EIO', 'EMFILE', 'ENOENT'].map((c) => storageFaultKind(fsError(c)))).toEqual([
      'read-only',
      'full',
      'full',
      'permission',
      'permission',
      'io',
      'io',
      'missing',
    ]);
    expect(storageFaultKind(new Error('a bug'))).toBeNull();
    expect(storageFaultKind(fsError('ECONNRESET'))).toBeNull();
    expect(storageFaultKind(null)).toBeNull();
  });

  it('says what was being done and keeps the system error; a missing path while writing is the store failing', () => {
    const fault = asStorageFault(fsError('EROFS', "EROFS: read-only file system, open '/store/partial/ab'"), 'writing the partial file');
    expect(fault).toBeInstanceOf(StorageFaultError);
    expect(fault).toMatchObject({ kind: 'read-only', code: 'EROFS', message: "the component store is read-only (writing the partial file: EROFS: read-only file system, open '/store/partial/ab')" });
    expect(asStorageFault(fsError('ENOENT'), 'reading')?.kind).toBe('missing');
    expect(asStorageFault(fsError('ENOENT'), 'writing', true)?.kind).toBe('io');
    expect(asStorageFault(new TypeError('x'), 'reading')).toBeNull();
    const same = new StorageFaultError('corrupt', 'bad');
    expect(asStorageFault(same, 'reading')).toBe(same);
  });
});
