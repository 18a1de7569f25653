import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import type { DeltaHeader, Op} from './format';
import { ByteWriter, HEADER_SIZE, MalformedPatchError, decodeHeader, decodeOps, decompress, encodeOps } from './format';
import { assemble } from './create';

/** The base file is not the one the patch was made from. */
export class PatchBaseMismatchError extends Error {
  override name = 'PatchBaseMismatchError';
}

export interface AppliedPatch {
  sha256: string;
  size: number;
}

interface Decoded {
  header: DeltaHeader;
  ops: Op[];
  literals: Buffer;
}

/** Reads and checks a patch's header and streams; throws MalformedPatchError when anything is off. */
export function decodePatch(patch: Buffer): Decoded {
  const header = decodeHeader(patch);
  const opsBytes = decompress(patch.subarray(HEADER_SIZE, HEADER_SIZE + header.opsLength), 'instruction');
  const literals = decompress(patch.subarray(HEADER_SIZE + header.opsLength), 'literal');
  return { header, ops: decodeOps(opsBytes, header.baseSize, literals.length, header.targetSize), literals };
}

/** The header alone: which base and target a patch joins. */
export function patchHeader(patch: Buffer): DeltaHeader {
  return decodeHeader(patch);
}

/**
 * Rebuilds the target of `patch` from the file at `basePath` into `outPath`, streaming: the base
 * is read through a sliding window and the output written and hashed as it is produced, so
 * memory stays at the patch's size plus a few MB. Checks the base's size and SHA-256 before and
 * the rebuilt file's after; the caller still compares the result with the digest it trusts.
 */
export async function applyPatchFile(basePath: string, patch: Buffer, outPath: string): Promise<AppliedPatch> {
  const { header, ops, literals } = decodePatch(patch);
  const baseSize = (await stat(basePath)).size;
  if (baseSize !== header.baseSize) throw new PatchBaseMismatchError(`the base has ${baseSize} bytes, the patch was made from ${header.baseSize}`);
  const baseSha = await hashFile(basePath);
  if (baseSha !== header.baseSha256) throw new PatchBaseMismatchError(`the base's SHA-256 is ${baseSha}, the patch was made from ${header.baseSha256}`);

  const base = await open(basePath, 'r');
  // The output can fail to open (it exists, the disk is read-only): the base must not stay open.
  const out = await open(outPath, 'wx').catch(async (err: unknown) => {
    await base.close();
    throw err;
  });
  const hash = createHash('sha256');
  // The base is read in aligned 1 MB blocks kept in a small LRU cache: a patch mostly walks the
  // base forward (each block read once), and a jump elsewhere and back costs one block, not a
  // re-read of everything in between.
  const BLOCK = 1 << 20;
  const CACHED = 8;
  const blocks = new Map<number, { buf: Buffer; length: number }>();
  const block = async (index: number): Promise<Buffer> => {
    let entry = blocks.get(index);
    if (entry) {
      blocks.delete(index); // re-inserted below as the most recently used
    } else {
      const oldest = blocks.size >= CACHED ? blocks.keys().next().value! : undefined;
      const buf = oldest === undefined ? Buffer.allocUnsafe(BLOCK) : blocks.get(oldest)!.buf;
      if (oldest !== undefined) blocks.delete(oldest);
      const { bytesRead } = await base.read(buf, 0, BLOCK, index * BLOCK);
      entry = { buf, length: bytesRead };
    }
    blocks.set(index, entry);
    return entry.buf.subarray(0, entry.length);
  };
  const pending = Buffer.allocUnsafe(1 << 20);
  let pendingLength = 0;
  let size = 0;
  const flush = async () => {
    if (pendingLength === 0) return;
    const chunk = pending.subarray(0, pendingLength);
    hash.update(chunk);
    await out.write(chunk, 0, pendingLength);
    size += pendingLength;
    pendingLength = 0;
  };
  const emit = async (src: Buffer, start: number, end: number) => {
    while (start < end) {
      const n = Math.min(end - start, pending.length - pendingLength);
      src.copy(pending, pendingLength, start, start + n);
      pendingLength += n;
      start += n;
      if (pendingLength === pending.length) await flush();
    }
  };
  try {
    for (const op of ops) {
      if (op.kind === 0) {
        await emit(literals, op.from, op.from + op.len);
        continue;
      }
      let at = op.from;
      const end = op.from + op.len;
      while (at < end) {
        const index = Math.floor(at / BLOCK);
        const data = await block(index);
        const offset = at - index * BLOCK;
        if (offset >= data.length) throw new MalformedPatchError('COPY beyond the end of the base');
        const n = Math.min(end - at, data.length - offset);
        await emit(data, offset, offset + n);
        at += n;
      }
    }
    await flush();
  } finally {
    await base.close();
    await out.close();
  }
  const sha256 = hash.digest('hex');
  if (sha256 !== header.targetSha256 || size !== header.targetSize) {
    throw new MalformedPatchError(`the rebuilt file (${size} bytes, SHA-256 ${sha256}) is not the patch's target ${header.targetSha256}`);
  }
  return { sha256, size };
}

/** In-memory variant, for tests and small files. */
export function applyPatch(base: Buffer, patch: Buffer): Buffer {
  const { header, ops, literals } = decodePatch(patch);
  if (base.length !== header.baseSize) throw new PatchBaseMismatchError(`the base has ${base.length} bytes, the patch was made from ${header.baseSize}`);
  const out = Buffer.allocUnsafe(header.targetSize);
  let at = 0;
  for (const op of ops) {
    (op.kind === 0 ? literals : base).copy(out, at, op.from, op.from + op.len);
    at += op.len;
  }
  if (createHash('sha256').update(out).digest('hex') !== header.targetSha256) throw new MalformedPatchError('the rebuilt file is not the patch target');
  return out;
}

/**
 * Joins a patch A→B and a patch B→C into one A→C without the files: every COPY of the second
 * is resolved through the first's instructions. This is how the server keeps patches from
 * versions whose full files it no longer holds.
 */
export function composePatches(first: Buffer, second: Buffer): Buffer {
  const a = decodePatch(first);
  const b = decodePatch(second);
  if (a.header.targetSha256 !== b.header.baseSha256) throw new PatchBaseMismatchError('the first patch does not lead to the base of the second');
  const starts = new Float64Array(a.ops.length);
  let pos = 0;
  a.ops.forEach((op, k) => {
    starts[k] = pos;
    pos += op.len;
  });
  const ops: Op[] = [];
  const literals = new ByteWriter();
  const push = (kind: 0 | 1, len: number, from: number) => {
    if (len === 0) return;
    const last = ops[ops.length - 1];
    if (last && last.kind === kind && (kind === 0 || last.from + last.len === from)) last.len += len;
    else ops.push({ kind, len, from });
  };
  for (const op of b.ops) {
    if (op.kind === 0) {
      literals.bytes(b.literals, op.from, op.from + op.len);
      push(0, op.len, 0);
      continue;
    }
    let at = op.from;
    const end = op.from + op.len;
    let k = upperBound(starts, at) - 1;
    while (at < end) {
      const src = a.ops[k]!;
      const offset = at - starts[k]!;
      const n = Math.min(end - at, src.len - offset);
      if (src.kind === 1) push(1, n, src.from + offset);
      else {
        literals.bytes(a.literals, src.from + offset, src.from + offset + n);
        push(0, n, 0);
      }
      at += n;
      k++;
    }
  }
  return assemble(
    { baseSize: a.header.baseSize, baseSha256: a.header.baseSha256, targetSize: b.header.targetSize, targetSha256: b.header.targetSha256 },
    encodeOps(ops),
    literals.result(),
  );
}

function upperBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (c) => hash.update(c as Buffer))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
