import { createHash } from 'node:crypto';

/*
 * Synthetic pattern files that evolve the way real signature databases do, so incremental
 * patches between them are realistic: a file is a header and a list of signature records
 * (id, platform, a detection name from a shared vocabulary, a byte pattern, a hash, flags);
 * each release appends new records, inserts a few among the old ones, drops a few and changes a
 * few in place (new pattern and hash under the same id and name). Everything derives from
 * (type, version), so the same release is the same bytes on every run.
 *
 *   HERALD-PATTERN 1\n type=<type>\n version=<version>\n records=<n>\n \n
 *   record*   (u16 length, then id u32, platform u8, name u8+bytes, pattern u8+bytes, hash[32], flags u16)
 *   sha256 of the records (32 bytes)
 */

export interface EvolutionRates {
  /** New records per release, as a share of the current count (most appended, some inserted). */
  add: number;
  drop: number;
  change: number;
}

export const DEFAULT_RATES: EvolutionRates = { add: 0.012, drop: 0.002, change: 0.004 };

const FAMILIES = [
  'TROJ', 'WORM', 'BKDR', 'RANSOM', 'ADW', 'PUA', 'HKTL', 'SPYW', 'ROOTKIT', 'EXPL', 'JS', 'VBS', 'MAL', 'CRYPTO', 'DOWNLDR', 'STEALER',
  'BANKER', 'COINMINER', 'DROPPER', 'KEYLOG', 'BOT', 'RAT', 'PHISH', 'HTML', 'PDF', 'OLE', 'LNK', 'PS1', 'ELF', 'MACOS', 'ANDROID', 'FAKEAV',
];
const PLATFORMS = ['WIN32', 'WIN64', 'LINUX', 'MACOS', 'ANDROID', 'MULTI', 'JS', 'DOC'];
const NAMES = [
  'AGENT', 'GENERIC', 'EMOTET', 'QAKBOT', 'LOCKBIT', 'REDLINE', 'FORMBOOK', 'ASYNCRAT', 'NJRAT', 'MIRAI', 'XMRIG', 'COBALT', 'ICEDID',
  'DRIDEX', 'TRICKBOT', 'GAMARUE', 'RAMNIT', 'SALITY', 'VIRUT', 'ZBOT', 'NANOCORE', 'REMCOS', 'AVEMARIA', 'RACCOON', 'VIDAR', 'SMOKELOADER',
];

/** A small, fast, seedable generator (sfc32); deterministic across runs and platforms. */
class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string) {
    const h = createHash('sha256').update(seed).digest();
    this.a = h.readUInt32LE(0);
    this.b = h.readUInt32LE(4);
    this.c = h.readUInt32LE(8);
    this.d = h.readUInt32LE(12);
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** In [0, 1). */
  float(): number {
    return this.next() / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  fill(buf: Buffer, start: number, end: number): void {
    let i = start;
    for (; i + 4 <= end; i += 4) buf.writeUInt32LE(this.next(), i);
    for (; i < end; i++) buf[i] = this.next() & 0xff;
  }
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

class Writer {
  buf: Buffer;
  length = 0;
  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(capacity, 1 << 16));
  }
  reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  copy(src: Buffer, start: number, end: number): void {
    this.reserve(end - start);
    src.copy(this.buf, this.length, start, end);
    this.length += end - start;
  }
}

function writeRecord(w: Writer, rnd: Random, id: number, keep?: { platform: number; name: Buffer }): void {
  const platform = keep?.platform ?? rnd.int(PLATFORMS.length);
  const name =
    keep?.name ??
    Buffer.from(
      `${FAMILIES[rnd.int(FAMILIES.length)]}.${PLATFORMS[platform]}.${NAMES[rnd.int(NAMES.length)]}.${Array.from({ length: 4 }, () => ALNUM[rnd.int(ALNUM.length)]).join('')}`,
      'latin1',
    );
  const patternLength = 16 + rnd.int(81);
  const bodyLength = 4 + 1 + 1 + name.length + 1 + patternLength + 32 + 2;
  w.reserve(2 + bodyLength);
  const b = w.buf;
  let at = w.length;
  b.writeUInt16BE(bodyLength, at);
  b.writeUInt32BE(id, at + 2);
  b[at + 6] = platform;
  b[at + 7] = name.length;
  name.copy(b, at + 8);
  at += 8 + name.length;
  b[at++] = patternLength;
  rnd.fill(b, at, at + patternLength + 32);
  at += patternLength + 32;
  b.writeUInt16BE(rnd.next() & 0x0fff, at);
  w.length = at + 2;
}

function finish(type: string, version: string, records: Writer, count: number): Buffer {
  const head = Buffer.from(`HERALD-PATTERN 1\ntype=${type}\nversion=${version}\nrecords=${count}\n\n`, 'latin1');
  const body = records.buf.subarray(0, records.length);
  return Buffer.concat([head, body, createHash('sha256').update(body).digest()]);
}

/** The first release of a component: about `bytes` of fresh records. */
export function initialPatternFile(type: string, version: string, bytes: number): Buffer {
  const rnd = new Random(`${type}@${version}`);
  const w = new Writer(bytes + 4096);
  let count = 0;
  while (w.length < bytes) writeRecord(w, rnd, ++count);
  return finish(type, version, w, count);
}

/** Parses a pattern file's header; null when `file` is not one. */
function parse(file: Buffer): { bodyStart: number; bodyEnd: number } | null {
  if (!file.subarray(0, 16).equals(Buffer.from('HERALD-PATTERN 1', 'latin1'))) return null;
  const end = file.indexOf('\n\n', 0, 'latin1');
  return end < 0 ? null : { bodyStart: end + 2, bodyEnd: file.length - 32 };
}

/** The next release after `previous`: drops, changes and adds records at the given rates. */
export function nextPatternFile(previous: Buffer, type: string, version: string, rates: EvolutionRates = DEFAULT_RATES): Buffer {
  const layout = parse(previous);
  if (!layout) throw new Error('the previous release is not a pattern file');
  const rnd = new Random(`${type}@${version}`);
  const w = new Writer(Math.ceil(previous.length * (1 + rates.add * 2)));
  let count = 0;
  let maxId = 0;
  for (let at = layout.bodyStart; at < layout.bodyEnd; at += 2 + previous.readUInt16BE(at)) maxId = Math.max(maxId, previous.readUInt32BE(at + 2));
  const insertShare = 0.25;
  for (let at = layout.bodyStart; at < layout.bodyEnd; ) {
    const length = previous.readUInt16BE(at);
    const id = previous.readUInt32BE(at + 2);
    const roll = rnd.float();
    if (roll < rates.drop) {
      // dropped: a retired signature
    } else if (roll < rates.drop + rates.change) {
      const nameLength = previous[at + 7]!;
      writeRecord(w, rnd, id, { platform: previous[at + 6]!, name: previous.subarray(at + 8, at + 8 + nameLength) });
      count++;
    } else {
      w.copy(previous, at, at + 2 + length);
      count++;
    }
    // New records get ids above every old one; a quarter land among the old ones, the rest at the end.
    if (rnd.float() < rates.add * insertShare) {
      writeRecord(w, rnd, ++maxId);
      count++;
    }
    at += 2 + length;
  }
  const appended = Math.round(count * rates.add * (1 - insertShare));
  for (let k = 0; k < appended; k++) {
    writeRecord(w, rnd, ++maxId);
    count++;
  }
  return finish(type, version, w, count);
}
