import { brotliCompressSync, brotliDecompressSync, constants as zlib } from 'node:zlib';

/*
 * The Herald delta patch format ("herald-delta-1"), the wire format of every incremental patch
 * the server or the upstream hands out (docs/downloads.md#patch-format). It lives with the
 * contracts because it crosses process boundaries: the server builds it, agents apply it with
 * nothing but Node's built-ins.
 *
 *   magic        "HDP1"                       4 bytes
 *   baseSize     u64 BE                        8
 *   baseSha256   raw                          32
 *   targetSize   u64 BE                        8
 *   targetSha256 raw                          32
 *   opsLength    u32 BE  (compressed bytes)    4
 *   dataLength   u64 BE  (compressed bytes)    8
 *   ops          brotli(instructions)
 *   data         brotli(literal bytes, in the order the ADD instructions use them)
 *
 * Instructions are unsigned LEB128 varints: `len * 2 + kind` (kind 0 = ADD, 1 = COPY); a COPY
 * is followed by the zigzag-encoded distance between its base offset and the end of the
 * previous COPY. ADD takes the next `len` literal bytes, COPY takes `len` bytes of the base.
 */

export const DELTA_FORMAT = 'herald-delta-1';
const MAGIC = Buffer.from('HDP1', 'latin1');
export const HEADER_SIZE = 4 + 8 + 32 + 8 + 32 + 4 + 8;

export interface DeltaHeader {
  baseSize: number;
  baseSha256: string;
  targetSize: number;
  targetSha256: string;
  opsLength: number;
  dataLength: number;
}

/** A patch whose bytes are not a well-formed herald-delta-1 patch. */
export class MalformedPatchError extends Error {
  override name = 'MalformedPatchError';
}

export function encodeHeader(h: DeltaHeader): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  MAGIC.copy(b, 0);
  b.writeBigUInt64BE(BigInt(h.baseSize), 4);
  Buffer.from(h.baseSha256, 'hex').copy(b, 12);
  b.writeBigUInt64BE(BigInt(h.targetSize), 44);
  Buffer.from(h.targetSha256, 'hex').copy(b, 52);
  b.writeUInt32BE(h.opsLength, 84);
  b.writeBigUInt64BE(BigInt(h.dataLength), 88);
  return b;
}

export function decodeHeader(b: Buffer): DeltaHeader {
  if (b.length < HEADER_SIZE || !b.subarray(0, 4).equals(MAGIC)) throw new MalformedPatchError(`not a ${DELTA_FORMAT} patch`);
  const h = {
    baseSize: Number(b.readBigUInt64BE(4)),
    baseSha256: b.subarray(12, 44).toString('hex'),
    targetSize: Number(b.readBigUInt64BE(44)),
    targetSha256: b.subarray(52, 84).toString('hex'),
    opsLength: b.readUInt32BE(84),
    dataLength: Number(b.readBigUInt64BE(88)),
  };
  if (HEADER_SIZE + h.opsLength + h.dataLength !== b.length) throw new MalformedPatchError('patch length does not match its header');
  return h;
}

/** Growable byte buffer for varints. */
export class ByteWriter {
  private buf = Buffer.allocUnsafe(1 << 16);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  varint(value: number): void {
    this.ensure(10);
    // Arithmetic, not bit operations: values may exceed 2^31.
    while (value >= 0x80) {
      this.buf[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.buf[this.length++] = value;
  }

  bytes(src: Buffer, start: number, end: number): void {
    this.ensure(end - start);
    src.copy(this.buf, this.length, start, end);
    this.length += end - start;
  }

  result(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

export class ByteReader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.buf.length) throw new MalformedPatchError('instruction stream ends inside a number');
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new MalformedPatchError('number too large in instruction stream');
    }
  }
}

export const zigzag = (n: number): number => (n < 0 ? -n * 2 - 1 : n * 2);
export const unzigzag = (n: number): number => (n % 2 === 1 ? -(n + 1) / 2 : n / 2);

/** brotli at a level that keeps a 100 MB build under a minute (the literal stream is mostly incompressible). */
export function compress(data: Buffer, quality: number): Buffer {
  return brotliCompressSync(data, {
    params: {
      [zlib.BROTLI_PARAM_QUALITY]: quality,
      // A window no larger than the input: brotli sets up its tables for the whole window.
      [zlib.BROTLI_PARAM_LGWIN]: Math.max(10, Math.min(24, Math.ceil(Math.log2(data.length + 1)))),
      [zlib.BROTLI_PARAM_SIZE_HINT]: data.length,
    },
  });
}

export function decompress(data: Buffer, what: string): Buffer {
  try {
    return brotliDecompressSync(data);
  } catch (err) {
    throw new MalformedPatchError(`${what} stream does not decompress: ${(err as Error).message}`);
  }
}

/** One decoded instruction; `from` is a base offset (COPY) or a literal offset (ADD). */
export interface Op {
  kind: 0 | 1;
  len: number;
  from: number;
}

/** Decodes the instruction stream into ops, checking every range against the sizes it must stay in. */
export function decodeOps(ops: Buffer, baseSize: number, literalSize: number, targetSize: number): Op[] {
  const r = new ByteReader(ops);
  const out: Op[] = [];
  let lastCopyEnd = 0;
  let literal = 0;
  let produced = 0;
  while (!r.done) {
    const head = r.varint();
    const kind = (head % 2) as 0 | 1;
    const len = (head - kind) / 2;
    if (kind === 1) {
      const from = lastCopyEnd + unzigzag(r.varint());
      if (from < 0 || from + len > baseSize) throw new MalformedPatchError('COPY outside the base file');
      out.push({ kind, len, from });
      lastCopyEnd = from + len;
    } else {
      if (literal + len > literalSize) throw new MalformedPatchError('ADD beyond the literal data');
      out.push({ kind, len, from: literal });
      literal += len;
    }
    produced += len;
  }
  if (produced !== targetSize) throw new MalformedPatchError(`instructions produce ${produced} bytes, the header says ${targetSize}`);
  return out;
}

/** Encodes ops (ADD literals are taken from `literals` in order). */
export function encodeOps(ops: readonly Op[]): Buffer {
  const w = new ByteWriter();
  let lastCopyEnd = 0;
  for (const op of ops) {
    w.varint(op.len * 2 + op.kind);
    if (op.kind === 1) {
      w.varint(zigzag(op.from - lastCopyEnd));
      lastCopyEnd = op.from + op.len;
    }
  }
  return w.result();
}
