import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createPatch } from '@herald/delta';
import { DigestMismatchError, MemoryComponentStore, SharedComponentContent } from './component-store';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const body = (b: Buffer) => Readable.from([b.subarray(0, 100), b.subarray(100)]);

describe('MemoryComponentStore with shared content', () => {
  const v1 = randomBytes(4_000);
  const v2 = Buffer.concat([v1.subarray(0, 3_000), randomBytes(200), v1.subarray(3_000)]);
  const patch = createPatch(v1, v2);

  it('given nothing shared, when it installs a full file, then it can take patches from that version only', async () => {
    const content = new SharedComponentContent();
    const first = new MemoryComponentStore([], content);
    await first.install('virus-pattern', '1.0.0', sha(v1), body(v1));
    const second = new MemoryComponentStore([{ type: 'virus-pattern', version: '1.0.0' }], content);
    expect(await second.canPatchFrom('virus-pattern', '1.0.0')).toBe(true);
    expect(await second.canPatchFrom('virus-pattern', '0.9.0')).toBe(false);

    const bytes = await second.applyPatch('virus-pattern', '1.0.0', '2.0.0', sha(v2), body(patch), sha(patch));
    expect(bytes).toBe(patch.length);
    expect(await second.installed()).toEqual([{ type: 'virus-pattern', version: '2.0.0' }]);
    expect(content.get('virus-pattern', '2.0.0')?.equals(v2)).toBe(true);
  });

  it('given a patch that was damaged on the way, when applied, then nothing changes', async () => {
    const content = new SharedComponentContent();
    const store = new MemoryComponentStore([], content);
    await store.install('virus-pattern', '1.0.0', sha(v1), body(v1));
    const damaged = Buffer.from(patch);
    damaged[damaged.length - 5]! ^= 0xff;
    await expect(store.applyPatch('virus-pattern', '1.0.0', '2.0.0', sha(v2), body(damaged), sha(patch))).rejects.toThrow(DigestMismatchError);
    await expect(store.applyPatch('virus-pattern', '1.0.0', '2.0.0', sha(v2), body(damaged), null)).rejects.toThrow();
    expect(await store.installed()).toEqual([{ type: 'virus-pattern', version: '1.0.0' }]);
    expect(content.has('virus-pattern', '2.0.0')).toBe(false);
  });

  it('keeps one copy per version and only the newest few per type', () => {
    const content = new SharedComponentContent(2);
    for (const v of ['1.0.0', '1.10.0', '1.9.0']) content.put('virus-pattern', v, Buffer.alloc(10));
    expect(content.has('virus-pattern', '1.0.0')).toBe(false);
    expect(content.has('virus-pattern', '1.9.0')).toBe(true);
    expect(content.has('virus-pattern', '1.10.0')).toBe(true);
    expect(content.bytes).toBe(20);
  });
});
