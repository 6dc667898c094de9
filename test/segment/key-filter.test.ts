import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeKeyFilter, decodePages, encodeKeyFilter, KeyFilter, pageRange, pagesFor } from '../../src/segment/key-filter.ts';
import { encodeSegmentHashes, eventKey, HASH_WORDS } from '../../src/segment/hashes.ts';
import { encodeHashesV2 } from '../support/hashes-v2.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { SegmentCorruptError } from '../../src/segment/errors.ts';

/** Pseudo-random 96-bit keys from a seed (xorshift); filters built now cover their first 80 bits. */
function randomKeys(n: number, seed: number): Uint32Array {
  let x = seed | 1;
  const next = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  const k = new Uint32Array(n * 3);
  for (let i = 0; i < k.length; i++) k[i] = next();
  return k;
}

describe('KeyFilter (xor, 16-bit fingerprints)', () => {
  it('never answers a built key "not present" (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.integer(), (n, seed) => {
        const keys = randomKeys(n, seed);
        const f = KeyFilter.build(keys);
        for (let i = 0; i < n; i++) if (!f.mayContain(keys[i * 3]!, keys[i * 3 + 1]!, keys[i * 3 + 2]!)) return false;
        return true;
      }),
      { numRuns: 60 },
    );
  });

  it('false-positive rate is within its bound (~2^-16) and size ~2.46 bytes a key', () => {
    const n = 50_000;
    const f = KeyFilter.build(randomKeys(n, 12345));
    expect(f.bytes / n).toBeLessThan(2.5);
    const probes = 1 << 21;
    const other = randomKeys(probes, 999);
    let hits = 0;
    for (let i = 0; i < probes; i++) if (f.mayContain(other[i * 3]!, other[i * 3 + 1]!, other[i * 3 + 2]!)) hits++;
    // Expected 2^21 / 2^16 = 32; 3x is far beyond any plausible deviation (p < 1e-12).
    expect(hits).toBeLessThan(96);
  });

  it('is deterministic (persisted: the same keys give the same bytes)', () => {
    const keys = randomKeys(1000, 7);
    expect(KeyFilter.build(keys).fingerprints).toEqual(KeyFilter.build(keys).fingerprints);
  });
});

function events(n: number, seed = 1): UsageEvent[] {
  return Array.from({ length: n }, (_, i) => ({
    event_id: `evt-${seed}-${i}`,
    account_id: `acct-${i % 13}`,
    kind: 'Usage',
    correction_ref: null,
    subscription_id: null,
    product_id: 'chat',
    meter_id: 'tokens',
    model_id: null,
    unit: 'tokens',
    source: 'api',
    timestamp_ms: 1_767_225_600_000 + i,
    ingested_at_ms: 1_767_225_600_000 + i,
    quantity: BigInt(i),
    dimensions: {},
  }));
}

describe('key filter block', () => {
  /** Every row of a sorted hashes block (either version) is found through the filter and its page index. */
  const findsEveryRow = (hashes: Uint8Array, n: number) => {
    const filterBytes = encodeKeyFilter(hashes);
    const block = decodeKeyFilter(filterBytes);
    expect(block.rows).toBe(n);
    const v2 = hashes[4] === 2;
    expect(filterBytes[4]).toBe(v2 ? 1 : 2);
    expect(block.rowBytes).toBe(v2 ? 28 : 22);
    // Version 2 filters come before the hashes (their pages are read past the filter); version 1 after.
    expect(block.hashesAt).toBe(v2 ? 0 : filterBytes.length);
    const v = new DataView(hashes.buffer, hashes.byteOffset);
    for (let r = 0; r < n; r++) {
      const at = 16 + r * block.rowBytes;
      const k0 = v.getUint32(at, true);
      const k1 = v.getUint32(at + 4, true);
      const k2 = v2 ? v.getUint32(at + 8, true) : v.getUint16(at + 8, true);
      if (!block.filter.mayContain(k0, k1, k2)) return false;
      const { from, to } = pagesFor(block, k0);
      const range = pageRange(block, from, to);
      const offset = range.offset - block.hashesAt;
      const rows = decodePages(block, from, to, hashes.subarray(offset, offset + range.length));
      // Pages of both versions give 80-bit keys.
      if (!rows.some((x) => x.k0 === k0 && x.k1 === k1 && x.k2 === (k2 & 0xffff))) return false;
    }
    return true;
  };

  it('finds every row of the sorted hashes block through the filter and its page index (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1500 }), fc.integer({ min: 0, max: 1000 }), (n, seed) => findsEveryRow(encodeSegmentHashes(events(n, seed)), n)),
      { numRuns: 25 },
    );
  });

  it('a version 1 filter over a version 2 block (earlier releases) still finds every row (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1500 }), fc.integer({ min: 0, max: 1000 }), (n, seed) => findsEveryRow(encodeHashesV2(events(n, seed)), n)),
      { numRuns: 15 },
    );
  });

  it('a probe with the whole key words finds a version 1 (96-bit) and a version 2 (80-bit) filter alike', () => {
    const evs = events(700, 3);
    const v1 = decodeKeyFilter(encodeKeyFilter(encodeHashesV2(evs)));
    const v2 = decodeKeyFilter(encodeKeyFilter(encodeSegmentHashes(evs)));
    expect(v1.filter.key2Mask).toBe(0xffffffff);
    expect(v2.filter.key2Mask).toBe(0xffff);
    for (const e of evs) {
      const k = eventKey(e.account_id, e.event_id);
      expect(v1.filter.mayContain(k[0]!, k[1]!, k[2]!)).toBe(true);
      expect(v2.filter.mayContain(k[0]!, k[1]!, k[2]!)).toBe(true);
    }
  });

  it('a page of a version 3 block is 256 rows of 22 bytes, read right after the filter', () => {
    const evs = events(600, 5);
    const hashes = encodeSegmentHashes(evs);
    const filterBytes = encodeKeyFilter(hashes);
    const block = decodeKeyFilter(filterBytes);
    expect(pageRange(block, 1, 1)).toEqual({ offset: filterBytes.length + 16 + 256 * 22, length: 256 * 22 });
    expect(pageRange(block, 2, 2)).toEqual({ offset: filterBytes.length + 16 + 512 * 22, length: 88 * 22 });
  });

  it('refuses a corrupt block and a corrupt page', () => {
    for (const hashes of [encodeSegmentHashes(events(600)), encodeHashesV2(events(600))]) {
      const bytes = encodeKeyFilter(hashes);
      const bad = bytes.slice();
      bad[40]! ^= 1;
      expect(() => decodeKeyFilter(bad)).toThrow(SegmentCorruptError);
      const block = decodeKeyFilter(bytes);
      const r = pageRange(block, 1, 1);
      const page = hashes.slice(r.offset - block.hashesAt, r.offset - block.hashesAt + r.length);
      expect(decodePages(block, 1, 1, page)).toHaveLength(256);
      page[5]! ^= 1;
      expect(() => decodePages(block, 1, 1, page)).toThrow(SegmentCorruptError);
    }
  });

  it('uses the hash words ingest computes (HASH_WORDS layout unchanged)', () => {
    expect(HASH_WORDS).toBe(9);
  });
});
