import path from 'node:path';
import { BlobStore } from './blob-store';

describe('BlobStore', () => {
  it('resolves a relative store directory, so files can be served from it (sendFile needs absolute paths)', () => {
    const store = new BlobStore('./var/components');
    const file = store.pathOf('a'.repeat(64));
    expect(path.isAbsolute(file)).toBe(true);
    expect(file).toBe(path.resolve('var/components/sha256', 'a'.repeat(64)));
  });

  it('refuses anything but a digest as a file name', () => {
    expect(() => new BlobStore('/tmp/x').pathOf('../../etc/passwd')).toThrow(/not a sha256 digest/);
  });
});
