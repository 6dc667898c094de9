import { describe, expect, it } from 'vitest';
import { bucketOf, bucketsOfShard, shardOfAccount, shardOfBucket } from '../../src/model/bucket.ts';
import { hashString128, hex128 } from '../../src/model/hash.ts';

describe('murmur3 x86 128', () => {
  // Buckets and dedupe hashes are persisted: these values must never change.
  // Cross-checked against the Python `mmh3` package (hash128, x64arch=False).
  const golden: [string, string][] = [
    ['', '00000000000000000000000000000000'],
    ['a', 'a794933c5556b01b5556b01b5556b01b'],
    ['hello', '2b2444a0db91def79adb31b69adb31b6'],
    ['acct_123', '61105d1ca3f9edd40142bb4b0142bb4b'],
    ['the quick brown fox jumps over', '42538af48c7fb29d495e2dcb56bb3f99'],
    ['x'.repeat(33), 'aebb6f144dad0a9efe5e01d83723d4d6'],
    ['ünïcødé', '8867531cfd82dfaea517b4d3573649a6'],
  ];
  for (const [input, want] of golden) {
    it(`hashes ${JSON.stringify(input)}`, () => expect(hex128(hashString128(input))).toBe(want));
  }
});

describe('account → bucket → shard', () => {
  const layout = { shardCount: 16, bucketCount: 64 };

  it('is stable for a given account', () => {
    expect(bucketOf('acct_123', 64)).toBe(0x61105d1c % 64);
    expect(shardOfAccount('acct_123', layout)).toBe(shardOfBucket(0x61105d1c % 64, layout));
  });

  it('gives every shard a contiguous, non-empty range and every bucket exactly one shard', () => {
    for (const l of [layout, { shardCount: 3, bucketCount: 64 }, { shardCount: 7, bucketCount: 10 }, { shardCount: 1, bucketCount: 1 }]) {
      const owner: number[] = [];
      for (let s = 0; s < l.shardCount; s++) {
        const { from, to } = bucketsOfShard(s, l);
        expect(to).toBeGreaterThan(from);
        for (let b = from; b < to; b++) owner[b] = s;
      }
      for (let b = 0; b < l.bucketCount; b++) expect(shardOfBucket(b, l)).toBe(owner[b]);
    }
  });

  it('spreads accounts over all shards', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[shardOfAccount(`acct_${i}`, layout)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(700);
  });
});
