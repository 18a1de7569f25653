import { randomBytes } from 'node:crypto';
import { suffixArray } from './suffix-array';

/** The suffix array by sorting every suffix: slow, obviously right. */
function naive(text: Uint8Array): number[] {
  return [...Array(text.length + 1).keys()].sort((a, b) => Buffer.compare(Buffer.from(text.subarray(a)), Buffer.from(text.subarray(b))));
}

describe('suffixArray (SA-IS)', () => {
  it('orders the suffixes as sorting them does, on small alphabets (deep recursion) and on bytes', () => {
    for (let n = 0; n < 40; n++) {
      for (const k of [1, 2, 3, 256]) {
        const text = new Uint8Array(n).map(() => Math.floor(Math.random() * k));
        expect([...suffixArray(text)]).toEqual(naive(text));
      }
    }
    for (const text of [Buffer.from('mississippi'), Buffer.from('abracadabra'), Buffer.alloc(100, 7), randomBytes(500), Buffer.from('ab'.repeat(300))]) {
      expect([...suffixArray(text)]).toEqual(naive(text));
    }
  });

  it('puts the empty suffix first, as bsdiff’s search expects', () => {
    expect([...suffixArray(Buffer.from('banana'))]).toEqual([6, 5, 3, 1, 0, 4, 2]);
  });
});
