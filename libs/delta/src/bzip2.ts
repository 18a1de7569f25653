import { suffixArray } from './suffix-array';

/*
 * A bzip2 encoder (the format of bzip2 1.0, "BZh9"), written for bsdiff40's three blocks: any
 * bzip2 decoder reads its output (Debian's bspatch and bzip2, Python's bz2, Go's
 * compress/bzip2; the int tests check). Per block of up to 900 kB: the initial run-length
 * coding of runs of 4 to 255 bytes, the Burrows-Wheeler transform (from a suffix array of the
 * block written twice), move-to-front with the RUNA/RUNB coding of zero runs, and Huffman
 * coding with 2 to 6 tables chosen per 50 symbols, refined four times as libbzip2 does.
 */

const BLOCK = 900_000 - 19; // bytes of run-length-coded data per block, as bzip2 -9
const GROUP = 50;
const MAX_CODE = 17;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

class BitWriter {
  private buf = Buffer.alloc(1 << 16);
  private at = 0;
  private acc = 0;
  private n = 0;

  bits(count: number, value: number): void {
    // At most 24 bits at a time keeps the accumulator within 32 bits.
    if (count > 24) {
      this.bits(count - 24, Math.floor(value / (1 << 24)));
      this.bits(24, value & 0xffffff);
      return;
    }
    this.acc = (this.acc << count) | (value & ((1 << count) - 1));
    this.n += count;
    while (this.n >= 8) {
      this.n -= 8;
      this.byte((this.acc >>> this.n) & 0xff);
    }
    this.acc &= (1 << this.n) - 1;
  }

  private byte(b: number): void {
    if (this.at === this.buf.length) {
      const bigger = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(bigger);
      this.buf = bigger;
    }
    this.buf[this.at++] = b;
  }

  result(): Buffer {
    if (this.n > 0) this.bits(8 - this.n, 0);
    return this.buf.subarray(0, this.at);
  }
}

/** bzip2-compresses `data` (block size 9). */
export function bzip2(data: Uint8Array): Buffer {
  const out = new BitWriter();
  out.bits(8, 0x42); // B
  out.bits(8, 0x5a); // Z
  out.bits(8, 0x68); // h
  out.bits(8, 0x39); // 9
  let combined = 0;
  let at = 0;
  const block = new Uint8Array(BLOCK + 255);
  while (at < data.length) {
    // Run-length code the input into the block; the block's CRC is of the input bytes taken.
    let crc = 0xffffffff;
    let n = 0;
    while (at < data.length && n < BLOCK - 5) {
      const ch = data[at]!;
      let run = 1;
      while (run < 255 && at + run < data.length && data[at + run] === ch) run++;
      for (let k = 0; k < run; k++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ ch) & 0xff]!) >>> 0;
      if (run >= 4) {
        block[n++] = ch;
        block[n++] = ch;
        block[n++] = ch;
        block[n++] = ch;
        block[n++] = run - 4;
      } else {
        for (let k = 0; k < run; k++) block[n++] = ch;
      }
      at += run;
    }
    crc = ~crc >>> 0;
    combined = (((combined << 1) | (combined >>> 31)) ^ crc) >>> 0;
    writeBlock(out, block.subarray(0, n), crc);
  }
  out.bits(24, 0x177245);
  out.bits(24, 0x385090);
  out.bits(32, combined);
  return Buffer.from(out.result());
}

function writeBlock(out: BitWriter, block: Uint8Array, crc: number): void {
  const n = block.length;
  // BWT: the rotations of the block in order are the suffixes of block+block that start in the first copy.
  const twice = new Uint8Array(2 * n);
  twice.set(block);
  twice.set(block, n);
  const sa = suffixArray(twice);
  const last = new Uint8Array(n);
  let origPtr = 0;
  for (let i = 0, j = 0; i < sa.length; i++) {
    const s = sa[i]!;
    if (s >= n) continue;
    if (s === 0) origPtr = j;
    last[j++] = block[(s + n - 1) % n]!;
  }

  out.bits(24, 0x314159);
  out.bits(24, 0x265359);
  out.bits(32, crc);
  out.bits(1, 0); // not randomised
  out.bits(24, origPtr);

  const used = new Uint8Array(256);
  for (let i = 0; i < n; i++) used[last[i]!] = 1;
  let groups16 = 0;
  for (let i = 0; i < 16; i++) {
    let any = 0;
    for (let j = 0; j < 16; j++) any |= used[i * 16 + j]!;
    groups16 = (groups16 << 1) | any;
  }
  out.bits(16, groups16);
  for (let i = 0; i < 16; i++) {
    if (!((groups16 >>> (15 - i)) & 1)) continue;
    let bits = 0;
    for (let j = 0; j < 16; j++) bits = (bits << 1) | used[i * 16 + j]!;
    out.bits(16, bits);
  }
  const seqToUnseq: number[] = [];
  const unseqToSeq = new Int32Array(256);
  for (let i = 0; i < 256; i++) if (used[i]) unseqToSeq[i] = seqToUnseq.push(i) - 1;
  const nInUse = seqToUnseq.length;
  const alphaSize = nInUse + 2;
  const EOB = nInUse + 1;

  // Move-to-front, zero runs as RUNA (0) / RUNB (1), others as value + 1.
  const mtfv = new Uint16Array(n + 1);
  const freq = new Int32Array(alphaSize);
  const order = Uint8Array.from(seqToUnseq.map((_, i) => i));
  let wr = 0;
  let zPend = 0;
  const flushZeros = () => {
    if (zPend === 0) return;
    zPend--;
    for (;;) {
      const sym = zPend & 1 ? 1 : 0;
      mtfv[wr++] = sym;
      freq[sym]!++;
      if (zPend < 2) break;
      zPend = (zPend - 2) >> 1;
    }
    zPend = 0;
  };
  for (let i = 0; i < n; i++) {
    const s = unseqToSeq[last[i]!]!;
    if (order[0] === s) {
      zPend++;
      continue;
    }
    flushZeros();
    let j = 1;
    while (order[j] !== s) j++;
    order.copyWithin(1, 0, j);
    order[0] = s;
    mtfv[wr++] = j + 1;
    freq[j + 1]!++;
  }
  flushZeros();
  mtfv[wr++] = EOB;
  freq[EOB]!++;
  writeHuffman(out, mtfv.subarray(0, wr), freq, alphaSize);
}

function writeHuffman(out: BitWriter, mtfv: Uint16Array, freq: Int32Array, alphaSize: number): void {
  const nMTF = mtfv.length;
  const nGroups = nMTF < 200 ? 2 : nMTF < 600 ? 3 : nMTF < 1200 ? 4 : nMTF < 2400 ? 5 : 6;
  const len = Array.from({ length: nGroups }, () => new Uint8Array(alphaSize));

  // Initial tables: each favours a run of symbols holding about 1/nGroups of the frequency (libbzip2's start).
  let remaining = nMTF;
  let gs = 0;
  for (let part = nGroups; part > 0; part--) {
    const target = remaining / part;
    let ge = gs - 1;
    let acc = 0;
    while (acc < target && ge < alphaSize - 1) acc += freq[++ge]!;
    if (ge > gs && part !== nGroups && part !== 1 && (nGroups - part) % 2 === 1) acc -= freq[ge--]!;
    for (let v = 0; v < alphaSize; v++) len[part - 1]![v] = v >= gs && v <= ge ? 0 : 15;
    gs = ge + 1;
    remaining -= acc;
  }

  const nSelectors = Math.ceil(nMTF / GROUP);
  const selectors = new Uint8Array(nSelectors);
  const rfreq = Array.from({ length: nGroups }, () => new Int32Array(alphaSize));
  for (let iter = 0; iter < 4; iter++) {
    for (const f of rfreq) f.fill(0);
    for (let g = 0, sel = 0; g < nMTF; g += GROUP, sel++) {
      const end = Math.min(g + GROUP, nMTF);
      let best = 0;
      let bestCost = Infinity;
      for (let t = 0; t < nGroups; t++) {
        const l = len[t]!;
        let cost = 0;
        for (let i = g; i < end; i++) cost += l[mtfv[i]!]!;
        if (cost < bestCost) {
          bestCost = cost;
          best = t;
        }
      }
      selectors[sel] = best;
      const f = rfreq[best]!;
      for (let i = g; i < end; i++) f[mtfv[i]!]!++;
    }
    for (let t = 0; t < nGroups; t++) codeLengths(len[t]!, rfreq[t]!, alphaSize);
  }

  out.bits(3, nGroups);
  out.bits(15, nSelectors);
  const pos = Array.from({ length: nGroups }, (_, i) => i);
  for (let s = 0; s < nSelectors; s++) {
    const v = selectors[s]!;
    let j = 0;
    while (pos[j] !== v) j++;
    pos.splice(j, 1);
    pos.unshift(v);
    for (let k = 0; k < j; k++) out.bits(1, 1);
    out.bits(1, 0);
  }
  const codes = len.map((l) => {
    let curr = l[0]!;
    out.bits(5, curr);
    for (let v = 0; v < alphaSize; v++) {
      while (curr < l[v]!) {
        out.bits(2, 2);
        curr++;
      }
      while (curr > l[v]!) {
        out.bits(2, 3);
        curr--;
      }
      out.bits(1, 0);
    }
    return assignCodes(l, alphaSize);
  });
  for (let g = 0, sel = 0; g < nMTF; g += GROUP, sel++) {
    const t = selectors[sel]!;
    const l = len[t]!;
    const c = codes[t]!;
    const end = Math.min(g + GROUP, nMTF);
    for (let i = g; i < end; i++) out.bits(l[mtfv[i]!]!, c[mtfv[i]!]!);
  }
}

/** Canonical codes, shortest first, in symbol order within a length (as bzip2 decoders rebuild them). */
function assignCodes(len: Uint8Array, alphaSize: number): Int32Array {
  const code = new Int32Array(alphaSize);
  let vec = 0;
  for (let l = 1; l <= MAX_CODE; l++) {
    for (let v = 0; v < alphaSize; v++) if (len[v] === l) code[v] = vec++;
    vec <<= 1;
  }
  return code;
}

/** Huffman code lengths of at most MAX_CODE bits; a symbol never seen still gets a code (libbzip2's rule). */
function codeLengths(len: Uint8Array, freq: Int32Array, alphaSize: number): void {
  const weight = new Float64Array(alphaSize);
  for (let v = 0; v < alphaSize; v++) weight[v] = Math.max(1, freq[v]!);
  for (;;) {
    const depth = huffmanDepths(weight, alphaSize);
    if (depth.every((d) => d <= MAX_CODE)) {
      for (let v = 0; v < alphaSize; v++) len[v] = Math.max(1, depth[v]!);
      return;
    }
    // Flatten the distribution and try again, as libbzip2 does.
    for (let v = 0; v < alphaSize; v++) weight[v] = 1 + Math.floor(weight[v]! / 2);
  }
}

function huffmanDepths(weight: Float64Array, n: number): number[] {
  if (n === 1) return [1];
  // Nodes 0..n-1 are leaves; parents follow. A binary heap of node indices by weight.
  const w = Array.from(weight.subarray(0, n));
  const parent = new Int32Array(2 * n).fill(-1);
  const heap: number[] = [];
  const push = (i: number) => {
    heap.push(i);
    let k = heap.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (w[heap[p]!]! <= w[heap[k]!]!) break;
      [heap[p], heap[k]] = [heap[k]!, heap[p]!];
      k = p;
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const lastNode = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = lastNode;
      let k = 0;
      for (;;) {
        const l = 2 * k + 1;
        const r = l + 1;
        let m = k;
        if (l < heap.length && w[heap[l]!]! < w[heap[m]!]!) m = l;
        if (r < heap.length && w[heap[r]!]! < w[heap[m]!]!) m = r;
        if (m === k) break;
        [heap[m], heap[k]] = [heap[k]!, heap[m]!];
        k = m;
      }
    }
    return top;
  };
  for (let i = 0; i < n; i++) push(i);
  let next = n;
  while (heap.length > 1) {
    const a = pop();
    const b = pop();
    w[next] = w[a]! + w[b]!;
    parent[a] = next;
    parent[b] = next;
    push(next++);
  }
  const depth: number[] = [];
  for (let i = 0; i < n; i++) {
    let d = 0;
    for (let k = i; parent[k]! !== -1; k = parent[k]!) d++;
    depth.push(d);
  }
  return depth;
}
