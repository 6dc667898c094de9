import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import { EVENT_KINDS, I128_MAX, I128_MIN } from '../../src/model/event.ts';
import { columnBytes, readContainer, writeContainer } from '../../src/segment/container.ts';
import { crc32, crc32Hex } from '../../src/segment/crc32.ts';
import { writeDictColumn } from '../../src/segment/raw-columns.ts';
import type { RawColumns } from '../../src/segment/raw-format.ts';
import { encodeRawSegment } from '../../src/segment/raw.ts';
import {
  decodeRollupSegment,
  encodeRollupSegment,
  HOUR_MS,
  ROLLUP_COLUMN_NAMES,
  ROLLUP_QUANTITY_LIMIT,
  rollupColumnsToRows,
  rollupQuantity,
  SegmentCorruptError,
  type RollupColumnName,
  type RollupColumns,
  type RollupRow,
} from '../../src/segment/rollup.ts';
import { ROLLUP_COLUMN_IDS, ROLLUP_END_MAGIC, ROLLUP_MAGIC, ROLLUP_VERSION, rollupColumnId } from '../../src/segment/rollup-format.ts';
import { ByteWriter } from '../../src/segment/varint.ts';
import { realisticEvents } from './arbitraries.ts';
import { cutPoints, expectCorrupt, restamp } from './corruption-helpers.ts';

const buckets = (a: string) => bucketOf(a, 64);
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_HOUR_MS = Math.floor(MAX_SAFE / HOUR_MS) * HOUR_MS;

// Compile-time: the aggregator reads rollup columns through the raw column type.
const asRaw = (c: RollupColumns): RawColumns => c;

// ---------------------------------------------------------------- arbitraries

/** Small pools (so group keys collide and get merged) plus awkward strings. */
const odd = ['', 'é', '😀x', '\uFEFFbom', '"q"', 'back\\slash', 'nl\n\u0000', '__proto__', '10', '\u{10FFFF}'];
const str = (pool: string[]) =>
  fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...pool) }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }) });
const nonEmpty = (pool: string[]) => str(pool).filter((s) => s.length > 0);

const dimsArb: fc.Arbitrary<Record<string, string>> = fc.oneof(
  fc.constantFrom<Record<string, string>>(
    {},
    { region: 'us' },
    { a: '1', b: '2' },
    { b: '2', a: '1' },
    { '10': 'x', '2': 'y' },
    JSON.parse('{"__proto__":"p","z":""}'),
  ),
  // Keys in any order: the codec canonicalizes.
  fc.uniqueArray(fc.tuple(str(['k', 'a', '10', '']), str(['v', ''])), { selector: (t) => t[0], maxLength: 4 }).map((es) => Object.fromEntries(es)),
);

const hourArb = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(1_700_000_000_000 - (1_700_000_000_000 % HOUR_MS), 1_700_006_400_000 - (1_700_006_400_000 % HOUR_MS), 0) },
  { weight: 1, arbitrary: fc.integer({ min: -2_000_000_000, max: 2_000_000_000 }).map((h) => h * HOUR_MS + 0) },
  { weight: 1, arbitrary: fc.constantFrom(MAX_HOUR_MS, -MAX_HOUR_MS) },
);

/** Sums beyond 128 bits, both signs; bounded so that merging up to 60 rows stays below 2^256. */
const quantityArb = fc.oneof(
  fc.constantFrom(
    0n,
    1n,
    -1n,
    63n,
    -64n,
    I128_MAX,
    I128_MIN,
    1n << 127n,
    -(1n << 127n) - 1n,
    1n << 200n,
    -(1n << 200n),
    2n ** 53n,
    -(2n ** 53n),
    2n ** 53n - 1n,
    1n - 2n ** 53n,
  ),
  fc.bigInt({ min: -(1n << 200n), max: 1n << 200n }),
  fc.bigInt({ min: -1_000_000n, max: 1_000_000n }),
);

/** [first, last] relative to the hour, or anywhere in the safe range (offsets beyond 2^53). */
const spanArb = (hour: number) =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .tuple(fc.nat(HOUR_MS - 1), fc.nat(HOUR_MS - 1))
        .map(([a, b]) => [Math.min(hour + Math.min(a, b), MAX_SAFE), Math.min(hour + Math.max(a, b), MAX_SAFE)] as const),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: -MAX_SAFE, max: MAX_SAFE }), fc.integer({ min: -MAX_SAFE, max: MAX_SAFE }))
        .map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as const),
    },
    { weight: 1, arbitrary: fc.constant([-MAX_SAFE, MAX_SAFE] as const) },
  );

const rowArb: fc.Arbitrary<RollupRow> = hourArb.chain((hour_ms) =>
  fc
    .record({
      account_id: nonEmpty(['acct_1', 'acct_2', 'b', ...odd]),
      subscription_id: fc.option(nonEmpty(['sub_1', 'sub_2']), { nil: null }),
      product_id: nonEmpty(['llm', 'platform']),
      meter_id: nonEmpty(['tokens', 'requests']),
      model_id: fc.option(nonEmpty(['m1', 'm2']), { nil: null }),
      source: str(['api', 'batch']),
      unit: str(['token', 'unit']),
      kind: fc.constantFrom(...EVENT_KINDS),
      dimensions: dimsArb,
      hour_ms: fc.constant(hour_ms),
      quantity_sum: quantityArb,
      event_count: fc.oneof(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 2 ** 40 })),
      span: spanArb(hour_ms),
    })
    .map(({ span, ...r }) => ({ ...r, first_event_ms: span[0], last_event_ms: span[1] })),
);

// ---------------------------------------------------------------- reference model

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const cmpNullFirst = (a: string | null, b: string | null) => (a === b ? 0 : a === null ? -1 : b === null ? 1 : cmp(a, b));
const dimsKey = (d: Readonly<Record<string, string>>) =>
  JSON.stringify(
    Object.fromEntries(
      Object.keys(d)
        .sort()
        .map((k) => [k, d[k]!]),
    ),
  );
const groupKey = (r: RollupRow) =>
  JSON.stringify([r.account_id, r.subscription_id, r.product_id, r.meter_id, r.model_id, r.source, r.unit, r.kind, dimsKey(r.dimensions), r.hour_ms]);

/** The documented result: merged by group key, sorted in the documented order. */
function reference(rows: readonly RollupRow[]): RollupRow[] {
  const groups = new Map<string, RollupRow>();
  for (const r of rows) {
    const k = groupKey(r);
    const g = groups.get(k);
    if (g === undefined) groups.set(k, { ...r, dimensions: JSON.parse(dimsKey(r.dimensions)) });
    else {
      g.quantity_sum += r.quantity_sum;
      g.event_count += r.event_count;
      g.first_event_ms = Math.min(g.first_event_ms, r.first_event_ms);
      g.last_event_ms = Math.max(g.last_event_ms, r.last_event_ms);
    }
  }
  return [...groups.values()].sort(
    (x, y) =>
      cmp(x.account_id, y.account_id) ||
      cmp(x.product_id, y.product_id) ||
      cmp(x.meter_id, y.meter_id) ||
      cmpNullFirst(x.model_id, y.model_id) ||
      x.hour_ms - y.hour_ms ||
      cmpNullFirst(x.subscription_id, y.subscription_id) ||
      cmp(x.source, y.source) ||
      cmp(x.unit, y.unit) ||
      EVENT_KINDS.indexOf(x.kind) - EVENT_KINDS.indexOf(y.kind) ||
      cmp(dimsKey(x.dimensions), dimsKey(y.dimensions)),
  );
}

const roundTrip = (rows: readonly RollupRow[]) => rollupColumnsToRows(decodeRollupSegment(encodeRollupSegment(rows, buckets).bytes));

const base: RollupRow = {
  account_id: 'acct_1',
  subscription_id: null,
  product_id: 'llm',
  meter_id: 'tokens',
  model_id: null,
  source: 'api',
  unit: 'token',
  kind: 'Usage',
  dimensions: {},
  hour_ms: 1_699_999_200_000,
  quantity_sum: 5n,
  event_count: 1,
  first_event_ms: 1_699_999_200_010,
  last_event_ms: 1_699_999_200_010,
};
const row = (over: Partial<RollupRow>): RollupRow => ({ ...base, ...over });

// ---------------------------------------------------------------- round trip

describe('rollup segment round trip', () => {
  it('decodes to the merged input in the documented order (property)', () => {
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 60 }), (rows) => {
        expect(roundTrip(rows)).toEqual(reference(rows));
      }),
      { numRuns: 100 },
    );
  });

  it('gives the same bytes for any input order, and re-encoding its own rows is the identity (property)', () => {
    fc.assert(
      fc.property(
        fc.array(rowArb, { maxLength: 30 }).chain((rows) => fc.tuple(fc.constant(rows), fc.shuffledSubarray(rows, { minLength: rows.length }))),
        ([rows, shuffled]) => {
          const a = encodeRollupSegment(rows, buckets).bytes;
          expect(encodeRollupSegment(shuffled, buckets).bytes).toEqual(a);
          const again = rollupColumnsToRows(decodeRollupSegment(a));
          expect(encodeRollupSegment(again, buckets).bytes).toEqual(a);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('never holds two rows with the same group key, and account codes never decrease (property)', () => {
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 60 }), (rows) => {
        const cols = decodeRollupSegment(encodeRollupSegment(rows, buckets).bytes);
        const out = rollupColumnsToRows(cols);
        expect(new Set(out.map(groupKey)).size).toBe(out.length);
        const codes = cols.account_id!.codes;
        for (let i = 1; i < codes.length; i++) expect(codes[i]!).toBeGreaterThanOrEqual(codes[i - 1]!);
        const dict = cols.account_id!.dict;
        for (let i = 1; i < dict.length; i++) expect(dict[i - 1]! < dict[i]!).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('merges duplicate group keys: sums, counts, earliest first and latest last', () => {
    const h = base.hour_ms;
    const rows = [
      row({ quantity_sum: 10n, event_count: 2, first_event_ms: h + 50, last_event_ms: h + 60 }),
      row({ quantity_sum: -3n, event_count: 5, first_event_ms: h + 10, last_event_ms: h + 20, dimensions: {} }),
      row({ quantity_sum: 1n, event_count: 1, first_event_ms: h + 30, last_event_ms: h + 90 }),
      row({ quantity_sum: 7n, kind: 'Correction' }), // another group: kind differs
      row({ quantity_sum: 8n, dimensions: { b: '1', a: '2' } }),
      row({ quantity_sum: 9n, dimensions: { a: '2', b: '1' } }), // same map, other key order: merged
    ];
    const out = roundTrip(rows);
    // Usage before Correction; within Usage '{"a":…}' < '{}' (dimensionsKey order).
    expect(out).toEqual([
      row({ quantity_sum: 17n, event_count: 2, dimensions: { a: '2', b: '1' } }),
      row({ quantity_sum: 8n, event_count: 8, first_event_ms: h + 10, last_event_ms: h + 90 }),
      row({ quantity_sum: 7n, kind: 'Correction' }),
    ]);
    expect(Object.keys(out[0]!.dimensions)).toEqual(['a', 'b']);
    const { stats } = encodeRollupSegment(rows, buckets);
    expect(stats.rows).toBe(3);
    expect(stats.event_count).toBe(11);
    expect(stats.quantity_sum).toBe('32');
  });

  it('sorts by account, product, meter, model (null first), hour, then the other group fields', () => {
    const h = base.hour_ms;
    const rows = [
      row({ quantity_sum: 1n, account_id: 'b' }),
      row({ quantity_sum: 2n, model_id: 'm2' }),
      row({ quantity_sum: 3n, model_id: 'm1' }),
      row({ quantity_sum: 4n, hour_ms: h - HOUR_MS, first_event_ms: h - 1, last_event_ms: h - 1 }),
      row({ quantity_sum: 5n, meter_id: 'a' }),
      row({ quantity_sum: 6n, subscription_id: 's' }),
      row({ quantity_sum: 7n, source: 'a' }),
      row({ quantity_sum: 8n, kind: 'Retraction' }),
      row({ quantity_sum: 9n, dimensions: { x: '1' } }),
      row({ quantity_sum: 10n }),
      row({ quantity_sum: 11n, product_id: 'a' }),
    ];
    expect(roundTrip(rows).map((r) => r.quantity_sum)).toEqual([11n, 5n, 4n, 7n, 9n, 10n, 8n, 6n, 3n, 2n, 1n]); // '{"x":"1"}' < '{}'
  });

  it('stores quantity sums far beyond the 128-bit range, both signs, exactly', () => {
    const qs = [I128_MAX, I128_MAX, I128_MAX, I128_MAX]; // merged: ~2^129
    const merged = roundTrip(qs.map((quantity_sum) => row({ quantity_sum })));
    expect(merged).toHaveLength(1);
    expect(merged[0]!.quantity_sum).toBe(4n * I128_MAX);
    expect(merged[0]!.event_count).toBe(4);
    const edge = [
      ROLLUP_QUANTITY_LIMIT - 1n,
      -(ROLLUP_QUANTITY_LIMIT - 1n),
      I128_MIN * 1000n,
      (1n << 179n) + 12345n,
      -(1n << 128n),
      1n << 127n,
      BigInt(MAX_SAFE),
      -BigInt(MAX_SAFE),
      BigInt(MAX_SAFE) + 1n,
      -BigInt(MAX_SAFE) - 1n,
      0n,
    ];
    const rows = edge.map((quantity_sum, i) => row({ quantity_sum, account_id: `a${String(i).padStart(2, '0')}` }));
    const { bytes, stats } = encodeRollupSegment(rows, buckets);
    const cols = decodeRollupSegment(bytes);
    edge.forEach((q, i) => {
      expect(rollupQuantity(cols, i)).toBe(q);
      const small = q <= BigInt(MAX_SAFE) && q >= -BigInt(MAX_SAFE);
      expect(Number.isNaN(cols.quantity![i]!)).toBe(!small);
      expect(cols.bigQuantities!.has(i)).toBe(!small);
      if (small) expect(cols.quantity![i]).toBe(Number(q));
    });
    expect(stats.quantity_sum).toBe(edge.reduce((a, b) => a + b, 0n).toString());
  });

  it('keeps the extreme hours and timestamps (offsets beyond 2^53)', () => {
    const rows = [
      row({ hour_ms: MAX_HOUR_MS, first_event_ms: -MAX_SAFE, last_event_ms: MAX_SAFE }),
      row({ hour_ms: -MAX_HOUR_MS, first_event_ms: MAX_SAFE, last_event_ms: MAX_SAFE }),
      row({ hour_ms: 0, first_event_ms: -MAX_SAFE, last_event_ms: -MAX_SAFE }),
    ];
    expect(roundTrip(rows)).toEqual(reference(rows));
  });

  it('stores an empty segment', () => {
    const enc = encodeRollupSegment([], buckets);
    expect(rollupColumnsToRows(decodeRollupSegment(enc.bytes))).toEqual([]);
    expect(enc.stats).toEqual({
      rows: 0,
      min_hour_ms: 0,
      max_hour_ms: 0,
      buckets: [],
      min_account: '',
      max_account: '',
      quantity_sum: '0',
      event_count: 0,
      checksum: enc.stats.checksum,
      bytes: enc.bytes.length,
      products: [],
      meters: [],
      models: [],
    });
  });

  it('aggregates a realistic workload: totals equal the raw events', () => {
    const events = realisticEvents(5_000, 5);
    const groups = new Map<string, RollupRow>();
    for (const e of events) {
      const r: RollupRow = {
        account_id: e.account_id,
        subscription_id: e.subscription_id,
        product_id: e.product_id,
        meter_id: e.meter_id,
        model_id: e.model_id,
        source: e.source,
        unit: e.unit,
        kind: e.kind,
        dimensions: e.dimensions,
        hour_ms: Math.floor(e.timestamp_ms / HOUR_MS) * HOUR_MS,
        quantity_sum: e.quantity,
        event_count: 1,
        first_event_ms: e.timestamp_ms,
        last_event_ms: e.timestamp_ms,
      };
      groups.set(`${groupKey(r)}|${e.event_id}`, r); // one input row per event: the encoder must merge
    }
    const rows = [...groups.values()];
    const { bytes, stats } = encodeRollupSegment(rows, buckets);
    const raw = encodeRawSegment(events, buckets);
    expect(stats.quantity_sum).toBe(raw.stats.quantity_sum);
    expect(stats.event_count).toBe(events.length);
    expect(stats.rows).toBeLessThan(events.length);
    expect(stats.buckets).toEqual(raw.stats.buckets);
    expect(bytes.length).toBeLessThan(raw.bytes.length);
    expect(rollupColumnsToRows(decodeRollupSegment(bytes))).toEqual(reference(rows));
  });

  it('refuses input it cannot store exactly', () => {
    const bad: Partial<RollupRow>[] = [
      { kind: 'Bogus' as RollupRow['kind'] },
      { account_id: null as unknown as string },
      { product_id: null as unknown as string },
      { source: 42 as unknown as string },
      { account_id: 'a\uD800' },
      { dimensions: { k: '\uDC00x' }, subscription_id: '\uD83D' },
      { dimensions: { k: 1 as unknown as string } },
      { dimensions: null as unknown as Record<string, string> },
      { hour_ms: base.hour_ms + 1 },
      { hour_ms: 1.5 * HOUR_MS },
      { hour_ms: (MAX_HOUR_MS / HOUR_MS + 1) * HOUR_MS },
      { quantity_sum: 5 as unknown as bigint },
      { quantity_sum: ROLLUP_QUANTITY_LIMIT },
      { quantity_sum: -ROLLUP_QUANTITY_LIMIT },
      { event_count: 0 },
      { event_count: 1.5 },
      { event_count: 2 ** 53 },
      { first_event_ms: base.first_event_ms + 1, last_event_ms: base.first_event_ms },
      { first_event_ms: 2 ** 53 },
      { last_event_ms: NaN },
    ];
    for (const over of bad)
      expect(
        () => encodeRollupSegment([row(over)], buckets),
        JSON.stringify(over, (_, v) => (typeof v === 'bigint' ? `${v}n` : v)),
      ).toThrow();
    // Merging must not overflow either.
    const half = ROLLUP_QUANTITY_LIMIT / 2n;
    expect(() => encodeRollupSegment([row({ quantity_sum: half }), row({ quantity_sum: half })], buckets)).toThrow(RangeError);
    expect(encodeRollupSegment([row({ quantity_sum: half }), row({ quantity_sum: half - 1n })], buckets).stats.rows).toBe(1);
    expect(() => encodeRollupSegment([row({ event_count: MAX_SAFE }), row({ event_count: 1 })], buckets)).toThrow(RangeError);
    expect(() => encodeRollupSegment([row({ event_count: MAX_SAFE }), row({ event_count: 1, account_id: 'z' })], buckets)).toThrow(RangeError);
  });
});

// ---------------------------------------------------------------- stats

describe('rollup segment stats', () => {
  it('are exact (property)', () => {
    fc.assert(
      fc.property(fc.array(rowArb, { minLength: 1, maxLength: 40 }), (rows) => {
        const { stats, bytes } = encodeRollupSegment(rows, buckets);
        const merged = reference(rows);
        const distinct = (xs: (string | null)[]) => [...new Set(xs.filter((x): x is string => x !== null))].sort();
        const accounts = distinct(rows.map((r) => r.account_id));
        const hours = rows.map((r) => r.hour_ms);
        expect(stats).toEqual({
          rows: merged.length,
          min_hour_ms: Math.min(...hours),
          max_hour_ms: Math.max(...hours),
          buckets: [...new Set(accounts.map(buckets))].sort((a, b) => a - b),
          min_account: accounts[0],
          max_account: accounts[accounts.length - 1],
          quantity_sum: rows.reduce((s, r) => s + r.quantity_sum, 0n).toString(),
          event_count: rows.reduce((s, r) => s + r.event_count, 0),
          checksum: crc32Hex(crc32(bytes, 0, bytes.length - 8)),
          bytes: bytes.length,
          products: distinct(rows.map((r) => r.product_id)),
          meters: distinct(rows.map((r) => r.meter_id)),
          models: distinct(rows.map((r) => r.model_id)),
        });
      }),
      { numRuns: 100 },
    );
  });

  it('caps value sets above 64 distinct values with null, never truncating', () => {
    const make = (n: number) => Array.from({ length: n }, (_, i) => row({ product_id: `p${i}`, meter_id: `m${i % 3}`, model_id: i % 2 ? `x${i}` : null }));
    const at64 = encodeRollupSegment(make(64), buckets).stats;
    expect(at64.products).toHaveLength(64);
    expect(at64.models).toHaveLength(32);
    const at65 = encodeRollupSegment(make(65), buckets).stats;
    expect(at65.products).toBeNull();
    expect(at65.meters).toEqual(['m0', 'm1', 'm2']);
    expect(encodeRollupSegment(make(200), buckets).stats.models).toBeNull();
  });
});

// ---------------------------------------------------------------- partial decode

describe('rollup partial decode', () => {
  it('equals the full decode for the requested columns and decodes nothing else (property)', () => {
    fc.assert(
      fc.property(fc.array(rowArb, { maxLength: 30 }), fc.subarray([...ROLLUP_COLUMN_NAMES]), (rows, wanted) => {
        const { bytes } = encodeRollupSegment(rows, buckets);
        const full = decodeRollupSegment(bytes);
        const part = decodeRollupSegment(bytes, { columns: wanted });
        expect(part.rows).toBe(full.rows);
        for (const name of ROLLUP_COLUMN_NAMES) {
          if (wanted.includes(name)) expect(part[name]).toEqual(full[name]);
          else expect(part[name]).toBeUndefined();
        }
        if (wanted.includes('quantity')) expect(part.bigQuantities).toEqual(full.bigQuantities);
        else expect(part.bigQuantities).toBeUndefined();
      }),
      { numRuns: 60 },
    );
  });

  it('reads through the raw column type, refuses unknown columns and incomplete conversions', () => {
    const { bytes } = encodeRollupSegment([row({}), row({ account_id: 'b', quantity_sum: 1n << 140n })], buckets);
    const raw = asRaw(decodeRollupSegment(bytes, { columns: ['account_id', 'timestamp_ms', 'quantity', 'event_count'] }));
    expect(raw.account_id!.dict).toEqual(['acct_1', 'b']);
    expect([...raw.timestamp_ms!]).toEqual([base.hour_ms, base.hour_ms]);
    expect(raw.bigQuantities!.get(1)).toBe(1n << 140n);
    expect(() => decodeRollupSegment(bytes, { columns: ['event_id' as RollupColumnName] })).toThrow(TypeError);
    expect(() => rollupColumnsToRows(decodeRollupSegment(bytes, { columns: ['account_id'] }))).toThrow(/needs/);
    expect(() => rollupQuantity(decodeRollupSegment(bytes, { columns: ['account_id'] }), 0)).toThrow(TypeError);
  });
});

// ---------------------------------------------------------------- corruption

const decodeAll = (b: Uint8Array) => rollupColumnsToRows(decodeRollupSegment(b));

/** A well-checksummed segment with one column body replaced (a buggy or hostile writer). */
function withColumn(bytes: Uint8Array, name: RollupColumnName, body: (w: ByteWriter) => void, rows?: number): Uint8Array {
  const c = readContainer(bytes, ROLLUP_MAGIC, ROLLUP_END_MAGIC, ROLLUP_VERSION, ROLLUP_COLUMN_IDS);
  const columns = ROLLUP_COLUMN_IDS.map((id) => {
    if (id !== rollupColumnId(name)) return { id, raw: columnBytes(c, id).slice() };
    const w = new ByteWriter();
    body(w);
    return { id, raw: w.finish() };
  });
  return writeContainer(ROLLUP_MAGIC, ROLLUP_END_MAGIC, ROLLUP_VERSION, rows ?? c.rows, columns, 5).bytes;
}

const samples = [
  encodeRollupSegment(fc.sample(fc.array(rowArb, { minLength: 40, maxLength: 40 }), { seed: 7, numRuns: 1 })[0]!, buckets),
  encodeRollupSegment(
    realisticEvents(1000, 3).map((e) => ({
      account_id: e.account_id,
      subscription_id: e.subscription_id,
      product_id: e.product_id,
      meter_id: e.meter_id,
      model_id: e.model_id,
      source: e.source,
      unit: e.unit,
      kind: e.kind,
      dimensions: e.dimensions,
      hour_ms: Math.floor(e.timestamp_ms / HOUR_MS) * HOUR_MS,
      quantity_sum: e.quantity << 130n,
      event_count: 1,
      first_event_ms: e.timestamp_ms,
      last_event_ms: e.timestamp_ms,
    })),
    buckets,
  ),
];

describe('rollup segment corruption', () => {
  it('accepts the intact samples', () => {
    for (const s of samples) expect(decodeAll(s.bytes)).toHaveLength(s.stats.rows);
  });

  it('decodes v1 bytes written by the first encoder (format stability)', () => {
    // Never regenerate this: v1 segments are persisted forever and must decode unchanged.
    const hex =
      '555253470154000000030e00000707000107131501021a0d0d0003270b0b0004320e0e0005400a0a00064a0b0b0007550d0d00086206060009680916010a712626000b97010303000c9a010303000d9d010808000300010101000163626063e3494c4e2e894f0493490c0c0c8c00020105057375625f3100000001010003036c6c6d0000000001000606746f6b656e7300000000020102026d3100000001010003036170690000000001000505746f6b656e0000000000bcd2390201bbc01fdcd7800e1400021c021e7b22726567696f6e223a226575222c2274696572223a2270726f227d7b7d000101000a010300020ac0a90700f4b9b7037080124947535255';
    const bytes = Uint8Array.from(hex.match(/../g)!.map((x) => parseInt(x, 16)));
    const h = 1_699_999_200_000;
    const common = { product_id: 'llm', meter_id: 'tokens', source: 'api', unit: 'token' };
    expect(decodeAll(bytes)).toEqual([
      {
        ...common,
        account_id: 'acct_a',
        subscription_id: null,
        model_id: null,
        kind: 'Usage',
        dimensions: {},
        hour_ms: h,
        quantity_sum: 1000n,
        event_count: 10,
        first_event_ms: h,
        last_event_ms: h + 60_000,
      },
      {
        ...common,
        account_id: 'acct_a',
        subscription_id: null,
        model_id: null,
        kind: 'Correction',
        dimensions: {},
        hour_ms: h + HOUR_MS,
        quantity_sum: -42n,
        event_count: 1,
        first_event_ms: h + HOUR_MS + 1,
        last_event_ms: h + HOUR_MS + 1,
      },
      {
        ...common,
        account_id: 'acct_b',
        subscription_id: 'sub_1',
        model_id: 'm1',
        kind: 'Usage',
        dimensions: { region: 'eu', tier: 'pro' },
        hour_ms: h,
        quantity_sum: (1n << 130n) + 7n,
        event_count: 3,
        first_event_ms: h + 5,
        last_event_ms: h + HOUR_MS - 1,
      },
    ]);
    expect(crc32Hex(crc32(bytes, 0, bytes.length - 8))).toBe('49128070');
  });

  it('rejects every truncation', () => {
    for (const s of samples) for (const n of cutPoints(s.bytes.length)) expectCorrupt(() => decodeRollupSegment(s.bytes.slice(0, n)));
  });

  it('rejects any single flipped bit, whatever columns are asked for (property)', () => {
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.nat(7), (k, at, bit) => {
        const b = samples[k]!.bytes.slice();
        b[Math.floor(at * b.length)]! ^= 1 << bit;
        expectCorrupt(() => decodeAll(b));
        expectCorrupt(() => decodeRollupSegment(b, { columns: ['account_id'] }));
        expectCorrupt(() => decodeRollupSegment(b, { columns: [] }));
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a wrong magic, end magic or version, and raw segments', () => {
    const b = samples[0]!.bytes;
    const edit = (i: number, v: number) => {
      const c = b.slice();
      c[i] = v;
      return c;
    };
    expectCorrupt(() => decodeAll(edit(0, 0x58)));
    expectCorrupt(() => decodeAll(restamp(edit(0, 0x58))));
    expectCorrupt(() => decodeAll(edit(b.length - 1, 0x58)));
    for (const v of [0, 2, 255]) expect(() => decodeAll(restamp(edit(4, v)))).toThrow(/version/);
    expectCorrupt(() => decodeAll(edit(4, 2)));
    expectCorrupt(() => decodeRollupSegment(new Uint8Array(0)));
    expectCorrupt(() => decodeRollupSegment(new TextEncoder().encode('URSG not a segment at all GSRU')));
    const raw = encodeRawSegment(realisticEvents(10), buckets).bytes;
    expectCorrupt(() => decodeRollupSegment(raw));
  });

  it('throws nothing but SegmentCorruptError when the checksum is forged (property)', () => {
    fc.assert(
      fc.property(fc.nat(samples.length - 1), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 255 }), (k, at, x) => {
        const b = samples[k]!.bytes.slice();
        b[Math.floor(at * (b.length - 8))]! ^= x;
        restamp(b);
        try {
          decodeAll(b);
        } catch (err) {
          expect(err).toBeInstanceOf(SegmentCorruptError);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('refuses well-checksummed segments that break the format invariants', () => {
    const { bytes } = encodeRollupSegment([row({ account_id: 'a' }), row({ account_id: 'b', quantity_sum: 1n << 100n })], buckets);
    expect(
      decodeAll(
        withColumn(bytes, 'kind', (w) => {
          w.varUint(1);
          w.u8(0);
          w.varUint(2);
        }),
      ),
    ).toHaveLength(2); // the writer itself is sound
    // Account codes decreasing: a binary search over them would miss rows.
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'account_id', (w) => writeDictColumn(w, ['a', 'b'], false, Uint32Array.of(0, 1), Uint32Array.of(1, 0))),
        { columns: ['account_id'] },
      ),
    );
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'event_count', (w) => {
          w.varUint(1);
          w.varUint(0);
        }),
      ),
    );
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'event_count', (w) => {
          w.varUint(1);
          w.varUint(1);
          w.varUint(1);
        }),
      ),
    );
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'quantity', (w) => {
          w.zigzag(1);
          w.zigzagBig(ROLLUP_QUANTITY_LIMIT);
        }),
      ),
    );
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'quantity', (w) => {
          w.zigzag(1);
          w.bytes(Uint8Array.of(0x82, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00));
        }),
      ),
    );
    expect(() =>
      decodeRollupSegment(
        withColumn(bytes, 'last_event_ms', (w) => {
          w.zigzag(0);
          w.zigzag(-1);
        }),
      ),
    ).toThrow(SegmentCorruptError);
    expect(() =>
      decodeRollupSegment(
        withColumn(bytes, 'last_event_ms', (w) => {
          w.zigzag(0);
          w.zigzag(-1);
        }),
      ),
    ).toThrow(/last_event_ms before/);
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'first_event_ms', (w) => {
          w.zigzag(0);
          w.zigzagBig(1n << 60n);
        }),
      ),
    );
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'timestamp_ms', (w) => {
          w.u8(0);
          w.zigzag(MAX_SAFE);
          w.zigzag(0);
        }),
        { columns: ['timestamp_ms'] },
      ),
    );
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'kind', (w) => {
          w.varUint(1);
          w.u8(3);
          w.varUint(2);
        }),
      ),
    );
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'model_id', (w) => {
          w.varUint(1);
          w.u8(2);
        }),
      ),
    );
    expectCorrupt(() =>
      decodeRollupSegment(withColumn(bytes, 'account_id', (w) => writeDictColumn(w, ['a'], true, Uint32Array.of(0, 1), Uint32Array.of(0, 1)))),
    );
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(bytes, 'unit', (w) => w.u8(0)),
        { columns: ['unit'] },
      ),
    );
    // A row count the columns cannot hold.
    expectCorrupt(() =>
      decodeRollupSegment(
        withColumn(
          bytes,
          'kind',
          (w) => {
            w.varUint(1);
            w.u8(0);
            w.varUint(2);
          },
          1_000_000,
        ),
      ),
    );
    // Errors name the object and column.
    expect(() =>
      decodeRollupSegment(
        withColumn(bytes, 'event_count', (w) => {
          w.varUint(1);
          w.varUint(0);
        }),
      ),
    ).toThrow(/rollup segment/);
  });
});
