/**
 * The column bodies raw format v2 (lean segments, see raw-format.ts) stores differently from v1:
 * timestamps offset from the segment minimum at group starts, unsigned quantities, dimensions
 * as one dictionary column per key. Every v2 body starts with a u8 mode; where the mode says
 * "as v1" the v1 body follows unchanged, so the encoder can always fall back to it. Decoders
 * consume a column's bytes exactly or throw SegmentCorruptError; they never guess.
 */
import { deflateImpl } from './deflate.ts';
import { SegmentCorruptError } from './errors.ts';
import { readCodes, readDimensions, writeCodes, writeDictColumn } from './raw-columns.ts';
import type { DictColumn, DimensionsColumn } from './raw-format.ts';
import { byteEntropy, ExactSum, RANDOM_BITS, readDeltaColumn, readQuantities, writeDeltaColumn, writeQuantities } from './raw-numbers.ts';
import { isWellFormed, readStringBlock, writeStringBlock } from './strings.ts';
import { type ByteReader, ByteWriter } from './varint.ts';

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(`raw segment: ${msg}`);
}

/** v2 timestamp_ms modes 0 and 1 are v1's delta column modes; 2 is grouped offsets. */
export const TS_GROUPED = 2;
/** v2 ingested_at_ms modes 0 and 1 are v1's delta column modes; 2 is a dictionary of stamps. */
export const STAMPS_DICT = 2;
/** Above this many distinct ingest stamps the dictionary mode is not tried. */
const MAX_STAMPS = 65536;
/** v2 code stream mode of product_id, meter_id and model_id (0 and 1 are v1's). */
export const CODES_GROUPED = 2;
/** v2 quantity modes: v1's zigzag stream, or unsigned varints (no value is negative). */
export const QUANTITY_ZIGZAG = 0;
export const QUANTITY_UNSIGNED = 1;
export const QUANTITY_BUCKETS = 2;
/** v2 dimensions modes: v1's combined dictionary, or one dictionary column per key. */
export const DIMS_COMBINED = 0;
export const DIMS_PER_KEY = 1;

/** Planes hold values below 2^48 (6 bytes). */
const MAX_PLANE_VALUE = 2 ** 48;
const TWO_32 = 4294967296;

export interface Candidate {
  readonly raw: Uint8Array;
  /** Bytes at the end known to be incompressible. */
  readonly tail: number;
}

/** The candidate body that deflates smallest at `level` (the first on ties). */
export function cheapest(candidates: readonly Candidate[], level: number): Candidate {
  let best = candidates[0]!;
  let bestCost = Infinity;
  for (const c of candidates) {
    const head = c.raw.subarray(0, c.raw.length - c.tail);
    const packed = level === 0 || head.length <= 16 ? head.length : Math.min(head.length, deflateImpl().deflateRaw(head, level).length);
    const cost = packed + c.tail;
    if (cost < bestCost) {
      best = c;
      bestCost = cost;
    }
  }
  return best;
}

// ---------------------------------------------------------------- grouped id columns

/**
 * A v2 dictionary column of product_id, meter_id or model_id: v1's body (dictionary, then a code
 * stream of mode 0 or 1), or the same dictionary with a code stream of mode 2 (grouped): u8 2,
 * then `rows` unsigned varints: the code itself where the row starts a group of the columns
 * before it in the sort order (`starts`, over account_id; account_id, product_id; ...), else
 * the code minus the previous row's (rows of a group are sorted by this column: never negative).
 * `codes` are by input row, `starts` by segment row.
 */
export function writeLeanDictColumn(
  values: readonly string[],
  hasNull: boolean,
  codes: Uint32Array,
  order: Uint32Array,
  starts: Uint8Array,
  level: number,
): Candidate {
  const n = order.length;
  const size = values.length + (hasNull ? 1 : 0);
  const v1 = new ByteWriter(n * 2 + 64);
  writeDictColumn(v1, values, hasNull, codes, order);
  const w = new ByteWriter(n * 2 + 64);
  w.varUint(size);
  w.u8(hasNull ? 1 : 0);
  writeStringBlock(w, values);
  w.u8(CODES_GROUPED);
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const c = codes[order[i]!]!;
    const v = starts[i] === 1 ? c : c - prev;
    if (v < 0) return { raw: v1.finish(), tail: 0 }; // not sorted within its group: not segment order
    w.varUint(v);
    prev = c;
  }
  return cheapest(
    [
      { raw: v1.finish(), tail: 0 },
      { raw: w.finish(), tail: 0 },
    ],
    level,
  );
}

/** Reads a v2 dictionary column of product_id, meter_id or model_id (see writeLeanDictColumn). */
export function readLeanDictColumn(r: ByteReader, rows: number, nullable: boolean, what: string, starts: () => Uint8Array): DictColumn<string | null> {
  const size = r.varUint();
  const hasNull = r.u8();
  if (hasNull > 1 || (hasNull === 1 && !nullable) || size < hasNull) throw corrupt(`${what} bad null flag`);
  const values = readStringBlock(r, size - hasNull);
  assertAscending(values, `${what} dictionary`);
  const dict: (string | null)[] = hasNull === 1 ? [null, ...values] : values;
  if (r.remaining() === 0 || r.buf[r.pos] !== CODES_GROUPED) return { dict, codes: readCodes(r, rows, dict.length) };
  r.u8();
  const s = starts();
  const codes = new Uint32Array(rows);
  let prev = 0;
  for (let i = 0; i < rows; i++) {
    const v = r.varUint();
    const c = s[i] === 1 ? v : prev + v;
    if (c >= dict.length) throw corrupt(`${what} code out of range`);
    codes[i] = c;
    prev = c;
  }
  return { dict, codes };
}

// ---------------------------------------------------------------- ingested_at_ms

/**
 * The v2 ingested_at_ms body: a v1 delta column (modes 0, 1), or (mode 2, dictionary) u8 2,
 * varint count k, the k distinct stamps ascending as zigzag varints (the first, then the
 * positive gaps), then a code stream (v1's, modes 0 and 1) of each row's stamp index. A segment
 * holds a few ingest batches whose rows the sort interleaves: their deltas are multi-byte and
 * many, their indexes one byte of log2(k) bits.
 */
export function writeLeanStamps(ing: Float64Array, level: number): Candidate {
  const n = ing.length;
  const w1 = new ByteWriter(n + 16);
  const tail = writeDeltaColumn(w1, ing);
  const v1: Candidate = { raw: w1.finish(), tail };
  const distinct = new Set<number>();
  for (let i = 0; i < n && distinct.size <= MAX_STAMPS; i++) distinct.add(ing[i]!);
  if (n === 0 || distinct.size > MAX_STAMPS) return v1;
  const stamps = [...distinct].sort((a, b) => a - b);
  const index = new Map(stamps.map((v, i) => [v, i]));
  const codes = new Uint32Array(n);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    codes[i] = index.get(ing[i]!)!;
    order[i] = i;
  }
  const w = new ByteWriter(n * 2 + stamps.length * 8 + 16);
  w.u8(STAMPS_DICT);
  w.varUint(stamps.length);
  let prev = 0;
  for (const v of stamps) {
    const d = v - prev;
    if (Number.isSafeInteger(d)) w.zigzag(d);
    else w.zigzagBig(BigInt(v) - BigInt(prev));
    prev = v;
  }
  writeCodes(w, codes, order, stamps.length);
  return cheapest([v1, { raw: w.finish(), tail: 0 }], level);
}

/** Reads a v2 ingested_at_ms body (see writeLeanStamps). */
export function readLeanStamps(r: ByteReader, rows: number): Float64Array {
  if (r.remaining() > 0 && r.buf[r.pos] !== STAMPS_DICT) return readDeltaColumn(r, rows, 'ingested_at_ms');
  r.u8();
  const k = r.varUint();
  if (k === 0 || k > rows) throw corrupt('ingested_at_ms: bad stamp count');
  const stamps = new Float64Array(k);
  let prev = 0;
  for (let i = 0; i < k; i++) {
    const d = r.zigzagOrNaN();
    if (Number.isNaN(d) || (i > 0 && d <= 0)) throw corrupt('ingested_at_ms: stamps not ascending safe integers');
    prev += d;
    if (!Number.isSafeInteger(prev)) throw corrupt('ingested_at_ms out of range');
    stamps[i] = prev;
  }
  const codes = readCodes(r, rows, k);
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) out[i] = stamps[codes[i]!]!;
  return out;
}

// ---------------------------------------------------------------- timestamp_ms

/**
 * Row i starts a group when i = 0 or its (account_id, product_id, meter_id, model_id) codes
 * differ from row i-1's (codes are ranks in strictly ascending dictionaries: equal codes are
 * equal values). Within a group, rows are sorted by timestamp.
 */
export function groupStarts(columns: readonly Uint32Array[], rows: number): Uint8Array {
  const out = new Uint8Array(rows);
  if (rows > 0) out[0] = 1;
  for (const c of columns) for (let i = 1; i < rows; i++) if (c[i] !== c[i - 1]) out[i] = 1;
  return out;
}

/**
 * The grouped timestamp body, or undefined when it does not apply (no rows, a value >= 2^48, or
 * rows not sorted by timestamp within a group): u8 mode 2, zigzag varint of the segment's minimum
 * timestamp, u8 width w (0..6), then w planes of `rows` bytes, most significant first, of the
 * unsigned value of each row: timestamp - minimum at a group start, else timestamp - the previous
 * row's. No sign bit: a v1 delta between groups is negative half of the time.
 */
export function writeGroupedTimestamps(ts: Float64Array, starts: Uint8Array): Candidate | undefined {
  const n = ts.length;
  if (n === 0) return undefined;
  let min = ts[0]!;
  for (let i = 1; i < n; i++) if (ts[i]! < min) min = ts[i]!;
  const v = new Float64Array(n);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const d = starts[i] === 1 ? ts[i]! - min : ts[i]! - ts[i - 1]!;
    if (d < 0) return undefined;
    if (d > max) max = d;
    v[i] = d;
  }
  if (!(max < MAX_PLANE_VALUE)) return undefined;
  let width = 0;
  while (max >= 2 ** (8 * width)) width++;
  const w = new ByteWriter(width * n + 16);
  w.u8(TS_GROUPED);
  w.zigzag(min);
  w.u8(width);
  w.ensure(width * n);
  const base = w.pos;
  const buf = w.buf;
  for (let k = 0; k < width; k++) {
    const at = base + (width - 1 - k) * n;
    for (let i = 0; i < n; i++) {
      const x = v[i]!;
      buf[at + i] = k < 4 ? (x >>> 0) >>> (8 * k) : Math.floor(x / TWO_32) >>> (8 * (k - 4));
    }
  }
  w.pos = base + width * n;
  let tail = 0;
  for (let k = 0; k < width; k++) {
    const at = base + (width - 1 - k) * n;
    if (byteEntropy(buf.subarray(at, at + n)) <= RANDOM_BITS) break;
    tail += n;
  }
  return { raw: w.finish(), tail };
}

/** The v2 timestamp body: a v1 delta column (modes 0, 1) or grouped offsets (mode 2). */
export function writeLeanTimestamps(ts: Float64Array, starts: Uint8Array, level: number): Candidate {
  const w = new ByteWriter(ts.length * 3 + 16);
  const tail = writeDeltaColumn(w, ts);
  const v1: Candidate = { raw: w.finish(), tail };
  const grouped = writeGroupedTimestamps(ts, starts);
  return grouped === undefined ? v1 : cheapest([v1, grouped], level);
}

/** Reads a v2 timestamp body; `starts` gives the group starts (decoding four id columns). */
export function readLeanTimestamps(r: ByteReader, rows: number, starts: () => Uint8Array): Float64Array {
  if (r.remaining() > 0 && r.buf[r.pos] !== TS_GROUPED) return readDeltaColumn(r, rows, 'timestamp_ms');
  r.u8();
  if (rows === 0) throw corrupt('timestamp_ms: grouped mode without rows');
  const min = r.zigzag();
  const width = r.u8();
  if (width > 6) throw corrupt(`timestamp_ms: bad plane width ${width}`);
  const b = r.bytes(width * rows);
  const s = starts();
  const out = new Float64Array(rows);
  let prev = 0;
  let bad = false;
  for (let i = 0; i < rows; i++) {
    let x = 0;
    for (let k = width - 1, at = i; k >= 0; k--, at += rows) {
      // Plane p holds byte width-1-p; accumulate most significant first.
      x = x * 256 + b[at]!;
    }
    prev = (s[i] === 1 ? min : prev) + x;
    if (prev > 9007199254740991 || prev < -9007199254740991) bad = true;
    out[i] = prev;
  }
  if (bad) throw corrupt('timestamp_ms out of range');
  return out;
}

// ---------------------------------------------------------------- quantity

/**
 * The v2 quantity body: u8 mode, then `rows` values in row order: zigzag varints as in v1 (mode
 * 0), or, when no value is negative, unsigned varints (mode 1; a value above 2^53 - 1 up to
 * 2^127 - 1 takes up to 19 bytes). Returns the exact sum.
 */
export function writeLeanQuantities(w: ByteWriter, q: readonly bigint[], qn: Float64Array, order: Uint32Array): bigint {
  const n = order.length;
  let negative = false;
  for (let i = 0; i < n && !negative; i++) {
    const row = order[i]!;
    const v = qn[row]!;
    negative = Number.isNaN(v) ? q[row]! < 0n : v < 0;
  }
  if (negative) {
    w.u8(QUANTITY_ZIGZAG);
    return writeQuantities(w, q, qn, order);
  }
  w.u8(QUANTITY_UNSIGNED);
  const sum = new ExactSum();
  for (let i = 0; i < n; i++) {
    const row = order[i]!;
    const v = qn[row]!;
    if (Number.isNaN(v)) {
      w.varBig(q[row]!);
      sum.addBig(q[row]!);
    } else {
      w.varUint(v);
      sum.add(v);
    }
  }
  return sum.total();
}

/** Bit length of a safe non-negative integer. */
function bitLength(v: number): number {
  return v < TWO_32 ? 32 - Math.clz32(v) : 32 + (32 - Math.clz32(Math.floor(v / TWO_32)));
}

/**
 * The bucket body (mode 2), when every value is a non-negative safe integer: u8 mode 2, then one
 * symbol byte per row: the value itself below 8, else 4 x b + the two bits below the leading one,
 * b the value's bit length (4..53); then the remaining b-3 low bits of each such value, in row
 * order, packed least significant bit first into bytes (the last byte's unused bits are zero).
 * The symbols deflate near their entropy; the low bits are close to random and are stored.
 */
export function writeBucketQuantities(qn: Float64Array, order: Uint32Array): Candidate | undefined {
  const n = order.length;
  let bits = 0;
  for (let i = 0; i < n; i++) {
    const v = qn[order[i]!]!;
    if (!(v >= 0)) return undefined; // negative, or NaN (beyond 2^52)
    if (v >= 8) bits += bitLength(v) - 3;
  }
  const out = new Uint8Array(1 + n + Math.ceil(bits / 8));
  out[0] = QUANTITY_BUCKETS;
  let at = 1 + n;
  let acc = 0;
  let held = 0;
  for (let i = 0; i < n; i++) {
    let v = qn[order[i]!]!;
    if (v < 8) {
      out[1 + i] = v;
      continue;
    }
    const b = bitLength(v);
    let k = b - 3;
    const scale = 2 ** k;
    out[1 + i] = 4 * b + (Math.floor(v / scale) & 3);
    v %= scale;
    while (k > 0) {
      const t = Math.min(k, 16);
      const part = v % (1 << t);
      v = (v - part) / (1 << t);
      k -= t;
      acc |= part << held;
      held += t;
      while (held >= 8) {
        out[at++] = acc & 0xff;
        acc >>>= 8;
        held -= 8;
      }
    }
  }
  if (held > 0) out[at++] = acc;
  return { raw: out, tail: at - 1 - n };
}

function readBucketQuantities(r: ByteReader, rows: number): Float64Array {
  const syms = r.bytes(rows);
  const b = r.buf;
  const end = r.end;
  let p = r.pos;
  const out = new Float64Array(rows);
  let acc = 0;
  let held = 0;
  for (let i = 0; i < rows; i++) {
    const s = syms[i]!;
    if (s < 8) {
      out[i] = s;
      continue;
    }
    const len = s >>> 2;
    if (len < 4 || len > 53) throw corrupt(`bad quantity symbol ${s}`);
    let k = len - 3;
    let v = 4 + (s & 3);
    let low = 0;
    let shift = 1;
    while (k > 0) {
      const t = Math.min(k, 16);
      while (held < t) {
        if (p >= end) throw corrupt('quantity bits run past their column');
        acc |= b[p++]! << held;
        held += 8;
      }
      low += (acc & ((1 << t) - 1)) * shift;
      acc >>>= t;
      held -= t;
      shift *= 1 << t;
      k -= t;
    }
    v = v * shift + low;
    if (v > MAX_SAFE) throw corrupt('quantity out of range');
    out[i] = v;
  }
  if (acc !== 0) throw corrupt('quantity bits: padding is not zero');
  r.pos = p;
  return out;
}

/** The v2 quantity body: buckets (mode 2) or unsigned/zigzag varints, the smaller; and the exact sum. */
export function writeLeanQuantityColumn(q: readonly bigint[], qn: Float64Array, order: Uint32Array, level: number): Candidate & { sum: bigint } {
  const w = new ByteWriter(order.length * 2 + 16);
  const sum = writeLeanQuantities(w, q, qn, order);
  const varints: Candidate = { raw: w.finish(), tail: 0 };
  const buckets = writeBucketQuantities(qn, order);
  return { ...(buckets === undefined ? varints : cheapest([varints, buckets], level)), sum };
}

const I128_MAX = (1n << 127n) - 1n;
const MAX_SAFE = 9007199254740991;

/** Reads a v2 quantity body (see writeLeanQuantities); same result shape as v1's reader. */
export function readLeanQuantities(r: ByteReader, rows: number): { quantity: Float64Array; big: Map<number, bigint> } {
  const mode = r.u8();
  if (mode === QUANTITY_ZIGZAG) return readQuantities(r, rows);
  if (mode === QUANTITY_BUCKETS) return { quantity: readBucketQuantities(r, rows), big: new Map() };
  if (mode !== QUANTITY_UNSIGNED) throw corrupt(`unknown quantity mode ${mode}`);
  const quantity = new Float64Array(rows);
  const big = new Map<number, bigint>();
  const b = r.buf;
  const end = r.end;
  let p = r.pos;
  for (let i = 0; i < rows; i++) {
    if (p >= end) throw corrupt('quantities run past their column');
    let x = b[p]!;
    if (x < 0x80) {
      p++;
      quantity[i] = x;
      continue;
    }
    // Up to 8 bytes (56 bits) as a Number; anything longer or above 2^53 - 1 through BigInt.
    const start = p;
    let v = 0;
    let mul = 1;
    do {
      if (p >= end) throw corrupt('quantities run past their column');
      x = b[p++]!;
      v += (x & 0x7f) * mul;
      mul *= 128;
    } while (x >= 0x80 && mul < 2 ** 56);
    if (x < 0x80 && v <= MAX_SAFE) {
      if (x === 0) throw corrupt('non-canonical quantity');
      quantity[i] = v;
      continue;
    }
    r.pos = start;
    const q = r.varBig(19);
    if (b[r.pos - 1] === 0) throw corrupt('non-canonical quantity');
    if (q > I128_MAX) throw corrupt('quantity out of range');
    if (q <= BigInt(MAX_SAFE)) throw corrupt('non-canonical quantity');
    quantity[i] = NaN;
    big.set(i, q);
    p = r.pos;
  }
  r.pos = p;
  return { quantity, big };
}

// ---------------------------------------------------------------- dimensions

/** The canonical dimensionsKey of sorted (key, value) pairs: as raw-rows.ts builds it. */
function canonicalOf(entries: [string, string][]): string {
  return JSON.stringify(Object.fromEntries(entries));
}

/**
 * The per-key dimensions body, or undefined when a key or value is not well-formed UTF-16 (the
 * v1 body stores those JSON-escaped): u8 mode 1, varint key count K, string block of the K keys
 * (strictly ascending), then per key: varint dictionary size s (absent included), string block of
 * the s-1 values (strictly ascending), a code stream: 0 the key is absent from the row's map, k
 * the (k-1)-th value.
 */
function writePerKeyDimensions(sortedKeys: readonly string[], codes: Uint32Array, order: Uint32Array): Uint8Array | undefined {
  const maps = sortedKeys.map((k) => Object.entries(JSON.parse(k) as Record<string, string>));
  const keySet = new Set<string>();
  for (const m of maps) for (const [k] of m) keySet.add(k);
  for (const k of keySet) if (!isWellFormed(k)) return undefined;
  for (const m of maps) for (const [, v] of m) if (!isWellFormed(v)) return undefined;
  const keys = [...keySet].sort();
  const n = order.length;
  const w = new ByteWriter(64 + n * keys.length);
  w.u8(DIMS_PER_KEY);
  w.varUint(keys.length);
  writeStringBlock(w, keys);
  for (const key of keys) {
    const valueIn = maps.map((m) => m.find(([k]) => k === key)?.[1]);
    const values = [...new Set(valueIn.filter((v) => v !== undefined))].sort();
    const rank = new Map(values.map((v, i) => [v, i + 1]));
    const entryCode = Uint32Array.from(valueIn, (v) => (v === undefined ? 0 : rank.get(v)!));
    const rowCodes = new Uint32Array(codes.length);
    for (let i = 0; i < codes.length; i++) rowCodes[i] = entryCode[codes[i]!]!;
    w.varUint(values.length + 1);
    writeStringBlock(w, values);
    writeCodes(w, rowCodes, order, values.length + 1);
  }
  return w.finish();
}

/** The v2 dimensions body: v1's combined dictionary (mode 0) or per key (mode 1), the smaller. */
export function writeLeanDimensions(sortedKeys: readonly string[], codes: Uint32Array, order: Uint32Array, level: number): Candidate {
  const w = new ByteWriter(order.length * 2 + 64);
  w.u8(DIMS_COMBINED);
  w.varUint(sortedKeys.length);
  writeStringBlock(w, sortedKeys);
  writeCodes(w, codes, order, sortedKeys.length);
  const combined: Candidate = { raw: w.finish(), tail: 0 };
  const perKey = writePerKeyDimensions(sortedKeys, codes, order);
  return perKey === undefined ? combined : cheapest([combined, { raw: perKey, tail: 0 }], level);
}

function assertAscending(values: readonly string[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    if (!(values[i - 1]! < values[i]!)) throw corrupt(`${what} is not strictly ascending`);
  }
}

/** Reads a v2 dimensions body into the same column v1's reader gives for the same rows. */
export function readLeanDimensions(r: ByteReader, rows: number): DimensionsColumn {
  const mode = r.u8();
  if (mode === DIMS_COMBINED) return readDimensions(r, rows);
  if (mode !== DIMS_PER_KEY) throw corrupt(`unknown dimensions mode ${mode}`);
  const count = r.varUint();
  const keys = readStringBlock(r, count);
  assertAscending(keys, 'dimension keys');
  const values: string[][] = [];
  const codes: Uint32Array[] = [];
  let span = 1;
  for (let k = 0; k < count; k++) {
    const size = r.varUint();
    if (size < 1) throw corrupt('dimension key without the absent code');
    const vs = readStringBlock(r, size - 1);
    assertAscending(vs, 'dimension values');
    values.push(vs);
    codes.push(readCodes(r, rows, size));
    span *= size;
  }
  // Each distinct combination of per-key codes is one map: a mixed-radix number when it fits.
  const comboOf = new Map<number | string, number>();
  const firstRow: number[] = [];
  const rowCombo = new Uint32Array(rows);
  for (let i = 0; i < rows; i++) {
    let id: number | string;
    if (span <= 2 ** 52) {
      let x = 0;
      for (let k = 0; k < count; k++) x = x * (values[k]!.length + 1) + codes[k]![i]!;
      id = x;
    } else {
      id = codes.map((c) => c[i]).join(',');
    }
    let c = comboOf.get(id);
    if (c === undefined) {
      c = firstRow.length;
      comboOf.set(id, c);
      firstRow.push(i);
    }
    rowCombo[i] = c;
  }
  const canon = firstRow.map((row) => {
    const entries: [string, string][] = [];
    for (let k = 0; k < count; k++) {
      const code = codes[k]![row]!;
      if (code > 0) entries.push([keys[k]!, values[k]![code - 1]!]);
    }
    return canonicalOf(entries);
  });
  const sorted = canon.map((key, i) => ({ key, i })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const rank = new Uint32Array(canon.length);
  sorted.forEach((s, at) => {
    rank[s.i] = at;
  });
  const out = new Uint32Array(rows);
  for (let i = 0; i < rows; i++) out[i] = rank[rowCombo[i]!]!;
  const dict = sorted.map((s) => Object.freeze(JSON.parse(s.key) as Record<string, string>));
  return { dict, keys: sorted.map((s) => s.key), codes: out };
}
