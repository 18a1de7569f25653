export interface TokenBucketOptions {
  /** Tokens added per second (the sustained rate allowed). */
  ratePerSecond: number;
  /** The most tokens a bucket holds (the burst allowed after a quiet spell). */
  burst: number;
  /**
   * The most buckets kept. A bucket left alone long enough to be full again is the same as none
   * and is forgotten; past this many, the fullest are forgotten first (a flood of made-up keys
   * cannot grow memory without bound, and forgetting a bucket only ever lets its key through).
   */
  maxKeys?: number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms). */
  at: number;
}

/**
 * One token bucket per key (an agent id, say): each take costs a token, tokens come back at
 * `ratePerSecond` up to `burst`. Time is passed in, so the buckets are pure and testable.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxKeys: number;
  /** A bucket idle this long is full again. */
  private readonly refillMs: number;
  private takesSinceSweep = 0;

  constructor(private readonly options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1)) throw new Error('a token bucket needs a rate above 0 and a burst of at least 1');
    this.maxKeys = options.maxKeys ?? 100_000;
    this.refillMs = (options.burst / options.ratePerSecond) * 1000;
  }

  /** Takes a token from `key`'s bucket: true if there was one, false if the key is over its rate. */
  take(key: string, nowMs: number): boolean {
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= this.maxKeys) this.sweep(nowMs);
      bucket = { tokens: this.options.burst, at: nowMs };
      this.buckets.set(key, bucket);
    } else {
      const elapsed = Math.max(0, nowMs - bucket.at);
      bucket.tokens = Math.min(this.options.burst, bucket.tokens + (elapsed / 1000) * this.options.ratePerSecond);
      bucket.at = Math.max(bucket.at, nowMs);
    }
    if (++this.takesSinceSweep >= 10_000) this.sweep(nowMs);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** How many keys have a bucket (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Forgets the buckets that are full again; if that is not enough to stay under `maxKeys`, the
   * least recently used ones too (Map order is insertion order; a key's bucket is not moved on
   * use, so this is "least recently created", which is close enough and O(1) per key).
   */
  private sweep(nowMs: number): void {
    this.takesSinceSweep = 0;
    for (const [key, bucket] of this.buckets) {
      if (nowMs - bucket.at >= this.refillMs) this.buckets.delete(key);
    }
    const excess = this.buckets.size - Math.floor(this.maxKeys * 0.9);
    if (excess <= 0) return;
    let n = 0;
    for (const key of this.buckets.keys()) {
      if (n++ >= excess) break;
      this.buckets.delete(key);
    }
  }
}
