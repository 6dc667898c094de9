import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import { seededRandom } from '../../src/model/deps.ts';
import { I128_MAX, I128_MIN, type UsageEvent } from '../../src/model/event.ts';
import { columnBytes, readContainer } from '../../src/segment/container.ts';
import { crc32, crc32Hex } from '../../src/segment/crc32.ts';
import { IDS_STRINGS, IDS_ULID } from '../../src/segment/event-ids.ts';
import { RAW_COLUMN_IDS, RAW_END_MAGIC, RAW_MAGIC, RAW_VERSION, rawColumnId } from '../../src/segment/raw-format.ts';
import { DELTAS_PLANES, DELTAS_VARINT } from '../../src/segment/raw-numbers.ts';
import { decodeRawSegment, encodeRawSegment, rawColumnsToEvents, SegmentCorruptError } from '../../src/segment/raw.ts';
import { isWellFormed, readStringBlock, writeStringBlock } from '../../src/segment/strings.ts';
import { ByteReader, ByteWriter } from '../../src/segment/varint.ts';

const buckets = (a: string) => bucketOf(a, 64);

describe('varint writer/reader', () => {
  it('round-trips numbers, bigints, zigzag and strings (property)', () => {
    const item = fc.oneof(
      fc.record({
        t: fc.constant('u' as const),
        v: fc.oneof(
          fc.nat(),
          fc.constantFrom(0, 127, 128, 2 ** 31, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
          fc.bigInt({ min: 0n, max: 2n ** 53n - 1n }).map(Number),
        ),
      }),
      fc.record({
        t: fc.constant('z' as const),
        v: fc.oneof(
          fc.integer(),
          fc.constantFrom(0, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 52, -(2 ** 52), Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER),
          fc.bigInt({ min: -(2n ** 53n) + 1n, max: 2n ** 53n - 1n }).map(Number),
        ),
      }),
      fc.record({
        t: fc.constant('b' as const),
        v: fc.oneof(fc.bigInt({ min: I128_MIN, max: I128_MAX }), fc.constantFrom(I128_MIN, I128_MAX, 0n, -1n, 2n ** 64n)),
      }),
      fc.record({ t: fc.constant('s' as const), v: fc.string({ unit: 'binary', maxLength: 20 }) }),
    );
    fc.assert(
      fc.property(fc.array(item, { maxLength: 30 }), (items) => {
        const w = new ByteWriter(1);
        for (const it of items) {
          if (it.t === 'u') w.varUint(it.v);
          else if (it.t === 'z') w.zigzag(it.v);
          else if (it.t === 'b') w.zigzagBig(it.v);
          else w.string(it.v);
        }
        const r = new ByteReader(w.finish());
        for (const it of items) {
          if (it.t === 'u') expect(r.varUint()).toBe(it.v);
          else if (it.t === 'z') expect(r.zigzag()).toBe(it.v);
          else if (it.t === 'b') expect(r.zigzagBig()).toBe(it.v);
          else expect(r.string()).toBe(it.v);
        }
        r.expectEnd('test');
      }),
      { numRuns: 300 },
    );
  });

  it('uses canonical LEB128 bytes', () => {
    const bytes = (f: (w: ByteWriter) => void) => {
      const w = new ByteWriter();
      f(w);
      return Array.from(w.finish());
    };
    expect(bytes((w) => w.varUint(0))).toEqual([0]);
    expect(bytes((w) => w.varUint(300))).toEqual([0xac, 0x02]);
    expect(bytes((w) => w.zigzag(-1))).toEqual([1]);
    expect(bytes((w) => w.zigzag(1))).toEqual([2]);
    expect(bytes((w) => w.varBig(2n ** 32n))).toEqual(bytes((w) => w.varUint(2 ** 32)));
    expect(bytes((w) => w.zigzagBig(I128_MIN)).length).toBe(19);
  });

  it('refuses values it cannot write exactly', () => {
    const w = new ByteWriter();
    for (const v of [-1, 1.5, 2 ** 53, NaN, Infinity]) expect(() => w.varUint(v)).toThrow(RangeError);
    for (const v of [2 ** 53, 0.5, NaN]) expect(() => w.zigzag(v)).toThrow(RangeError);
    expect(() => w.varBig(-1n)).toThrow(RangeError);
  });

  it('throws SegmentCorruptError on truncated or oversized input', () => {
    const r = (bytes: number[]) => new ByteReader(Uint8Array.from(bytes));
    expect(() => r([0x80]).varUint()).toThrow(SegmentCorruptError);
    expect(() => r([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]).varUint()).toThrow(SegmentCorruptError);
    expect(() => r(new Array(19).fill(0xff)).varBig()).toThrow(SegmentCorruptError);
    expect(() => r([5, 0x61]).string()).toThrow(SegmentCorruptError);
    expect(() => r([2, 0xc3, 0x28]).string()).toThrow(SegmentCorruptError);
    expect(() => r([1, 2, 3]).u32le()).toThrow(SegmentCorruptError);
    expect(() => r([]).u8()).toThrow(SegmentCorruptError);
    const big = new ByteWriter();
    big.zigzagBig(2n ** 60n);
    const rd = new ByteReader(big.finish());
    expect(rd.zigzagOrNaN()).toBeNaN();
    expect(rd.pos).toBe(0);
    expect(rd.zigzagBig()).toBe(2n ** 60n);
  });
});

describe('crc32', () => {
  it('matches the IEEE check values', () => {
    const ascii = (s: string) => new TextEncoder().encode(s);
    expect(crc32Hex(crc32(ascii('123456789')))).toBe('cbf43926');
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32Hex(crc32(ascii('The quick brown fox jumps over the lazy dog')))).toBe('414fa339');
    const data = ascii('abcdefghijklmnopqrstuvwxyz0123456789');
    expect(crc32(data, 10, data.length, crc32(data, 0, 10))).toBe(crc32(data));
  });
});

describe('string blocks', () => {
  it('round-trip any well-formed strings, BOMs included (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.constant('\uFEFF'), fc.constant('')), { maxLength: 20 }), (xs) => {
        const w = new ByteWriter(1);
        writeStringBlock(w, xs);
        const r = new ByteReader(w.finish());
        expect(readStringBlock(r, xs.length)).toEqual(xs);
        r.expectEnd('block');
      }),
    );
  });

  it('detects lone surrogates', () => {
    expect(isWellFormed('a😀b')).toBe(true);
    for (const s of ['\uD800', 'a\uDC00', '\uD83Dx', 'x\uD83D']) expect(isWellFormed(s)).toBe(false);
  });
});

const base: UsageEvent = {
  event_id: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
  kind: 'Usage',
  correction_ref: null,
  account_id: 'a',
  subscription_id: null,
  product_id: 'p',
  meter_id: 'm',
  model_id: null,
  source: 's',
  unit: 'u',
  timestamp_ms: 1,
  quantity: 1n,
  dimensions: {},
  ingested_at_ms: 1,
};

function rawColumn(bytes: Uint8Array, name: Parameters<typeof rawColumnId>[0]): Uint8Array {
  return columnBytes(readContainer(bytes, RAW_MAGIC, RAW_END_MAGIC, RAW_VERSION, RAW_COLUMN_IDS), rawColumnId(name));
}

describe('column encodings', () => {
  const roundTrip = (events: UsageEvent[]) => rawColumnsToEvents(decodeRawSegment(encodeRawSegment(events, buckets).bytes));

  it('packs canonical ULIDs and keeps others verbatim', () => {
    const ulids = ['01ARZ3NDEKTSV4RRFFQ69G5FAV', '7ZZZZZZZZZZZZZZZZZZZZZZZZZ', '00000000000000000000000000'];
    const odd = ['01arz3ndektsv4rrffq69g5fav', '8ZZZZZZZZZZZZZZZZZZZZZZZZZ', 'not-a-ulid'];
    const events = [...ulids, ...ulids.map((u) => u.replace(/^0/, '1')), ...odd].map((event_id, i) => ({ ...base, event_id, timestamp_ms: 1 + i * 1000 }));
    const enc = encodeRawSegment(events, buckets);
    expect(rawColumn(enc.bytes, 'event_id')[0]).toBe(IDS_ULID);
    expect(roundTrip(events)).toEqual(events);
    const cols = decodeRawSegment(enc.bytes, { columns: ['event_id'] });
    expect(cols.event_id).toEqual(events.map((e) => e.event_id));
    expect(cols.timestamp_ms).toBeUndefined();
    const mostlyOdd = odd.map((event_id, i) => ({ ...base, event_id, timestamp_ms: i }));
    expect(rawColumn(encodeRawSegment(mostlyOdd, buckets).bytes, 'event_id')[0]).toBe(IDS_STRINGS);
  });

  it('chooses byte planes for varied deltas and varints otherwise, exact at the extremes', () => {
    const rnd = seededRandom(1);
    const varied = Array.from({ length: 2000 }, (_, i) => ({
      ...base,
      account_id: `a${String(i).padStart(4, '0')}`,
      timestamp_ms: 1 + Math.floor(rnd() * 1e9),
    }));
    const enc = encodeRawSegment(varied, buckets);
    expect(rawColumn(enc.bytes, 'timestamp_ms')[0]).toBe(DELTAS_PLANES);
    expect(rawColumn(enc.bytes, 'ingested_at_ms')[0]).toBe(DELTAS_VARINT);
    expect(roundTrip(varied)).toEqual(varied);
    const M = Number.MAX_SAFE_INTEGER;
    const extremes = [M, -M, 0, M, -M, 2 ** 47, -(2 ** 47), 1].map((t, i) => ({
      ...base,
      account_id: `a${i}`,
      timestamp_ms: t,
      ingested_at_ms: t === 0 ? 0 : -t,
    }));
    expect(roundTrip(extremes)).toEqual(extremes);
    const wide = Array.from({ length: 600 }, (_, i) => ({
      ...base,
      account_id: `a${String(i).padStart(4, '0')}`,
      timestamp_ms: (i % 2 ? 1 : -1) * (2 ** 45 - i * 1_000_003),
    }));
    expect(rawColumn(encodeRawSegment(wide, buckets).bytes, 'timestamp_ms')[0]).toBe(DELTAS_PLANES);
    expect(roundTrip(wide)).toEqual(wide);
  });

  it('keeps quantities exact across the i128 range, with NaN + bigQuantities beyond 2^53', () => {
    const qs = [I128_MIN, I128_MAX, 0n, -1n, 2n ** 53n, -(2n ** 53n), 2n ** 53n - 1n, -(2n ** 53n) + 1n, 2n ** 31n, -(2n ** 31n) - 1n, 2n ** 52n];
    const events = qs.map((quantity, i) => ({ ...base, account_id: `a${String(i).padStart(2, '0')}`, quantity }));
    const cols = decodeRawSegment(encodeRawSegment(events, buckets).bytes, { columns: ['quantity'] });
    qs.forEach((q, i) => {
      const exact = q <= 2n ** 53n - 1n && q >= -(2n ** 53n) + 1n;
      if (exact) expect(cols.quantity![i]).toBe(Number(q));
      else {
        expect(cols.quantity![i]).toBeNaN();
        expect(cols.bigQuantities!.get(i)).toBe(q);
      }
    });
    expect(cols.bigQuantities!.size).toBe(4);
  });

  it('keeps dictionary codes in value order (null first) so codes compare like values', () => {
    const names = ['b', 'a', 'c', 'a'];
    const events = names.map((m, i) => ({ ...base, account_id: `x${i}`, model_id: i === 3 ? null : m, meter_id: m }));
    const cols = decodeRawSegment(encodeRawSegment(events, buckets).bytes, { columns: ['model_id', 'meter_id'] });
    expect(cols.model_id!.dict).toEqual([null, 'a', 'b', 'c']);
    expect(cols.meter_id!.dict).toEqual(['a', 'b', 'c']);
  });
});
