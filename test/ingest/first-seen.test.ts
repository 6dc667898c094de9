import { describe, expect, it } from 'vitest';
import { FirstSeen } from '../../src/ingest/first-seen.ts';
import type { PendingEvent } from '../../src/ingest/pending.ts';
import { BucketCache, bucketOf, ShardPlacer, shardOfAccount } from '../../src/model/bucket.ts';
import type { UsageEvent } from '../../src/model/event.ts';

const pending = (id: string, words: number[], account = 'acct'): PendingEvent => ({
  event: { event_id: id, account_id: account } as UsageEvent,
  hashes: Uint32Array.from([...words, 0, 0, 0, 0, 0]),
  at: 0,
});

/** Claims every event that finds no earlier claim, as classification does for accepted events. */
const claimAll = (seen: FirstSeen, n: number) =>
  Array.from({ length: n }, (_, i) => {
    const j = seen.claimedBy(i);
    if (j < 0) seen.claim(i);
    return j;
  });

describe('FirstSeen (in-group duplicates by event key)', () => {
  it('finds the event that claimed the same (account, id), and only that', () => {
    const events = [pending('a', [1, 2, 3, 4]), pending('b', [5, 6, 7, 8]), pending('a', [1, 2, 3, 4]), pending('a', [1, 2, 3, 4])];
    expect(claimAll(new FirstSeen(events), events.length)).toEqual([-1, -1, 0, 0]);
  });

  it('an event that did not claim its key (it was rejected) leaves it to the next one', () => {
    const events = [pending('a', [1, 2, 3, 4]), pending('a', [1, 2, 3, 4]), pending('a', [1, 2, 3, 4])];
    const seen = new FirstSeen(events);
    expect(seen.claimedBy(0)).toBe(-1); // rejected: not claimed
    expect(seen.claimedBy(1)).toBe(-1);
    seen.claim(1);
    expect(seen.claimedBy(2)).toBe(1);
  });

  it('never equates two ids, or one id under two accounts, whose keys collide', () => {
    // Same 128-bit key, different ids or accounts (a collision): all are first occurrences.
    const events = [pending('x', [9, 9, 9, 9]), pending('y', [9, 9, 9, 9]), pending('y', [9, 9, 9, 9]), pending('y', [9, 9, 9, 9], 'other')];
    expect(claimAll(new FirstSeen(events), events.length)).toEqual([-1, -1, 1, -1]);
  });

  it('handles a group where every home slot collides', () => {
    const events = Array.from({ length: 100 }, (_, i) => pending(`e${i % 50}`, [0, i % 50, 0, 0]));
    expect(claimAll(new FirstSeen(events), events.length)).toEqual(events.map((_, i) => (i < 50 ? -1 : i - 50)));
  });
});

describe('ShardPlacer', () => {
  it('places every account exactly as shardOfAccount, also after its cache starts over', () => {
    const layout = { shardCount: 16, bucketCount: 64 };
    const placer = new ShardPlacer(layout, 10);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100; i++) expect(placer.shardOf(`acct-${i}`)).toBe(shardOfAccount(`acct-${i}`, layout));
    }
  });

  it('BucketCache answers bucketOf for every account, also after its cache starts over', () => {
    const cache = new BucketCache(64, 10);
    const seen = new Set<number>();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100; i++) {
        const b = cache.bucketOf(`acct-${i}`);
        expect(b).toBe(bucketOf(`acct-${i}`, 64));
        seen.add(b);
      }
    }
    expect(seen.size).toBeGreaterThan(30);
  });
});
