/**
 * Encoders and decoders of the individual raw-segment column bodies (see raw-format.ts).
 * Decoders consume a column's bytes exactly or throw SegmentCorruptError; they never guess.
 */
import type { CorrectionRef } from '../model/event.ts';
import { SegmentCorruptError } from './errors.ts';
import type { DictColumn, DimensionsColumn } from './raw-format.ts';
import { readStringBlock, writeStringBlock } from './strings.ts';
import { type ByteReader, ByteWriter } from './varint.ts';

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(`raw segment: ${msg}`);
}

// ---------------------------------------------------------------- code streams

/** Code stream modes: the codes themselves, or zigzag deltas from the previous row's code. */
export const CODES_PLAIN = 0;
export const CODES_DELTA = 1;

/** Order-0 entropy (bits) of a histogram over `n` symbols: a cheap proxy for deflated size. */
function entropyBits(hist: Uint32Array, n: number): number {
  let bits = n > 0 ? n * Math.log2(n) : 0;
  for (let i = 0; i < hist.length; i++) {
    const c = hist[i]!;
    if (c > 1) bits -= c * Math.log2(c);
  }
  return bits;
}

/**
 * Writes u8 mode + one varint per row of `codes[order[i]]` (each < dictSize < 2^31): deltas when
 * they look cheaper (a sorted or correlated column), plain codes otherwise.
 */
export function writeCodes(w: ByteWriter, codes: Uint32Array, order: Uint32Array, dictSize: number): void {
  const n = order.length;
  if (dictSize >= 0x80000000) throw new RangeError('dictionary too large');
  // Deflate makes runs nearly free, so compare the two streams only where the code changes.
  const plain = new Uint32Array(dictSize);
  const delta = new Uint32Array(dictSize * 2);
  let prev = -1;
  let changes = 0;
  for (let i = 0; i < n; i++) {
    const c = codes[order[i]!]!;
    if (c === prev) continue;
    plain[c]!++;
    const d = prev < 0 ? c : c - prev;
    delta[d >= 0 ? d * 2 : -d * 2 - 1]!++;
    prev = c;
    changes++;
  }
  const useDelta = entropyBits(delta, changes) < entropyBits(plain, changes);
  w.u8(useDelta ? CODES_DELTA : CODES_PLAIN);
  w.ensure(n * 5);
  const buf = w.buf;
  let p = w.pos;
  prev = 0;
  for (let i = 0; i < n; i++) {
    const c = codes[order[i]!]!;
    let v = c;
    if (useDelta) {
      const d = c - prev;
      v = d >= 0 ? d * 2 : -d * 2 - 1;
      prev = c;
    }
    while (v >= 0x80) {
      buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[p++] = v;
  }
  w.pos = p;
}

/** Reads a code stream of `rows` codes, each < `limit`. */
export function readCodes(r: ByteReader, rows: number, limit: number): Uint32Array {
  const mode = r.u8();
  if (mode !== CODES_PLAIN && mode !== CODES_DELTA) throw corrupt(`unknown code stream mode ${mode}`);
  const codes = new Uint32Array(rows);
  const b = r.buf;
  let p = r.pos;
  let max = 0;
  let min = 0;
  let bad = false;
  let prev = 0;
  for (let i = 0; i < rows; i++) {
    let x = b[p++]!;
    if (x >= 0x80) {
      let v = x & 0x7f;
      let shift = 7;
      do {
        x = b[p++]!;
        v |= (x & 0x7f) << shift;
        shift += 7;
      } while (x >= 0x80 && shift < 35);
      if (x >= 0x80 || (shift === 35 && x > 0x0f)) bad = true;
      x = v >>> 0;
    }
    if (mode === CODES_DELTA) {
      prev += (x >>> 1) ^ -(x & 1);
      x = prev;
      if (x < min) min = x;
    }
    if (x > max) max = x;
    codes[i] = x;
  }
  if (p > r.end) throw corrupt('codes run past their column');
  if (bad || min < 0 || (rows > 0 && max >= limit)) throw corrupt('code out of range');
  r.pos = p;
  return codes;
}

// ---------------------------------------------------------------- dictionary columns

/** `values`: the sorted distinct non-null values; `codes` already include the null shift. */
export function writeDictColumn(w: ByteWriter, values: readonly string[], hasNull: boolean, codes: Uint32Array, order: Uint32Array): void {
  w.varUint(values.length + (hasNull ? 1 : 0));
  w.u8(hasNull ? 1 : 0);
  writeStringBlock(w, values);
  writeCodes(w, codes, order, values.length + (hasNull ? 1 : 0));
}

function assertAscending(values: readonly string[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    if (!(values[i - 1]! < values[i]!)) throw corrupt(`${what} dictionary is not strictly ascending`);
  }
}

export function readDictColumn(r: ByteReader, rows: number, nullable: boolean, what: string): DictColumn<string | null> {
  const size = r.varUint();
  const hasNull = r.u8();
  if (hasNull > 1 || (hasNull === 1 && !nullable) || size < hasNull) throw corrupt(`${what} bad null flag`);
  const values = readStringBlock(r, size - hasNull);
  assertAscending(values, what);
  const dict: (string | null)[] = hasNull === 1 ? [null, ...values] : values;
  const codes = readCodes(r, rows, dict.length);
  return { dict, codes };
}

// ---------------------------------------------------------------- kind (run-length)

export function writeKinds(w: ByteWriter, kinds: ArrayLike<number>, order: Uint32Array): void {
  const n = order.length;
  const runs = new ByteWriter(64);
  let count = 0;
  for (let i = 0; i < n; ) {
    const k = kinds[order[i]!]!;
    let j = i + 1;
    while (j < n && kinds[order[j]!] === k) j++;
    runs.u8(k);
    runs.varUint(j - i);
    count++;
    i = j;
  }
  w.varUint(count);
  w.bytes(runs.finish());
}

export function readKinds(r: ByteReader, rows: number): Uint8Array {
  const out = new Uint8Array(rows);
  const count = r.varUint();
  let at = 0;
  for (let i = 0; i < count; i++) {
    const k = r.u8();
    const len = r.varUint();
    if (k > 2 || len === 0 || len > rows - at) throw corrupt('bad kind run');
    if (k !== 0) out.fill(k, at, at + len);
    at += len;
  }
  if (at !== rows) throw corrupt('kind runs do not cover the rows');
  return out;
}

// ---------------------------------------------------------------- correction_ref (sparse)

export function writeCorrections(w: ByteWriter, refs: readonly (CorrectionRef | null)[], order: Uint32Array): void {
  const body = new ByteWriter(64);
  let count = 0;
  let prev = -1;
  for (let i = 0; i < order.length; i++) {
    const ref = refs[order[i]!];
    if (ref === null || ref === undefined) continue;
    body.varUint(i - prev - 1);
    body.string(ref.original_event_id);
    body.string(ref.reason);
    prev = i;
    count++;
  }
  w.varUint(count);
  w.bytes(body.finish());
}

export function readCorrections(r: ByteReader, rows: number): Map<number, CorrectionRef> {
  const out = new Map<number, CorrectionRef>();
  const count = r.varUint();
  if (count > rows) throw corrupt('more correction refs than rows');
  let row = -1;
  for (let i = 0; i < count; i++) {
    row += r.varUint() + 1;
    if (row >= rows) throw corrupt('correction ref row out of range');
    const original_event_id = r.string();
    const reason = r.string();
    out.set(row, { original_event_id, reason });
  }
  return out;
}

// ---------------------------------------------------------------- dimensions

export function readDimensions(r: ByteReader, rows: number): DimensionsColumn {
  const size = r.varUint();
  const keys = readStringBlock(r, size);
  assertAscending(keys, 'dimensions');
  const dict: Readonly<Record<string, string>>[] = [];
  for (const key of keys) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(key);
    } catch (cause) {
      throw new SegmentCorruptError('raw segment: dimensions entry is not JSON', { cause });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw corrupt('dimensions entry is not an object');
    for (const v of Object.values(parsed)) if (typeof v !== 'string') throw corrupt('dimension value is not a string');
    dict.push(Object.freeze(parsed as Record<string, string>));
  }
  const codes = readCodes(r, rows, size);
  return { dict, keys, codes };
}
