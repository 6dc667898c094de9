import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { decodeRawSegment, encodeRawSegment, rawColumnsToEvents, rawQuantity, SET_CAP, type RawColumns } from '../../src/segment/raw.ts';
import { eventArb, realisticEvents, segmentOrder, ulidEventArb } from './arbitraries.ts';

const buckets = (a: string) => bucketOf(a, 64);

function roundTrip(events: readonly UsageEvent[]): UsageEvent[] {
  return rawColumnsToEvents(decodeRawSegment(encodeRawSegment(events, buckets).bytes));
}

const base: UsageEvent = {
  event_id: 'e1',
  kind: 'Usage',
  correction_ref: null,
  account_id: 'acct_1',
  subscription_id: null,
  product_id: 'llm',
  meter_id: 'tokens',
  model_id: null,
  source: 'api',
  unit: 'token',
  timestamp_ms: 1_700_000_000_000,
  quantity: 5n,
  dimensions: {},
  ingested_at_ms: 1_700_000_000_100,
};

describe('raw segment round trip', () => {
  it('decodes to the input events in the documented order (property)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), (events) => {
        expect(roundTrip(events)).toEqual(segmentOrder(events));
      }),
      { numRuns: 200 },
    );
  });

  it('decodes mostly-ULID event ids (packed, with verbatim exceptions) exactly (property)', () => {
    fc.assert(
      fc.property(fc.array(ulidEventArb, { maxLength: 40 }), (events) => {
        expect(roundTrip(events)).toEqual(segmentOrder(events));
      }),
      { numRuns: 150 },
    );
  });

  it('stores an empty segment', () => {
    const enc = encodeRawSegment([], buckets);
    expect(rawColumnsToEvents(decodeRawSegment(enc.bytes))).toEqual([]);
    expect(enc.stats).toMatchObject({ rows: 0, quantity_sum: '0', buckets: [], products: [], models: [] });
  });

  it('sorts by account, product, meter, model (null first), timestamp, event id', () => {
    const ev = (over: Partial<UsageEvent>): UsageEvent => ({ ...base, ...over });
    const events = [
      ev({ event_id: 'z', account_id: 'b' }),
      ev({ event_id: 'y', model_id: 'm2' }),
      ev({ event_id: 'x', model_id: null }),
      ev({ event_id: 'w', model_id: 'm1' }),
      ev({ event_id: 'b', timestamp_ms: 5 }),
      ev({ event_id: 'a', timestamp_ms: 5 }),
      ev({ event_id: 'v', meter_id: 'a' }),
    ];
    expect(roundTrip(events).map((e) => e.event_id)).toEqual(['v', 'a', 'b', 'x', 'w', 'y', 'z']);
  });

  it('keeps leading U+FEFF, astral characters and empty strings exactly', () => {
    const e = { ...base, event_id: '\uFEFF😀𝄞', source: '', unit: '\u{10FFFF}', dimensions: { '': '', '\uFEFF': '😀' } };
    expect(roundTrip([e])).toEqual([e]);
  });

  it('canonicalizes dimension key order', () => {
    const e = { ...base, dimensions: { b: '1', a: '2' } };
    const [got] = roundTrip([e]);
    expect(Object.keys(got!.dimensions)).toEqual(['a', 'b']);
    expect(got!.dimensions).toEqual({ a: '2', b: '1' });
  });

  it('refuses input it cannot store exactly', () => {
    const bad: Partial<UsageEvent>[] = [
      { event_id: 'a\uD800' },
      { account_id: '\uDC00' },
      { timestamp_ms: 1.5 },
      { ingested_at_ms: 2 ** 53 },
      { quantity: 1n << 127n },
      { quantity: -(1n << 127n) - 1n },
      { kind: 'Bogus' as UsageEvent['kind'] },
      { correction_ref: { original_event_id: 'x', reason: '\uD83D' } },
    ];
    for (const over of bad) expect(() => encodeRawSegment([{ ...base, ...over }], buckets)).toThrow();
  });
});

describe('raw segment stats', () => {
  it('are exact (property)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 40 }), (events) => {
        const { stats, bytes } = encodeRawSegment(events, buckets);
        const sortedStrings = (xs: (string | null)[]) => [...new Set(xs.filter((x): x is string => x !== null))].sort();
        const capped = (xs: string[]) => (xs.length > SET_CAP ? null : xs);
        expect(stats.rows).toBe(events.length);
        expect(stats.bytes).toBe(bytes.length);
        expect(stats.quantity_sum).toBe(events.reduce((s, e) => s + e.quantity, 0n).toString());
        expect(stats.min_ts).toBe(Math.min(...events.map((e) => e.timestamp_ms)));
        expect(stats.max_ts).toBe(Math.max(...events.map((e) => e.timestamp_ms)));
        expect(stats.min_ingested).toBe(Math.min(...events.map((e) => e.ingested_at_ms)));
        expect(stats.max_ingested).toBe(Math.max(...events.map((e) => e.ingested_at_ms)));
        const accounts = sortedStrings(events.map((e) => e.account_id));
        expect(stats.min_account).toBe(accounts[0]);
        expect(stats.max_account).toBe(accounts[accounts.length - 1]);
        expect(stats.buckets).toEqual([...new Set(accounts.map(buckets))].sort((a, b) => a - b));
        expect(stats.products).toEqual(capped(sortedStrings(events.map((e) => e.product_id))));
        expect(stats.meters).toEqual(capped(sortedStrings(events.map((e) => e.meter_id))));
        expect(stats.models).toEqual(capped(sortedStrings(events.map((e) => e.model_id))));
        expect(stats.checksum).toMatch(/^[0-9a-f]{8}$/);
      }),
      { numRuns: 100 },
    );
  });

  it('sums quantities beyond 2^53 and 2^127 exactly', () => {
    const qs = [1n << 126n, 1n << 126n, -(1n << 127n), 2n ** 53n, 2n ** 53n, 3n, -(2n ** 52n) - 7n];
    const events = qs.map((quantity, i) => ({ ...base, event_id: `e${i}`, quantity }));
    expect(encodeRawSegment(events, buckets).stats.quantity_sum).toBe(qs.reduce((a, b) => a + b, 0n).toString());
    const many = Array.from({ length: 5000 }, (_, i) => ({ ...base, event_id: `e${i}`, quantity: 2n ** 52n - 1n }));
    expect(encodeRawSegment(many, buckets).stats.quantity_sum).toBe((5000n * (2n ** 52n - 1n)).toString());
  });

  it('caps value sets above 64 distinct values with null, never truncating', () => {
    const make = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ ...base, event_id: `e${i}`, product_id: `p${i}`, meter_id: `m${i % 3}`, model_id: i % 2 ? `x${i}` : null }));
    const at64 = encodeRawSegment(make(64), buckets).stats;
    expect(at64.products).toHaveLength(64);
    expect(at64.models).toHaveLength(32);
    expect(at64.meters).toEqual(['m0', 'm1', 'm2']);
    const at65 = encodeRawSegment(make(65), buckets).stats;
    expect(at65.products).toBeNull();
    expect(at65.models).toHaveLength(32);
    const models = encodeRawSegment(make(200), buckets).stats;
    expect(models.models).toBeNull();
    expect(models.meters).toHaveLength(3);
  });
});

describe('partial decode', () => {
  const sameColumns = (a: RawColumns, b: RawColumns) => {
    expect(a.rows).toBe(b.rows);
    expect(a.account_id).toEqual(b.account_id);
    expect(a.quantity).toEqual(b.quantity);
    expect(a.bigQuantities).toEqual(b.bigQuantities);
  };

  it('gives the same account_id and quantity as a full decode, and nothing else (property)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 30 }), (events) => {
        const { bytes } = encodeRawSegment(events, buckets);
        const part = decodeRawSegment(bytes, { columns: ['account_id', 'quantity'] });
        const full = decodeRawSegment(bytes);
        sameColumns(part, full);
        for (const k of ['event_id', 'kind', 'timestamp_ms', 'dimensions', 'model_id', 'correction_ref'] as const) {
          expect(part[k]).toBeUndefined();
        }
        const sorted = segmentOrder(events);
        for (let i = 0; i < sorted.length; i++) {
          expect(rawQuantity(part, i)).toBe(sorted[i]!.quantity);
          expect(part.account_id!.dict[part.account_id!.codes[i]!]).toBe(sorted[i]!.account_id);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('works on a realistic segment too', () => {
    const { bytes } = encodeRawSegment(realisticEvents(5000), buckets);
    sameColumns(decodeRawSegment(bytes, { columns: ['account_id', 'quantity'] }), decodeRawSegment(bytes));
    expect(() => rawColumnsToEvents(decodeRawSegment(bytes, { columns: ['account_id'] }))).toThrow(/needs/);
  });
});
