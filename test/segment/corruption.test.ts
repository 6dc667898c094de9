import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import { decodeRawSegment, decodeSegmentHashes, encodeRawSegment, rawColumnsToEvents, SegmentCorruptError } from '../../src/segment/raw.ts';
import { eventArb, realisticEvents, ulidEventArb } from './arbitraries.ts';
import { cutPoints, expectCorrupt, restamp } from './corruption-helpers.ts';

const buckets = (a: string) => bucketOf(a, 64);

/** Segments worth breaking: realistic (ULID ids, planes), arbitrary (string ids, big values). */
const samples = [
  encodeRawSegment(realisticEvents(300, 3), buckets),
  encodeRawSegment(fc.sample(fc.array(eventArb, { minLength: 30, maxLength: 30 }), { seed: 7, numRuns: 1 })[0]!, buckets),
  encodeRawSegment(fc.sample(fc.array(ulidEventArb, { minLength: 30, maxLength: 30 }), { seed: 9, numRuns: 1 })[0]!, buckets),
];

const decodeAll = (b: Uint8Array) => rawColumnsToEvents(decodeRawSegment(b));

describe('raw segment corruption', () => {
  it('accepts the intact samples', () => {
    for (const s of samples) expect(decodeAll(s.bytes).length).toBe(s.stats.rows);
  });

  it('rejects every truncation', () => {
    for (const s of samples) for (const n of cutPoints(s.bytes.length)) expectCorrupt(() => decodeRawSegment(s.bytes.slice(0, n)));
  });

  it('rejects any single flipped bit, whatever columns are asked for (property)', () => {
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.nat(7), (k, at, bit) => {
        const b = samples[k]!.bytes.slice();
        b[Math.floor(at * b.length)]! ^= 1 << bit;
        expectCorrupt(() => decodeAll(b));
        expectCorrupt(() => decodeRawSegment(b, { columns: ['account_id'] }));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects random byte overwrites (property)', () => {
    fc.assert(
      fc.property(
        fc.nat(samples.length - 1),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 8 }),
        (k, edits) => {
          const original = samples[k]!.bytes;
          const b = original.slice();
          for (const [at, x] of edits) b[Math.floor(at * b.length)]! ^= x;
          // Edits at the same position can cancel out (a ^ b ^ ... = 0): that is no corruption.
          fc.pre(b.some((v, i) => v !== original[i]));
          expectCorrupt(() => decodeAll(b));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('rejects a wrong magic, end magic or version', () => {
    const b = samples[0]!.bytes;
    const edit = (i: number, v: number) => {
      const c = b.slice();
      c[i] = v;
      return c;
    };
    expectCorrupt(() => decodeAll(edit(0, 0x58)));
    expectCorrupt(() => decodeAll(edit(b.length - 1, 0x58)));
    expectCorrupt(() => decodeAll(edit(4, 2)));
    // With a valid checksum the version check itself must refuse it (2 is the lean format, tested in lean-format.test.ts).
    for (const v of [0, 3, 255]) {
      const c = restamp(edit(4, v), 8);
      expectCorrupt(() => decodeAll(c));
      expect(() => decodeAll(c)).toThrow(/version/);
    }
    expectCorrupt(() => decodeRawSegment(new Uint8Array(0)));
    expectCorrupt(() => decodeRawSegment(new TextEncoder().encode('USEG not a segment at all GESU')));
  });

  it('throws nothing but SegmentCorruptError when the checksum is forged (property)', () => {
    // A forged CRC removes the first line of defence: structural checks must still hold.
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 255 }), (k, at, x) => {
        const b = samples[k]!.bytes.slice();
        b[Math.floor(at * (b.length - 8))]! ^= x;
        restamp(b, 8);
        try {
          decodeAll(b);
        } catch (err) {
          expect(err).toBeInstanceOf(SegmentCorruptError);
        }
      }),
      { numRuns: 400 },
    );
  });
});

describe('hashes sidecar corruption', () => {
  it('rejects truncations, flipped bits, bad magic and version', () => {
    for (const s of samples) {
      expect(decodeSegmentHashes(s.hashes).count).toBe(s.stats.rows);
      for (const n of cutPoints(s.hashes.length)) expectCorrupt(() => decodeSegmentHashes(s.hashes.slice(0, n)));
    }
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.nat(7), (k, at, bit) => {
        const b = samples[k]!.hashes.slice();
        b[Math.floor(at * b.length)]! ^= 1 << bit;
        expectCorrupt(() => decodeSegmentHashes(b));
      }),
      { numRuns: 200 },
    );
    const h = samples[0]!.hashes;
    const edit = (i: number, v: number) => {
      const c = h.slice();
      c[i] = v;
      return c;
    };
    expectCorrupt(() => decodeSegmentHashes(edit(0, 0)));
    // A version byte that is not the block's: an unknown version, or one whose row size does not fit.
    for (const v of [0, 1, 2, 4]) expect(() => decodeSegmentHashes(restamp(edit(4, v), 4))).toThrow(SegmentCorruptError);
    expect(() => decodeSegmentHashes(restamp(edit(4, 4), 4))).toThrow(/version/);
    expect(() => decodeSegmentHashes(restamp(edit(8, h[8]! + 1), 4))).toThrow(/length/);
    expectCorrupt(() => decodeSegmentHashes(new Uint8Array(3)));
  });
});
