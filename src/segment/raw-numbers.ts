/**
 * The integer columns of raw segments: zigzag-delta timestamps and zigzag 128-bit quantities.
 * Hot decode loops (queries scan these at millions of rows per second): no per-row allocation,
 * and never a silently rounded value — out-of-range input throws.
 */
import { SegmentCorruptError } from './errors.ts';
import type { ByteReader, ByteWriter } from './varint.ts';

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(`raw segment: ${msg}`);
}

/** Delta column modes: zigzag varints, or byte planes of fixed-width zigzag deltas. */
export const DELTAS_VARINT = 0;
export const DELTAS_PLANES = 1;
/** Planes are used when every zigzag delta fits in 6 bytes (|delta| < 2^47). */
const MAX_PLANE_ZIGZAG = 2 ** 48;
const TWO_32 = 4294967296;
const FEW_DELTAS = 256;
/** A plane with more bits per byte than this deflates by a few percent at best: store it. */
export const RANDOM_BITS = 7.6;

/** Order-0 entropy in bits per byte of `bytes`. */
export function byteEntropy(bytes: Uint8Array): number {
  const hist = new Uint32Array(256);
  for (let i = 0; i < bytes.length; i++) hist[bytes[i]!]!++;
  let bits = 0;
  for (let s = 0; s < 256; s++) {
    const c = hist[s]!;
    if (c > 0) bits -= c * Math.log2(c / bytes.length);
  }
  return bytes.length === 0 ? 0 : bits / bytes.length;
}

/**
 * A column of safe integers (in row order): u8 mode, then either (varint) `rows` zigzag
 * varints, the first value then deltas; or (planes) the first value as a zigzag varint, u8 width
 * w (0..6), then w planes of rows-1 bytes, most significant first: the plane of byte k (LE) of
 * every zigzag delta is the (w-1-k)-th. Planes deflate better when deltas vary a lot (high
 * bytes mostly zero) and decode without branches; varints win when few distinct deltas repeat.
 * Returns how many bytes at the end are random low planes, not worth deflating.
 */
export function writeDeltaColumn(w: ByteWriter, values: Float64Array): number {
  const n = values.length;
  let maxZ = 0;
  // Few distinct deltas (e.g. ingest stamps of a few commits) deflate better as varints.
  const distinct = new Set<number>();
  for (let i = 1; i < n; i++) {
    const d = values[i]! - values[i - 1]!;
    const z = d >= 0 ? d * 2 : -d * 2 - 1;
    if (z > maxZ) maxZ = z;
    if (distinct.size <= FEW_DELTAS) distinct.add(z);
  }
  if (n === 0 || !(maxZ < MAX_PLANE_ZIGZAG) || distinct.size <= FEW_DELTAS) {
    w.u8(DELTAS_VARINT);
    writeDeltas(w, values);
    return 0;
  }
  w.u8(DELTAS_PLANES);
  w.zigzag(values[0]!);
  let width = 0;
  while (maxZ >= 2 ** (8 * width)) width++;
  w.u8(width);
  const m = n - 1;
  w.ensure(width * m);
  const buf = w.buf;
  const base = w.pos;
  const plane = (k: number) => base + (width - 1 - k) * m;
  const p0 = plane(0),
    p1 = plane(1),
    p2 = plane(2),
    p3 = plane(3);
  for (let i = 0; i < m; i++) {
    const d = values[i + 1]! - values[i]!;
    const z = d >= 0 ? d * 2 : -d * 2 - 1;
    const lo = z >>> 0;
    buf[p0 + i] = lo;
    if (width > 1) buf[p1 + i] = lo >>> 8;
    if (width > 2) buf[p2 + i] = lo >>> 16;
    if (width > 3) buf[p3 + i] = lo >>> 24;
    if (width > 4) {
      const hi = Math.floor(z / TWO_32);
      for (let k = 4; k < width; k++) buf[plane(k) + i] = hi >>> (8 * (k - 4));
    }
  }
  w.pos = base + width * m;
  let tail = 0;
  for (let k = 0; k < width && byteEntropy(buf.subarray(plane(k), plane(k) + m)) > RANDOM_BITS; k++) tail += m;
  return tail;
}

export function readDeltaColumn(r: ByteReader, rows: number, what: string): Float64Array {
  const mode = r.u8();
  if (mode === DELTAS_VARINT) return readDeltas(r, rows, what);
  if (mode !== DELTAS_PLANES || rows === 0) throw corrupt(`${what}: bad delta mode ${mode}`);
  const out = new Float64Array(rows);
  let prev = r.zigzag();
  const width = r.u8();
  const m = rows - 1;
  if (width > 6) throw corrupt(`${what}: bad plane width ${width}`);
  const b = r.bytes(width * m);
  out[0] = prev;
  let bad = false;
  const p0 = (width - 1) * m,
    p1 = (width - 2) * m,
    p2 = (width - 3) * m,
    p3 = (width - 4) * m;
  for (let i = 0; i < m; i++) {
    let d: number;
    if (width <= 4) {
      let z = 0;
      switch (width) {
        case 4:
          z = (b[p0 + i]! | (b[p1 + i]! << 8) | (b[p2 + i]! << 16) | (b[p3 + i]! << 24)) >>> 0;
          break;
        case 3:
          z = b[p0 + i]! | (b[p1 + i]! << 8) | (b[p2 + i]! << 16);
          break;
        case 2:
          z = b[p0 + i]! | (b[p1 + i]! << 8);
          break;
        case 1:
          z = b[p0 + i]!;
          break;
      }
      d = (z >>> 1) ^ -(z & 1);
    } else {
      const lo = (b[p0 + i]! | (b[p1 + i]! << 8) | (b[p2 + i]! << 16) | (b[p3 + i]! << 24)) >>> 0;
      // Byte 4 is plane w-5, byte 5 (width 6) plane 0.
      let hi = b[(width - 5) * m + i]!;
      if (width === 6) hi |= b[i]! << 8;
      const z = hi * TWO_32 + lo;
      d = z % 2 === 1 ? -(z + 1) / 2 : z / 2;
    }
    prev += d;
    if (prev > 9007199254740991 || prev < -9007199254740991) bad = true;
    out[i + 1] = prev;
  }
  if (bad) throw corrupt(`${what} out of range`);
  return out;
}

/** Zigzag varint deltas of safe integers in row order, the first from 0. */
function writeDeltas(w: ByteWriter, values: Float64Array): void {
  let prev = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const d = v - prev;
    if (Number.isSafeInteger(d)) w.zigzag(d);
    else w.zigzagBig(BigInt(v) - BigInt(prev));
    prev = v;
  }
}

function readDeltas(r: ByteReader, rows: number, what: string): Float64Array {
  const out = new Float64Array(rows);
  const b = r.buf;
  const end = r.end;
  let p = r.pos;
  let prev = 0;
  let bad = false;
  for (let i = 0; i < rows; i++) {
    let x = b[p]!;
    let d: number;
    if (x < 0x80 && p < end) {
      p++;
      d = (x >>> 1) ^ -(x & 1);
    } else {
      r.pos = p;
      d = r.zigzagOrNaN();
      if (Number.isNaN(d)) {
        const big = BigInt(prev) + r.zigzagBig(10);
        x = Number(big);
        if (!Number.isSafeInteger(x) || BigInt(x) !== big) throw corrupt(`${what} out of range`);
        out[i] = prev = x;
        p = r.pos;
        continue;
      }
      p = r.pos;
    }
    prev += d;
    if (prev > 9007199254740991 || prev < -9007199254740991) bad = true;
    out[i] = prev;
  }
  if (bad) throw corrupt(`${what} out of range`);
  r.pos = p;
  return out;
}

const TWO_52 = 4503599627370496;

/**
 * Zigzag varints of signed 128-bit values (`q[order[i]]`); `qn[row]` is the same value as a
 * Number when |q| <= 2^52, else NaN. Returns the exact sum.
 */
/**
 * The exact sum of a column's quantities: numbers add in a double while it stays within ±2^52
 * (exact), then move into a BigInt; values beyond safe integers add as BigInts.
 */
export class ExactSum {
  private big = 0n;
  private small = 0;
  add(v: number): void {
    this.small += v;
    if (this.small > TWO_52 || this.small < -TWO_52) {
      this.big += BigInt(this.small);
      this.small = 0;
    }
  }
  addBig(b: bigint): void {
    this.big += b;
  }
  total(): bigint {
    return this.big + BigInt(this.small);
  }
}

export function writeQuantities(w: ByteWriter, q: readonly bigint[], qn: Float64Array, order: Uint32Array): bigint {
  const sum = new ExactSum();
  for (let i = 0; i < order.length; i++) {
    const row = order[i]!;
    const v = qn[row]!;
    if ((v | 0) === v) w.varUint(((v << 1) ^ (v >> 31)) >>> 0);
    else if (!Number.isNaN(v)) w.zigzag(v);
    else {
      w.zigzagBig(q[row]!);
      sum.addBig(q[row]!);
      continue;
    }
    sum.add(v);
  }
  return sum.total();
}

const I128_LIMIT = 1n << 127n;

/**
 * Reads `rows` zigzag quantities (raw values or rollup sums): `quantity[i]` exact when it is a
 * safe integer, else NaN with the value in `big`. A long value must pass `inRange` and must not
 * be one that the short form holds (non-canonical); `fail` names the format in the error.
 */
export function readZigzagQuantities(
  r: ByteReader,
  rows: number,
  maxBytes: number,
  inRange: (v: bigint) => boolean,
  fail: (msg: string) => SegmentCorruptError,
): { quantity: Float64Array; big: Map<number, bigint> } {
  const quantity = new Float64Array(rows);
  const big = new Map<number, bigint>();
  const b = r.buf;
  const end = r.end;
  let p = r.pos;
  for (let i = 0; i < rows; i++) {
    const x = b[p]!;
    if (x < 0x80 && p < end) {
      p++;
      quantity[i] = (x >>> 1) ^ -(x & 1);
      continue;
    }
    r.pos = p;
    const n = r.zigzagOrNaN();
    if (Number.isNaN(n)) {
      const v = r.zigzagBig(maxBytes);
      if (!inRange(v)) throw fail('quantity out of range');
      if (v <= 9007199254740991n && v >= -9007199254740991n) throw fail('non-canonical quantity');
      quantity[i] = NaN;
      big.set(i, v);
    } else {
      quantity[i] = n;
    }
    p = r.pos;
  }
  r.pos = p;
  return { quantity, big };
}

/** Raw quantities: signed 128-bit. */
export function readQuantities(r: ByteReader, rows: number): { quantity: Float64Array; big: Map<number, bigint> } {
  return readZigzagQuantities(r, rows, 19, (v) => v < I128_LIMIT && v >= -I128_LIMIT, corrupt);
}
