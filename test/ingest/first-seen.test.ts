import { describe, expect, it } from 'vitest';
import { FirstSeen } from '../../src/ingest/first-seen.ts';
import type { PendingEvent } from '../../src/ingest/pending.ts';
import { ShardPlacer, shardOfAccount } from '../../src/model/bucket.ts';
import type { UsageEvent } from '../../src/model/event.ts';

const pending = (id: string, words: number[]): PendingEvent => ({
  event: { event_id: id } as UsageEvent,
  hashes: Uint32Array.from([...words, 0, 0, 0, 0]),
  at: 0,
});

describe('FirstSeen (in-group duplicates by event hash)', () => {
  it('finds the first event with the same id, and only that', () => {
    const events = [pending('a', [1, 2, 3, 4]), pending('b', [5, 6, 7, 8]), pending('a', [1, 2, 3, 4]), pending('a', [1, 2, 3, 4])];
    const seen = new FirstSeen(events);
    expect(events.map((_, i) => seen.firstOf(i))).toEqual([-1, -1, 0, 0]);
  });

  it('never equates two ids whose hashes collide', () => {
    // Same 128-bit hash, different ids (a collision): both are first occurrences.
    const events = [pending('x', [9, 9, 9, 9]), pending('y', [9, 9, 9, 9]), pending('y', [9, 9, 9, 9])];
    const seen = new FirstSeen(events);
    expect(events.map((_, i) => seen.firstOf(i))).toEqual([-1, -1, 1]);
  });

  it('handles a group where every home slot collides', () => {
    const events = Array.from({ length: 100 }, (_, i) => pending(`e${i % 50}`, [0, i % 50, 0, 0]));
    const seen = new FirstSeen(events);
    expect(events.map((_, i) => seen.firstOf(i))).toEqual(events.map((_, i) => (i < 50 ? -1 : i - 50)));
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
});
