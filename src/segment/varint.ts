/**
 * Growable byte writer and bounds-checked reader: unsigned LEB128 varints (Number up to 2^53,
 * BigInt for 128-bit), zigzag for signed values, length-prefixed UTF-8 strings, LE fixed ints.
 * The reader never reads past its end silently: it throws SegmentCorruptError instead.
 */
import { SegmentCorruptError } from './errors.ts';

const utf8Enc = new TextEncoder();
/** fatal: bad UTF-8 is corruption; ignoreBOM: a leading U+FEFF is data, never stripped. */
export const utf8Dec = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const TWO_52 = 4503599627370496;

/** Bytes an unsigned varint of `n` (a safe non-negative integer) takes. */
export function varUintSize(n: number): number {
  let s = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    s++;
  }
  return s;
}

export class ByteWriter {
  buf: Uint8Array;
  pos = 0;
  private view: DataView;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = new DataView(this.buf.buffer);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u32le(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  f64le(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Unsigned LEB128 of a safe non-negative integer. */
  varUint(n: number): void {
    this.ensure(8);
    const buf = this.buf;
    let p = this.pos;
    if (n >>> 0 === n) {
      while (n >= 0x80) {
        buf[p++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      buf[p++] = n;
    } else {
      if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`varint out of range: ${n}`);
      while (n >= 0x80) {
        buf[p++] = (n % 128) | 0x80;
        n = Math.floor(n / 128);
      }
      buf[p++] = n;
    }
    this.pos = p;
  }

  /** Unsigned LEB128 of a non-negative BigInt (any size). */
  varBig(b: bigint): void {
    if (b < 0n) throw new RangeError('varBig of a negative value');
    if (b < 0x100000000n) {
      this.varUint(Number(b));
      return;
    }
    // 28 bits at a time through Number: far fewer BigInt operations than bytewise.
    for (;;) {
      if (b < 0x10000000n) {
        this.varUint(Number(b));
        return;
      }
      let chunk = Number(b & 0xfffffffn);
      b >>= 28n;
      this.ensure(4);
      const buf = this.buf;
      let p = this.pos;
      for (let k = 0; k < 4; k++) {
        buf[p++] = (chunk & 0x7f) | 0x80;
        chunk >>>= 7;
      }
      this.pos = p;
    }
  }

  /** Zigzag varint of a safe integer (BigInt path beyond 2^52 in magnitude). */
  zigzag(n: number): void {
    if ((n | 0) === n) {
      this.varUint(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    if (!Number.isSafeInteger(n)) throw new RangeError(`zigzag out of range: ${n}`);
    if (n < TWO_52 && n > -TWO_52) {
      this.varUint(n >= 0 ? n * 2 : -n * 2 - 1);
      return;
    }
    this.zigzagBig(BigInt(n));
  }

  /** Zigzag varint of a BigInt (i128 in segments: at most 19 bytes). */
  zigzagBig(b: bigint): void {
    this.varBig(b >= 0n ? b << 1n : (-b << 1n) - 1n);
  }

  /** Byte length (varint) + UTF-8 bytes. `s` must be well-formed UTF-16. */
  string(s: string): void {
    const max = s.length * 3;
    const pre = varUintSize(max);
    this.ensure(pre + max + 8); // + 8: varUint below must never reallocate
    const written = utf8Enc.encodeInto(s, this.buf.subarray(this.pos + pre)).written;
    const need = varUintSize(written);
    if (need < pre) this.buf.copyWithin(this.pos + need, this.pos + pre, this.pos + pre + written);
    this.varUint(written);
    this.pos += written;
  }

  /** The bytes written so far (a view; the writer must not be used afterwards). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

function truncated(what: string): SegmentCorruptError {
  return new SegmentCorruptError(`segment truncated or malformed: ${what}`);
}

export class ByteReader {
  readonly buf: Uint8Array;
  pos: number;
  readonly end: number;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw truncated('u8');
    return this.buf[this.pos++]!;
  }

  u32le(): number {
    const p = this.pos;
    if (p + 4 > this.end) throw truncated('u32');
    const b = this.buf;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  f64le(): number {
    if (this.pos + 8 > this.end) throw truncated('f64');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  bytes(n: number): Uint8Array {
    if (n < 0 || this.pos + n > this.end) throw truncated('bytes');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Unsigned varint that must be a safe integer (at most 8 bytes). */
  varUint(): number {
    const b = this.buf;
    const end = this.end;
    let p = this.pos;
    if (p >= end) throw truncated('varint');
    let x = b[p++]!;
    if (x < 0x80) {
      this.pos = p;
      return x;
    }
    let result = x & 0x7f;
    let shift = 7;
    for (;;) {
      if (p >= end) throw truncated('varint');
      x = b[p++]!;
      if (shift < 28) result |= (x & 0x7f) << shift;
      else result += (x & 0x7f) * 2 ** shift;
      if (x < 0x80) break;
      shift += 7;
      if (shift > 49) throw truncated('varint too long');
    }
    if (!Number.isSafeInteger(result)) throw truncated('varint too large');
    this.pos = p;
    return result;
  }

  /** Unsigned varint as a BigInt, at most `maxBytes` long (19 covers 128 bits). */
  varBig(maxBytes = 19): bigint {
    const b = this.buf;
    let p = this.pos;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; ; i++) {
      if (i >= maxBytes) throw truncated('varint too long');
      if (p >= this.end) throw truncated('varint');
      const x = b[p++]!;
      result |= BigInt(x & 0x7f) << shift;
      if (x < 0x80) break;
      shift += 7n;
    }
    this.pos = p;
    return result;
  }

  /** Zigzag varint as a Number; throws when the value is not a safe integer. */
  zigzag(): number {
    const v = this.zigzagOrNaN();
    if (Number.isNaN(v)) throw truncated('zigzag too large');
    return v;
  }

  /**
   * Zigzag varint as a Number, or NaN (with nothing consumed) when the value is not a safe
   * integer, so the caller can re-read it with zigzagBig().
   */
  zigzagOrNaN(): number {
    const b = this.buf;
    const end = this.end;
    const start = this.pos;
    let p = start;
    let lo = 0; // first 28 bits
    let hi = 0; // the rest, in units of 2^28
    let x = 0;
    for (let shift = 0; ; shift += 7) {
      if (p >= end) throw truncated('varint');
      x = b[p++]!;
      if (shift < 28) lo |= (x & 0x7f) << shift;
      else if (shift < 56) hi += (x & 0x7f) * 2 ** (shift - 28);
      else return NaN; // more than 8 bytes: beyond 2^56, let the BigInt path judge it
      if (x < 0x80) break;
    }
    const half = hi * 134217728 + (lo >>> 1);
    const v = lo & 1 ? -half - 1 : half;
    if (!Number.isSafeInteger(v)) return NaN;
    this.pos = p;
    return v;
  }

  zigzagBig(maxBytes = 19): bigint {
    const z = this.varBig(maxBytes);
    return z & 1n ? -(z >> 1n) - 1n : z >> 1n;
  }

  /** Byte length (varint) + UTF-8 bytes. */
  string(): string {
    const n = this.varUint();
    const bytes = this.bytes(n);
    try {
      return utf8Dec.decode(bytes);
    } catch (cause) {
      throw new SegmentCorruptError('segment string is not valid UTF-8', { cause });
    }
  }

  /** Throws unless every byte was consumed. */
  expectEnd(what: string): void {
    if (this.pos !== this.end) throw truncated(`${what}: ${this.end - this.pos} bytes left over`);
  }
}
