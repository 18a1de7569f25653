import { TokenBuckets } from './token-buckets';

describe('TokenBuckets', () => {
  it('lets a burst through, then the sustained rate', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 2, burst: 5 });
    const taken = Array.from({ length: 8 }, () => buckets.take('a', 0));
    expect(taken).toEqual([true, true, true, true, true, false, false, false]);
    // Two tokens a second come back: after 1 s, two more and no third.
    expect([buckets.take('a', 1_000), buckets.take('a', 1_000), buckets.take('a', 1_000)]).toEqual([true, true, false]);
    // Half a second is one token.
    expect([buckets.take('a', 1_500), buckets.take('a', 1_500)]).toEqual([true, false]);
  });

  it('keeps each key apart: one over its rate takes nothing from another', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 1, burst: 3 });
    for (let i = 0; i < 100; i++) buckets.take('flood', 0);
    expect(buckets.take('flood', 0)).toBe(false);
    expect([buckets.take('quiet', 0), buckets.take('quiet', 0), buckets.take('quiet', 0)]).toEqual([true, true, true]);
  });

  it('never holds more than the burst, however long a key was quiet', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 10, burst: 3 });
    buckets.take('a', 0);
    const later = Array.from({ length: 5 }, () => buckets.take('a', 3_600_000));
    expect(later.filter(Boolean)).toHaveLength(3);
  });

  it('does not refill when the clock steps back', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 1, burst: 1 });
    expect(buckets.take('a', 10_000)).toBe(true);
    expect(buckets.take('a', 5_000)).toBe(false);
  });

  it('forgets buckets that are full again, and stays under maxKeys under a flood of new keys', () => {
    const buckets = new TokenBuckets({ ratePerSecond: 1, burst: 2, maxKeys: 1_000 });
    for (let i = 0; i < 50_000; i++) buckets.take(`made-up-${i}`, i);
    expect(buckets.size).toBeLessThanOrEqual(1_000);
    // A key over its rate stays over it while it keeps taking (its bucket is recent, not forgotten first)...
    const small = new TokenBuckets({ ratePerSecond: 1, burst: 2, maxKeys: 10 });
    small.take('a', 0);
    small.take('a', 0);
    expect(small.take('a', 0)).toBe(false);
    // ...and once full again (2 s of quiet) it is forgotten at the next sweep.
    for (let i = 0; i < 20; i++) small.take(`k${i}`, 2_000);
    expect(small.size).toBeLessThanOrEqual(10);
  });

  it('refuses nonsense settings', () => {
    expect(() => new TokenBuckets({ ratePerSecond: 0, burst: 1 })).toThrow();
    expect(() => new TokenBuckets({ ratePerSecond: 1, burst: 0 })).toThrow();
  });
});
