import { describe, expect, it } from 'vitest';
import { monthOf } from '../../src/model/periods.ts';

/** The month of a timestamp computed the plain way, one Date per call. */
function plainMonthOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear().toString().padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

describe('monthOf', () => {
  it('names the UTC month of every timestamp, on both sides of each month boundary, in any call order', () => {
    const stamps: number[] = [];
    for (let y = 1968; y <= 2101; y += 7) {
      for (let m = 0; m < 12; m++) {
        const start = Date.UTC(y, m, 1);
        stamps.push(start - 1, start, start + 1, start + 86_400_000 * 15);
      }
    }
    // Years 0-99 (Date.UTC would map them to 1900-1999) and the ends of the Date range.
    stamps.push(Date.UTC(2000, 0, 1) - 2000 * 365.25 * 86_400_000, -62_135_596_800_000, -62_135_596_800_001, 8.64e15, -8.64e15, 0, -1);
    let seed = 7;
    const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2_000; i++) stamps.push(Math.floor((random() - 0.3) * 6e12));
    // Sorted (consecutive calls share months), then shuffled (they do not).
    const sorted = [...stamps].sort((a, b) => a - b);
    for (const ms of [...sorted, ...stamps]) expect(monthOf(ms), String(ms)).toBe(plainMonthOf(ms));
  });
});
