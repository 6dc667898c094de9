/**
 * The integer columns only rollup segments have (see rollup-format.ts): quantity sums of any size
 * up to 2^256, event counts, and timestamps stored as offsets from another column of the same row.
 * Decoders consume a column exactly or throw SegmentCorruptError; nothing is ever rounded.
 */
import { SegmentCorruptError } from './errors.ts';
import { ROLLUP_QUANTITY_LIMIT, ROLLUP_QUANTITY_MAX_BYTES } from './rollup-format.ts';
import { readZigzagQuantities } from './raw-numbers.ts';
import type { ByteReader, ByteWriter } from './varint.ts';

const MAX_SAFE = 9007199254740991;
const MAX_SAFE_BIG = 9007199254740991n;

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(`rollup segment: ${msg}`);
}

// ---------------------------------------------------------------- quantity sums

/** Zigzag varints of `q` in order (each |q| < 2^256, checked by the caller). */
export function writeRollupQuantities(w: ByteWriter, q: readonly bigint[]): void {
  for (let i = 0; i < q.length; i++) {
    const v = q[i]!;
    if (v <= MAX_SAFE_BIG && v >= -MAX_SAFE_BIG) w.zigzag(Number(v));
    else w.zigzagBig(v);
  }
}

/**
 * Reads `rows` quantity sums: `quantity[i]` exact when |q| <= MAX_SAFE_INTEGER, else NaN with
 * the value in `big`. Refuses values outside |q| < 2^256 and safe values in the long form.
 */
export function readRollupQuantities(r: ByteReader, rows: number): { quantity: Float64Array; big: Map<number, bigint> } {
  return readZigzagQuantities(r, rows, ROLLUP_QUANTITY_MAX_BYTES, (v) => v < ROLLUP_QUANTITY_LIMIT && v > -ROLLUP_QUANTITY_LIMIT, corrupt);
}

// ---------------------------------------------------------------- event counts

/** Unsigned varints of the counts (each a safe integer >= 1, checked by the caller). */
export function writeCounts(w: ByteWriter, counts: Float64Array): void {
  for (let i = 0; i < counts.length; i++) w.varUint(counts[i]!);
}

export function readCounts(r: ByteReader, rows: number): Float64Array {
  const out = new Float64Array(rows);
  const b = r.buf;
  const end = r.end;
  let p = r.pos;
  for (let i = 0; i < rows; i++) {
    const x = b[p]!;
    let v: number;
    if (x < 0x80 && p < end) {
      p++;
      v = x;
    } else {
      r.pos = p;
      v = r.varUint();
      p = r.pos;
    }
    if (v === 0) throw corrupt('event_count of 0');
    out[i] = v;
  }
  r.pos = p;
  return out;
}

// ---------------------------------------------------------------- offsets from another column

/** Zigzag varints of `values[i] - bases[i]` (safe integers; the difference may exceed 2^53). */
export function writeOffsets(w: ByteWriter, values: Float64Array, bases: Float64Array): void {
  for (let i = 0; i < values.length; i++) {
    const d = values[i]! - bases[i]!;
    if (Number.isSafeInteger(d)) w.zigzag(d);
    else w.zigzagBig(BigInt(values[i]!) - BigInt(bases[i]!));
  }
}

/**
 * Reads `bases.length` offsets and returns `bases[i] + offset`, each a safe integer; with
 * `nonNegative` a negative offset is corruption.
 */
export function readOffsets(r: ByteReader, bases: Float64Array, what: string, nonNegative: boolean): Float64Array {
  const rows = bases.length;
  const out = new Float64Array(rows);
  const b = r.buf;
  const end = r.end;
  let p = r.pos;
  let bad = false;
  let negative = false;
  for (let i = 0; i < rows; i++) {
    const x = b[p]!;
    let d: number;
    if (x < 0x80 && p < end) {
      p++;
      d = (x >>> 1) ^ -(x & 1);
    } else {
      r.pos = p;
      d = r.zigzagOrNaN();
      if (Number.isNaN(d)) {
        const off = r.zigzagBig(9); // |offset| < 2^54: zigzag < 2^55, 8 bytes
        const v = BigInt(bases[i]!) + off;
        if (off < 0n) negative = true;
        if (v > MAX_SAFE_BIG || v < -MAX_SAFE_BIG) throw corrupt(`${what} out of range`);
        out[i] = Number(v);
        p = r.pos;
        continue;
      }
      p = r.pos;
    }
    if (d < 0) negative = true;
    const v = bases[i]! + d;
    // Exact: |base| <= 2^53 - 1 and |d| < 2^53, so a rounded sum lands outside the safe range.
    if (v > MAX_SAFE || v < -MAX_SAFE) bad = true;
    out[i] = v;
  }
  if (bad) throw corrupt(`${what} out of range`);
  if (negative && nonNegative) throw corrupt(`${what} before the value it is stored relative to`);
  r.pos = p;
  return out;
}
