import { createHash } from 'node:crypto';
import type { DeltaHeader, Op} from './format';
import { ByteWriter, compress, encodeHeader, encodeOps } from './format';

export interface CreatePatchOptions {
  /** Bytes hashed per base block; a match of about twice this is always found. */
  blockSize?: number;
  /** Shorter matches are cheaper as literals. */
  minMatch?: number;
  /**
   * A match this far (bytes) from where the base was being followed must be at least
   * `farMinMatch` long: short far matches are repeated strings (names shared by many records),
   * worth little to the size and costly to the applier, which then reads all over the base.
   */
  farDistance?: number;
  farMinMatch?: number;
  /** brotli quality of the literal stream (default 11 up to 1 MiB, 9 up to 8 MiB, 8 above; the instruction stream always gets 11). */
  dataQuality?: number;
}

const PRIME = 0x01000193;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * Builds a herald-delta-1 patch that turns `base` into `target`: a greedy copy/add delta found
 * with a rolling hash over fixed base blocks (as in rsync and xdelta), both streams then
 * brotli-compressed. Memory: both files plus a 4-bytes-per-block index.
 */
export function createPatch(base: Buffer, target: Buffer, options: CreatePatchOptions = {}): Buffer {
  const B = options.blockSize ?? 16;
  const minMatch = Math.max(options.minMatch ?? 24, B);
  const ops = diff(base, target, B, minMatch, options.farDistance ?? 1 << 16, options.farMinMatch ?? 96);
  const literals = new ByteWriter();
  for (const op of ops) if (op.kind === 0) literals.bytes(target, op.from, op.from + op.len);
  // For ADD ops `from` was the target offset; in the format it is implicit.
  return assemble(
    { baseSize: base.length, baseSha256: sha256(base), targetSize: target.length, targetSha256: sha256(target) },
    encodeOps(ops),
    literals.result(),
    // brotli 11 takes about a second per MB of literals and is 5-13 % smaller than 9 on the real
    // corpus (npm run bench:delta -- --pairs); 9 is worth its time on a few MB; on tens of MB it
    // takes most of a minute, 8 a quarter of that.
    options.dataQuality ?? (literals.length <= 1 << 20 ? 11 : literals.length <= 8 << 20 ? 9 : 8),
  );
}

export function assemble(h: Pick<DeltaHeader, 'baseSize' | 'baseSha256' | 'targetSize' | 'targetSha256'>, ops: Buffer, literals: Buffer, dataQuality = 9): Buffer {
  const zOps = compress(ops, 11);
  const zData = compress(literals, dataQuality);
  return Buffer.concat([encodeHeader({ ...h, opsLength: zOps.length, dataLength: zData.length }), zOps, zData]);
}

/** Ops with ADD ranges as target offsets. */
function diff(base: Buffer, target: Buffer, B: number, minMatch: number, farDistance: number, farMinMatch: number): Op[] {
  const ops: Op[] = [];
  const nt = target.length;
  const nb = base.length;
  if (nb < B || nt < B) {
    if (nt > 0) ops.push({ kind: 0, len: nt, from: 0 });
    return ops;
  }
  // P^(B-1), to take the outgoing byte off the rolling hash.
  let pow = 1;
  for (let i = 0; i < B - 1; i++) pow = Math.imul(pow, PRIME);
  const hashAt = (buf: Buffer, at: number): number => {
    let h = 0;
    for (let i = 0; i < B; i++) h = (Math.imul(h, PRIME) + buf[at + i]!) | 0;
    return h;
  };
  const blocks = Math.floor(nb / B);
  let bits = 16;
  while (1 << bits < blocks * 2 && bits < 28) bits++;
  const mask = (1 << bits) - 1;
  const table = new Int32Array(1 << bits);
  // Later blocks first, so where blocks repeat the earliest one wins (copies stay near each other).
  for (let k = blocks - 1; k >= 0; k--) table[mix(hashAt(base, k * B)) & mask] = k * B + 1;

  let i = 0;
  let literalStart = 0;
  let h = hashAt(target, 0);
  let nextExpected = 0; // where the base continues after the last copy
  while (i + B <= nt) {
    let candidate = -1;
    // The base usually goes on where the last copy stopped (a record changed in place).
    if (nextExpected + B <= nb && target[i] === base[nextExpected] && equalRange(base, nextExpected, target, i, B)) candidate = nextExpected;
    else {
      const slot = table[mix(h) & mask]! - 1;
      if (slot >= 0 && equalRange(base, slot, target, i, B)) candidate = slot;
    }
    if (candidate >= 0) {
      let s = i;
      let bs = candidate;
      while (s > literalStart && bs > 0 && target[s - 1] === base[bs - 1]) {
        s--;
        bs--;
      }
      let e = i + B;
      let be = candidate + B;
      while (e < nt && be < nb && target[e] === base[be]) {
        e++;
        be++;
      }
      const far = Math.abs(bs - nextExpected) > farDistance;
      if (e - s >= (far ? farMinMatch : minMatch)) {
        if (s > literalStart) ops.push({ kind: 0, len: s - literalStart, from: literalStart });
        ops.push({ kind: 1, len: e - s, from: bs });
        i = e;
        literalStart = e;
        nextExpected = be;
        if (i + B <= nt) h = hashAt(target, i);
        continue;
      }
    }
    if (i + B < nt) h = (Math.imul(h - Math.imul(target[i]!, pow), PRIME) + target[i + B]!) | 0;
    i++;
  }
  if (literalStart < nt) ops.push({ kind: 0, len: nt - literalStart, from: literalStart });
  return ops;
}

/** Spreads the polynomial hash's low bits (they depend only on the last bytes). */
function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return h ^ (h >>> 16);
}

function equalRange(a: Buffer, ai: number, b: Buffer, bi: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (a[ai + k] !== b[bi + k]) return false;
  return true;
}
