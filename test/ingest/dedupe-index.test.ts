import { describe, expect, it } from 'vitest';
import { DedupeIndex } from '../../src/ingest/dedupe-index.ts';
import { seededRandom } from '../../src/model/deps.ts';

const DAY = 86_400_000;

describe('DedupeIndex', () => {
  it('classifies new, duplicate and conflict exactly, across growth and for a million entries', () => {
    const idx = new DedupeIndex(7 * DAY, 16);
    const r = seededRandom(1);
    const keys: [number, number, number, number][] = [];
    for (let i = 0; i < 1_000_000; i++) {
      const k: [number, number, number, number] = [(r() * 2 ** 32) >>> 0, (r() * 2 ** 32) >>> 0, i, (r() * 2 ** 32) >>> 0];
      keys.push(k);
      idx.insert(k[0], k[1], k[2], k[3], 1_000 * DAY);
    }
    expect(idx.size).toBe(1_000_000);
    for (let i = 0; i < keys.length; i += 997) {
      const [a, b, c, p] = keys[i]!;
      expect(idx.classify(a, b, c, p, 1_000 * DAY)).toBe('duplicate');
      expect(idx.classify(a, b, c, (p + 1) >>> 0, 1_000 * DAY)).toBe('conflict');
      expect(idx.classify(a, b, (c + 7_000_000) >>> 0, p, 1_000 * DAY)).toBe('new');
    }
    expect(idx.bytes / idx.size).toBeLessThanOrEqual(40);
  });

  it('measures the window on ingested time: an entry older than the window is new again; expiry frees it', () => {
    const idx = new DedupeIndex(7 * DAY);
    const t0 = 100 * DAY + 123_456;
    idx.insert(1, 2, 3, 4, t0);
    expect(idx.classify(1, 2, 3, 4, t0 + 7 * DAY)).toBe('duplicate');
    expect(idx.classify(1, 2, 3, 4, t0 + 7 * DAY + 1001)).toBe('new');
    idx.expire(t0 + 8 * DAY);
    expect(idx.size).toBe(0);
    idx.insert(1, 2, 3, 5, t0 + 8 * DAY);
    expect(idx.classify(1, 2, 3, 5, t0 + 8 * DAY)).toBe('duplicate');
  });

  it('a newer entry for the same id replaces the older payload', () => {
    const idx = new DedupeIndex(7 * DAY);
    idx.insert(9, 9, 9, 1, 10 * DAY);
    idx.insert(9, 9, 9, 2, 20 * DAY);
    expect(idx.size).toBe(1);
    expect(idx.classify(9, 9, 9, 2, 20 * DAY)).toBe('duplicate');
  });
});
