import { MalformedPatchError } from './format';
import { bzip2 } from './bzip2';
import { suffixArray } from './suffix-array';

/*
 * bsdiff (Colin Percival, "Naive differences of executable code", 2003), in the BSDIFF40 format
 * that Debian's bspatch, Python's bsdiff4 and every other bspatch read:
 *
 *   "BSDIFF40"   8 bytes
 *   ctrlLength   int64   length of the bzip2'd control block
 *   diffLength   int64   length of the bzip2'd diff block
 *   newSize      int64   size of the new file
 *   control      bzip2(triples of int64: diff bytes x, extra bytes y, seek z)
 *   diff         bzip2(x bytes per triple: new - old, byte-wise mod 256)
 *   extra        bzip2(y bytes per triple: new bytes as they are)
 *
 * int64s are 8 bytes little-endian, sign and magnitude (the sign in the top bit). Applying a
 * triple: add x bytes of the diff block to x bytes of the old file at the old position, copy y
 * bytes of the extra block, then move the old position by z. Matches are approximate: where new
 * code differs from the old by shifted addresses, the difference is mostly zeros, which bzip2
 * packs tightly. That is what makes bsdiff the smallest on executables.
 */

export const BSDIFF_FORMAT = 'bsdiff40';
const MAGIC = Buffer.from('BSDIFF40', 'latin1');
const HEADER = 32;

// Herald's own bzip2 encoder (bzip2.ts) compresses; seek-bzip (MIT) decodes. seek-bzip ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const seekBzip = require('seek-bzip') as { decode(input: Buffer, output?: Buffer): Buffer };

const bz = (data: Buffer): Buffer => bzip2(data);

function writeOff(b: Buffer, at: number, value: number): void {
  const magnitude = BigInt(Math.abs(value));
  b.writeBigUInt64LE(value < 0 ? magnitude | (1n << 63n) : magnitude, at);
}

function readOff(b: Buffer, at: number): number {
  const raw = b.readBigUInt64LE(at);
  const magnitude = Number(raw & ((1n << 63n) - 1n));
  return raw >> 63n ? -magnitude : magnitude;
}

/** Bytes from the start of a and b that are equal. */
function matchLength(old: Uint8Array, oldAt: number, nu: Uint8Array, newAt: number): number {
  let i = 0;
  const max = Math.min(old.length - oldAt, nu.length - newAt);
  while (i < max && old[oldAt + i] === nu[newAt + i]) i++;
  return i;
}

/**
 * Whether old[at..] sorts before nu[newAt..] over their common length (memcmp < 0, as bsdiff
 * compares). A loop, not Buffer.compare: most comparisons differ within a few bytes, and the
 * native call's argument checks cost more than that.
 */
function precedes(old: Uint8Array, at: number, nu: Uint8Array, newAt: number): boolean {
  const n = Math.min(old.length - at, nu.length - newAt);
  for (let i = 0; i < n; i++) {
    const a = old[at + i]!;
    const b = nu[newAt + i]!;
    if (a !== b) return a < b;
  }
  return false;
}

/** The longest match for nu[newAt..] among the suffixes I[st..en] of old (binary search, as bsdiff's). */
function search(I: Int32Array, old: Buffer, nu: Buffer, newAt: number, st: number, en: number): { len: number; pos: number } {
  while (en - st >= 2) {
    const x = st + ((en - st) >> 1);
    const at = I[x]!;
    if (precedes(old, at, nu, newAt)) st = x;
    else en = x;
  }
  const x = matchLength(old, I[st]!, nu, newAt);
  const y = matchLength(old, I[en]!, nu, newAt);
  return x > y ? { len: x, pos: I[st]! } : { len: y, pos: I[en]! };
}

/** A BSDIFF40 patch that turns `old` into `nu`. Memory: both files, 4 bytes per old byte for the suffix array, and the blocks. */
export function createBsdiffPatch(old: Buffer, nu: Buffer): Buffer {
  const I = suffixArray(old);
  const oldSize = old.length;
  const newSize = nu.length;
  const ctrl: number[] = [];
  const diff = Buffer.alloc(newSize);
  const extra = Buffer.alloc(newSize);
  let diffLen = 0;
  let extraLen = 0;

  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  while (scan < newSize) {
    let oldScore = 0;
    let scsc = (scan += len);
    for (; scan < newSize; scan++) {
      ({ len, pos } = search(I, old, nu, scan, 0, oldSize));
      for (; scsc < scan + len; scsc++) if (scsc + lastOffset < oldSize && old[scsc + lastOffset] === nu[scsc]) oldScore++;
      if ((len === oldScore && len !== 0) || len > oldScore + 8) break;
      if (scan + lastOffset < oldSize && old[scan + lastOffset] === nu[scan]) oldScore--;
    }
    if (len === oldScore && scan !== newSize) continue;

    // Extend the previous match forwards and this one backwards as far as they pay.
    let s = 0;
    let sf = 0;
    let lenf = 0;
    for (let i = 0; lastScan + i < scan && lastPos + i < oldSize; ) {
      if (old[lastPos + i] === nu[lastScan + i]) s++;
      i++;
      if (s * 2 - i > sf * 2 - lenf) {
        sf = s;
        lenf = i;
      }
    }
    let lenb = 0;
    if (scan < newSize) {
      s = 0;
      let sb = 0;
      for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
        if (old[pos - i] === nu[scan - i]) s++;
        if (s * 2 - i > sb * 2 - lenb) {
          sb = s;
          lenb = i;
        }
      }
    }
    if (lastScan + lenf > scan - lenb) {
      const overlap = lastScan + lenf - (scan - lenb);
      s = 0;
      let ss = 0;
      let lens = 0;
      for (let i = 0; i < overlap; i++) {
        if (nu[lastScan + lenf - overlap + i] === old[lastPos + lenf - overlap + i]) s++;
        if (nu[scan - lenb + i] === old[pos - lenb + i]) s--;
        if (s > ss) {
          ss = s;
          lens = i + 1;
        }
      }
      lenf += lens - overlap;
      lenb -= lens;
    }

    for (let i = 0; i < lenf; i++) diff[diffLen + i] = (nu[lastScan + i]! - old[lastPos + i]!) & 0xff;
    const extraCount = scan - lenb - (lastScan + lenf);
    nu.copy(extra, extraLen, lastScan + lenf, lastScan + lenf + extraCount);
    diffLen += lenf;
    extraLen += extraCount;
    ctrl.push(lenf, extraCount, pos - lenb - (lastPos + lenf));

    lastScan = scan - lenb;
    lastPos = pos - lenb;
    lastOffset = pos - scan;
  }

  const control = Buffer.alloc(ctrl.length * 8);
  ctrl.forEach((v, i) => writeOff(control, i * 8, v));
  const zCtrl = bz(control);
  const zDiff = bz(diff.subarray(0, diffLen));
  const zExtra = bz(extra.subarray(0, extraLen));
  const header = Buffer.alloc(HEADER);
  MAGIC.copy(header, 0);
  writeOff(header, 8, zCtrl.length);
  writeOff(header, 16, zDiff.length);
  writeOff(header, 24, newSize);
  return Buffer.concat([header, zCtrl, zDiff, zExtra]);
}

/** Applies a BSDIFF40 patch to `old`. */
export function applyBsdiffPatch(old: Buffer, patch: Buffer): Buffer {
  if (patch.length < HEADER || !patch.subarray(0, 8).equals(MAGIC)) throw new MalformedPatchError(`not a ${BSDIFF_FORMAT} patch`);
  const ctrlLen = readOff(patch, 8);
  const diffLen = readOff(patch, 16);
  const newSize = readOff(patch, 24);
  if (ctrlLen < 0 || diffLen < 0 || newSize < 0 || HEADER + ctrlLen + diffLen > patch.length) throw new MalformedPatchError('corrupt BSDIFF40 header');
  const unbz = (from: number, to: number, what: string) => {
    try {
      return from === to ? Buffer.alloc(0) : seekBzip.decode(patch.subarray(from, to));
    } catch (err) {
      throw new MalformedPatchError(`${what} block does not decompress: ${(err as Error).message}`);
    }
  };
  const ctrl = unbz(HEADER, HEADER + ctrlLen, 'control');
  const diff = unbz(HEADER + ctrlLen, HEADER + ctrlLen + diffLen, 'diff');
  const extra = unbz(HEADER + ctrlLen + diffLen, patch.length, 'extra');
  const out = Buffer.alloc(newSize);
  let newPos = 0;
  let oldPos = 0;
  let diffAt = 0;
  let extraAt = 0;
  for (let c = 0; newPos < newSize; c += 24) {
    if (c + 24 > ctrl.length) throw new MalformedPatchError('control block ends early');
    const x = readOff(ctrl, c);
    const y = readOff(ctrl, c + 8);
    const z = readOff(ctrl, c + 16);
    if (x < 0 || y < 0 || newPos + x + y > newSize || diffAt + x > diff.length || extraAt + y > extra.length) throw new MalformedPatchError('corrupt control triple');
    for (let i = 0; i < x; i++) {
      const o = oldPos + i;
      out[newPos + i] = (diff[diffAt + i]! + (o >= 0 && o < old.length ? old[o]! : 0)) & 0xff;
    }
    newPos += x;
    oldPos += x;
    diffAt += x;
    extra.copy(out, newPos, extraAt, extraAt + y);
    newPos += y;
    extraAt += y;
    oldPos += z;
  }
  return out;
}
