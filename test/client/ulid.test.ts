/** ulid(): format, the time it encodes, monotonic order within a millisecond and across a clock step back. */
import { describe, expect, it } from 'vitest';
import { isUlid, ulid, ulidFactory, ulidTime } from '../../src/client/index.ts';

const CROCKFORD = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('ulid', () => {
  it('is 26 Crockford base32 characters encoding the millisecond', () => {
    const t = Date.UTC(2026, 0, 5, 12, 34, 56, 789);
    const id = ulid(t);
    expect(id).toMatch(CROCKFORD);
    expect(isUlid(id)).toBe(true);
    expect(ulidTime(id)).toBe(t);
    // The shared generator never goes back in time, so extremes need their own generators.
    expect(ulidFactory()(0).slice(0, 10)).toBe('0000000000');
    expect(ulidTime(ulidFactory()(2 ** 48 - 1))).toBe(2 ** 48 - 1);
    expect(ulidTime(ulid(t - 5))).toBe(t);
    expect(() => ulid(2 ** 48)).toThrow(RangeError);
    expect(() => ulid(-1)).toThrow(RangeError);
    expect(isUlid('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe(true);
    expect(isUlid('01arz3ndektsv4rrffq69g5fav')).toBe(false);
    expect(isUlid('81ARZ3NDEKTSV4RRFFQ69G5FAV')).toBe(false); // beyond 2^48 ms
    expect(isUlid('01ARZ3NDEKTSV4RRFFQ69G5FAI')).toBe(false); // I is not Crockford
  });

  it('is strictly increasing within one millisecond and when the clock steps back', () => {
    const next = ulidFactory({ now: () => 1_767_225_600_000 });
    const ids = Array.from({ length: 5000 }, () => next());
    expect(new Set(ids).size).toBe(5000);
    expect([...ids].sort()).toEqual(ids);
    expect(ids.every((id) => ulidTime(id) === 1_767_225_600_000)).toBe(true);
    const back = next(1_767_225_599_000);
    expect(back > ids.at(-1)!).toBe(true);
    expect(ulidTime(back)).toBe(1_767_225_600_000);
    const later = next(1_767_225_600_001);
    expect(ulidTime(later)).toBe(1_767_225_600_001);
  });

  it('increments the random part with carry, and borrows the next millisecond if it ever wraps', () => {
    const next = ulidFactory({ randomBytes: (b) => b.fill(255), now: () => 1000 });
    const first = next();
    expect(first.slice(10)).toBe('ZZZZZZZZZZZZZZZZ');
    const second = next();
    expect(ulidTime(second)).toBe(1001);
    expect(second > first).toBe(true);
    const carry = ulidFactory({
      randomBytes: (b) => {
        b.fill(0);
        b[15] = 31;
      },
      now: () => 5,
    });
    expect(carry().slice(10)).toBe('000000000000000Z');
    expect(carry().slice(10)).toBe('0000000000000010');
  });

  it('draws fresh randomness in a new millisecond', () => {
    let t = 10;
    const next = ulidFactory({ now: () => t });
    const a = next();
    t = 11;
    const b = next();
    expect(a.slice(10)).not.toBe(b.slice(10));
    expect(b > a).toBe(true);
  });
});
