/**
 * Raw format v2 (lean segments, raw-format.ts): every v2 segment decodes to exactly the columns
 * its v1 twin decodes to, so totals, hashes and exports cannot tell them apart; the encoder picks
 * the v2 column modes where they pay and falls back to v1 bodies where they do not; damaged v2
 * objects are refused with a typed corruption error.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { columnBytes, readContainer, writeContainer } from '../../src/segment/container.ts';
import { decodeRawSegment, rawColumnsToEvents } from '../../src/segment/raw-decode.ts';
import { encodeRawSegment } from '../../src/segment/raw-encode.ts';
import { RAW_COLUMN_IDS, RAW_END_MAGIC, RAW_MAGIC, RAW_VERSION, RAW_VERSION_LEAN, rawColumnId, type RawColumnName } from '../../src/segment/raw-format.ts';
import {
  CODES_GROUPED,
  STAMPS_DICT,
  DIMS_COMBINED,
  DIMS_PER_KEY,
  QUANTITY_BUCKETS,
  QUANTITY_UNSIGNED,
  QUANTITY_ZIGZAG,
  TS_GROUPED,
} from '../../src/segment/raw-lean.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { readStringBlock, writeStringBlock } from '../../src/segment/strings.ts';
import { ByteReader, ByteWriter } from '../../src/segment/varint.ts';
import { cutPoints, expectCorrupt, restamp } from './corruption-helpers.ts';
import { Workload } from '../bench/workload.ts';
import { eventArb, realisticEvents, ulidEventArb } from './arbitraries.ts';

const bucket = () => 0;

function both(events: readonly UsageEvent[]) {
  const v1 = encodeRawSegment(events, bucket);
  const v2 = encodeRawSegment(events, bucket, { lean: true });
  return { v1, v2 };
}

/** v2 decodes to the very same columns (dictionaries, codes, values) and stats as v1. */
function expectTwins(events: readonly UsageEvent[]): void {
  const { v1, v2 } = both(events);
  expect(v1.bytes[4]).toBe(RAW_VERSION);
  expect(v2.bytes[4]).toBe(RAW_VERSION_LEAN);
  expect(v2.hashes.length).toBe(0);
  expect({ ...v2.stats, checksum: '', bytes: 0 }).toEqual({ ...v1.stats, checksum: '', bytes: 0 });
  expect(decodeRawSegment(v2.bytes)).toEqual(decodeRawSegment(v1.bytes));
  expect(rawColumnsToEvents(decodeRawSegment(v2.bytes))).toEqual(rawColumnsToEvents(decodeRawSegment(v1.bytes)));
  // Partial decodes too (timestamps alone need the group columns internally).
  for (const cols of [
    ['timestamp_ms'],
    ['quantity'],
    ['dimensions'],
    ['event_id'],
    ['timestamp_ms', 'account_id'],
    ['model_id'],
    ['meter_id', 'product_id'],
  ] as RawColumnName[][]) {
    expect(decodeRawSegment(v2.bytes, { columns: cols })).toEqual(decodeRawSegment(v1.bytes, { columns: cols }));
  }
}

function body(bytes: Uint8Array, name: RawColumnName): Uint8Array {
  const version = bytes[4]!;
  return columnBytes(readContainer(bytes, RAW_MAGIC, RAW_END_MAGIC, version, RAW_COLUMN_IDS), rawColumnId(name));
}

/** The same segment with one column's raw body replaced (a valid container and checksum). */
function withBody(bytes: Uint8Array, name: RawColumnName, raw: Uint8Array): Uint8Array {
  const c = readContainer(bytes, RAW_MAGIC, RAW_END_MAGIC, bytes[4]!, RAW_COLUMN_IDS);
  const cols = RAW_COLUMN_IDS.map((id) => ({ id, raw: id === rawColumnId(name) ? raw : columnBytes(c, id) }));
  return writeContainer(RAW_MAGIC, RAW_END_MAGIC, bytes[4]!, c.rows, cols, 5).bytes;
}

/** bench:scale's workload (test/bench/workload.ts): one shard's week, one ingest stamp per 10,000 events. */
function benchEvents(rows: number): UsageEvent[] {
  const w = new Workload({ accounts: 10_000, seed: 5, startMs: Date.UTC(2026, 0, 1), spanMs: 7 * 86_400_000 });
  const out: UsageEvent[] = [];
  for (let batch = 0; out.length < rows; batch++) {
    for (const e of w.events(10_000)) {
      if (Number((e.account_id as string).slice(5)) % 16 !== 3 || out.length >= rows) continue;
      out.push({
        event_id: e.event_id as string,
        kind: 'Usage',
        correction_ref: null,
        account_id: e.account_id as string,
        subscription_id: null,
        product_id: e.product_id as string,
        meter_id: e.meter_id as string,
        model_id: e.model_id as string,
        source: e.source as string,
        unit: e.unit as string,
        timestamp_ms: e.timestamp_ms as number,
        quantity: BigInt(e.quantity as number),
        dimensions: e.dimensions as Record<string, string>,
        ingested_at_ms: Date.UTC(2026, 1, 1) + batch * 1000,
      });
    }
  }
  return out;
}

/** The code stream mode byte of a dictionary column (after its dictionary). */
function codeMode(bytes: Uint8Array, name: RawColumnName): number {
  const r = new ByteReader(body(bytes, name));
  const size = r.varUint();
  const hasNull = r.u8();
  readStringBlock(r, size - hasNull);
  return r.u8();
}

/** A dictionary column body with `codes` written as a grouped (mode 2) code stream. */
function groupedBody(values: string[], codes: number[]): Uint8Array {
  const w = new ByteWriter(64);
  w.varUint(values.length);
  w.u8(0);
  writeStringBlock(w, values);
  w.u8(CODES_GROUPED);
  for (const c of codes) w.varUint(c);
  return w.finish();
}

const positive = (events: UsageEvent[]) => events.map((e) => ({ ...e, quantity: e.quantity < 0n ? -(e.quantity + 1n) : e.quantity }));

describe('raw format v2 decodes exactly as v1', () => {
  it('random events: nulls, unicode, huge and negative quantities, corrections, non-ULID ids, many dimension keys', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(eventArb, ulidEventArb), { maxLength: 60 }), (events) => expectTwins(events)),
      { numRuns: 300 },
    );
  });

  it('random non-negative quantities (the unsigned and bucket modes) and shared group keys (grouped timestamps)', () => {
    const shared = fc.record({
      account_id: fc.constantFrom('a', 'b'),
      product_id: fc.constantFrom('p'),
      meter_id: fc.constantFrom('m', 'n'),
      model_id: fc.constantFrom(null, 'x'),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(ulidEventArb, shared), { maxLength: 80 }), (pairs) => expectTwins(positive(pairs.map(([e, s]) => ({ ...e, ...s }))))),
      { numRuns: 200 },
    );
  });

  it('edge segments: empty, one row, safe-integer extremes, 2^53 and beyond, many dimension keys, lone surrogates in dimension values', () => {
    expectTwins([]);
    const base = realisticEvents(40, 3);
    expectTwins(base.slice(0, 1));
    const quantities = [0n, 7n, 8n, 9n, 255n, 256n, (1n << 52n) - 1n, 1n << 52n, (1n << 53n) - 1n, 1n << 53n, (1n << 127n) - 1n, 1n << 64n];
    expectTwins(base.map((e, i) => ({ ...e, quantity: quantities[i % quantities.length]! })));
    expectTwins(base.map((e, i) => ({ ...e, quantity: i === 3 ? -1n : e.quantity })));
    expectTwins(base.map((e, i) => ({ ...e, timestamp_ms: i % 2 === 0 ? 1 : 2 ** 53 - 1 - i })));
    expectTwins(base.map((e, i) => ({ ...e, timestamp_ms: -(10 ** 12) + i * 7 })));
    const keys = Array.from({ length: 60 }, (_, k) => `k${k}`);
    expectTwins(base.map((e, i) => ({ ...e, dimensions: Object.fromEntries(keys.filter((_, k) => (i + k) % 3 === 0).map((k) => [k, `v${i % 5}`])) })));
    expectTwins(base.map((e, i) => ({ ...e, dimensions: { '10': 'a', '9': `b${i % 2}`, __proto__x: 'c', é: '😀' } })));
    const lone = base.map((e, i) => ({ ...e, dimensions: { region: i % 2 === 0 ? 'us\uD800' : 'eu' } }));
    expectTwins(lone);
    expect(body(encodeRawSegment(lone, bucket, { lean: true }).bytes, 'dimensions')[0]).toBe(DIMS_COMBINED);
  });

  it('realistic data uses the v2 modes and is smaller', () => {
    const events = benchEvents(6000);
    const { v1, v2 } = both(events);
    expectTwins(events);
    expect(body(v2.bytes, 'dimensions')[0]).toBe(DIMS_PER_KEY);
    expect(body(v2.bytes, 'timestamp_ms')[0]).toBe(TS_GROUPED);
    expect(codeMode(v2.bytes, 'model_id')).toBe(CODES_GROUPED);
    expect(body(v2.bytes, 'ingested_at_ms')[0]).toBe(STAMPS_DICT);
    expect([QUANTITY_UNSIGNED, QUANTITY_BUCKETS]).toContain(body(v2.bytes, 'quantity')[0]);
    expect(v2.bytes.length).toBeLessThan(v1.bytes.length);
    const negative = encodeRawSegment(
      events.map((e, i) => (i === 0 ? { ...e, quantity: -5n } : e)),
      bucket,
      { lean: true },
    );
    expect(body(negative.bytes, 'quantity')[0]).toBe(QUANTITY_ZIGZAG);
  });

  it('grouped timestamps are chosen where groups are small and far apart', () => {
    const events: UsageEvent[] = realisticEvents(3000, 4).map((e, i) => ({ ...e, timestamp_ms: 1_700_000_000_000 + ((i * 2_654_435_761) % 600_000_000) }));
    expectTwins(events);
    expect(body(encodeRawSegment(events, bucket, { lean: true }).bytes, 'timestamp_ms')[0]).toBe(TS_GROUPED);
  });
});

describe('damaged v2 segments are refused', () => {
  const good = encodeRawSegment(realisticEvents(500, 5), bucket, { lean: true }).bytes;

  it('a flipped byte (checksum), truncation, an unknown version', () => {
    for (const at of [5, 20, good.length >> 1, good.length - 9]) {
      const b = good.slice();
      b[at]! ^= 0x40;
      expectCorrupt(() => decodeRawSegment(b));
    }
    for (const n of cutPoints(good.length)) expectCorrupt(() => decodeRawSegment(good.subarray(0, n)));
    const v3 = good.slice();
    v3[4] = 3;
    expectCorrupt(() => decodeRawSegment(restamp(v3)));
  });

  it('bad column bodies under a valid checksum: unknown modes, short or long bodies, bad symbols, padding, ranges', () => {
    const bad = (name: RawColumnName, raw: Uint8Array) => expectCorrupt(() => rawColumnsToEvents(decodeRawSegment(withBody(good, name, raw))));
    for (const name of ['timestamp_ms', 'ingested_at_ms', 'quantity', 'dimensions', 'model_id'] as const) {
      const raw = body(good, name);
      bad(name, Uint8Array.of(9, ...raw.subarray(1)));
      bad(name, raw.subarray(0, raw.length - 1));
      bad(name, Uint8Array.of(...raw, 0));
      bad(name, new Uint8Array(0));
    }
    // Quantity buckets: a symbol that no value has, and non-zero padding bits.
    const events = realisticEvents(50, 6).map((e, i) => ({ ...e, quantity: BigInt(1000 + i * 37) }));
    const seg = encodeRawSegment(events, bucket, { lean: true }).bytes;
    const q = body(seg, 'quantity');
    expect(q[0]).toBe(QUANTITY_BUCKETS);
    {
      const sym = q.slice();
      sym[1] = 9; // bit length 2 is written directly
      expectCorrupt(() => decodeRawSegment(withBody(seg, 'quantity', sym)));
      const big = q.slice();
      big[1] = 4 * 60; // bit length 60: beyond safe integers
      expectCorrupt(() => decodeRawSegment(withBody(seg, 'quantity', big)));
      const pad = q.slice();
      pad[pad.length - 1]! |= 0x80;
      expectCorrupt(() => decodeRawSegment(withBody(seg, 'quantity', pad)));
    }
    // Unsigned quantities: an overlong (non-canonical) varint and a value past 2^127 - 1.
    bad('quantity', Uint8Array.of(QUANTITY_UNSIGNED, ...Array.from({ length: 500 }, () => [0x81, 0x00]).flat()));
    bad('quantity', Uint8Array.of(QUANTITY_UNSIGNED, ...new Array(18).fill(0xff), 0x7f, ...new Array(499).fill(1)));
    // Grouped timestamps beyond safe integers, and a plane width over 6.
    bad('timestamp_ms', Uint8Array.of(TS_GROUPED, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 1, ...new Array(500).fill(255)));
    bad('timestamp_ms', Uint8Array.of(TS_GROUPED, 0, 7, ...new Array(3500).fill(0)));
    // Per-key dimensions: keys out of order, a code past its dictionary.
    const dims = encodeRawSegment(
      realisticEvents(20, 7).map((e, i) => ({ ...e, dimensions: { a: `x${i % 2}` } })),
      bucket,
      { lean: true },
    ).bytes;
    const d = body(dims, 'dimensions');
    expect(d[0]).toBe(DIMS_PER_KEY);
    {
      const oob = d.slice();
      oob[oob.length - 1] = 7;
      expectCorrupt(() => decodeRawSegment(withBody(dims, 'dimensions', oob)));
    }
    bad('dimensions', Uint8Array.of(DIMS_PER_KEY, 2, 1, 1, 2, 0x62, 0x61));
    // Stamp dictionaries: none, more than rows, not ascending, a code past them.
    bad('ingested_at_ms', Uint8Array.of(STAMPS_DICT, 0, 0, ...new Array(500).fill(0)));
    bad('ingested_at_ms', Uint8Array.of(STAMPS_DICT, 0x80, 0x10, ...new Array(9000).fill(2)));
    bad('ingested_at_ms', Uint8Array.of(STAMPS_DICT, 2, 2, 0, 0, ...new Array(500).fill(0)));
    bad('ingested_at_ms', Uint8Array.of(STAMPS_DICT, 2, 2, 2, 0, ...new Array(499).fill(0), 2));
    expect(
      decodeRawSegment(withBody(good, 'ingested_at_ms', Uint8Array.of(STAMPS_DICT, 2, 2, 2, 0, ...new Array(500).fill(1))), { columns: ['ingested_at_ms'] })
        .ingested_at_ms,
    ).toEqual(new Float64Array(500).fill(2));
    // Grouped code streams: only product_id, meter_id and model_id may have one; codes in range.
    const rows = decodeRawSegment(good, { columns: [] }).rows;
    const accounts = decodeRawSegment(good, { columns: ['account_id'] }).account_id!;
    bad('account_id', groupedBody(accounts.dict as string[], Array.from(accounts.codes)));
    const models = decodeRawSegment(good, { columns: ['model_id'] }).model_id!;
    const values = models.dict.filter((v) => v !== null) as string[];
    bad('model_id', groupedBody(values, new Array(rows).fill(values.length)));
    bad('model_id', groupedBody(values, new Array(rows - 1).fill(0)));
    // A valid grouped body decodes (and a legal but non-canonical one still decodes the codes it says).
    expect(
      decodeRawSegment(withBody(good, 'model_id', groupedBody(values, new Array(rows).fill(0))), { columns: ['model_id'] }).model_id!.codes.every(
        (c) => c === 0,
      ),
    ).toBe(true);
  });
});
