/**
 * Writes the UTF-8 bytes of `canonicalPayload(e)` directly into a reused buffer (no JSON
 * stringify of an array, no string concatenation): the payload hash is hot in segment encode.
 * It must produce exactly those bytes, always; a property test compares it with canonicalPayload.
 */
import type { UsageEvent } from '../model/event.ts';
import { HashScratch, murmurScratch } from './murmur.ts';

const utf8 = new TextEncoder();
const NULL = utf8.encode('null');
const QUOTE = 0x22,
  COMMA = 0x2c,
  OPEN = 0x5b,
  CLOSE = 0x5d,
  MINUS = 0x2d,
  COLON = 0x3a,
  OPEN_BRACE = 0x7b,
  CLOSE_BRACE = 0x7d;

/**
 * Values the segment encoder has already interned, so payloads are assembled by array index.
 * `columns`: kind, account, subscription, product, meter, model, source, unit (payload order),
 * each with a code per input row and the UTF-8 of JSON.stringify(value) per code. `dims`: per
 * row a code whose entry is the UTF-8 of JSON.stringify(e.dimensions) exactly.
 */
export interface PayloadParts {
  readonly columns: readonly { readonly codes: ArrayLike<number>; readonly json: readonly Uint8Array[] }[];
  readonly dims: { readonly codes: ArrayLike<number>; readonly json: readonly Uint8Array[] };
}

/** The UTF-8 of JSON.stringify(v) (`null` for null). */
export function jsonBytes(v: string | null): Uint8Array {
  return v === null ? NULL : utf8.encode(JSON.stringify(v));
}

/**
 * Writes JSON.stringify(s) as UTF-8 at buf[p] (room for 6 bytes per UTF-16 unit + 2 needed):
 * ASCII without escapes directly, anything else through JSON.stringify + encodeInto.
 */
function writeQuoted(buf: Uint8Array, p: number, s: string): number {
  const start = p;
  const n = s.length;
  buf[p++] = QUOTE;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === QUOTE || c === 0x5c) {
      return start + utf8.encodeInto(JSON.stringify(s), buf.subarray(start)).written;
    }
    buf[p++] = c;
  }
  buf[p++] = QUOTE;
  return p;
}

/** `null` or writeQuoted(s). */
function writeNullable(buf: Uint8Array, p: number, s: string | null): number {
  if (s !== null) return writeQuoted(buf, p, s);
  for (let i = 0; i < 4; i++) buf[p++] = NULL[i]!;
  return p;
}

export class PayloadEncoder {
  private s = new HashScratch(2048);
  private buf = this.s.bytes;
  private p = 0;

  private room(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const next = new HashScratch(Math.max(this.buf.length * 2, this.p + n + 1024));
    next.bytes.set(this.buf.subarray(0, this.p));
    this.s = next;
    this.buf = next.bytes;
  }

  private raw(b: Uint8Array): void {
    const n = b.length;
    this.room(n);
    if (n > 8) {
      this.buf.set(b, this.p);
      this.p += n;
      return;
    }
    const buf = this.buf;
    let p = this.p;
    for (let i = 0; i < n; i++) buf[p++] = b[i]!;
    this.p = p;
  }

  /** UTF-8 of a JSON text `s` (already quoted/serialized). */
  private text(s: string): void {
    this.room(s.length * 3);
    this.p += utf8.encodeInto(s, this.buf.subarray(this.p)).written;
  }

  /** The decimal digits of a safe integer (what JSON.stringify gives for it). */
  private int(v: number): void {
    this.room(24);
    if (v < 0) {
      this.buf[this.p++] = MINUS;
      v = -v;
    }
    if (v < 1e9) {
      this.small(v, 0);
      return;
    }
    this.small(Math.floor(v / 1e9), 0); // < 1e9 for every safe integer
    this.small(v % 1e9, 9);
  }

  /** Digits of 0 <= v < 1e9, left-padded with zeros to `width`. */
  private small(v: number, width: number): void {
    let x = v | 0;
    let digits = 1;
    for (let t = x; t >= 10; t = (t / 10) | 0) digits++;
    if (digits < width) digits = width;
    const buf = this.buf;
    let p = this.p + digits;
    this.p = p;
    for (let i = 0; i < digits; i++) {
      const q = (x / 10) | 0;
      buf[--p] = 0x30 + x - q * 10;
      x = q;
    }
  }

  private partsSeen: PayloadParts | undefined;
  private partsMax = 0;

  /** Sum over the columns of their longest JSON value (+ a comma each): a bound per row. */
  private maxColumnBytes(parts: PayloadParts): number {
    if (this.partsSeen !== parts) {
      let total = 0;
      for (const col of parts.columns) {
        let max = 0;
        for (const b of col.json) if (b.length > max) max = b.length;
        total += max + 1;
      }
      this.partsSeen = parts;
      this.partsMax = total;
    }
    return this.partsMax;
  }

  /** As `encode`, for input row `row` of a segment whose values `parts` holds. */
  encodeWithParts(e: UsageEvent, row: number, parts: PayloadParts): Uint8Array {
    this.fillWithParts(e, row, parts);
    return this.buf.subarray(0, this.p);
  }

  /** The payload hash of input row `row` (as murmur3x86_128 of encodeWithParts), into `out`. */
  hashWithParts(e: UsageEvent, row: number, parts: PayloadParts, out: Uint32Array): void {
    this.fillWithParts(e, row, parts);
    murmurScratch(this.s, this.p, out);
  }

  private fillWithParts(e: UsageEvent, row: number, parts: PayloadParts): void {
    const id = e.event_id;
    const cols = parts.columns;
    const dims = parts.dims.json[parts.dims.codes[row]!]!;
    const bound = 8 + id.length * 6 + dims.length + 80 + this.maxColumnBytes(parts);
    this.p = 0;
    this.room(bound);
    const buf = this.buf;
    let p = 0;
    buf[p++] = OPEN;
    p = writeQuoted(buf, p, id);
    for (let c = 0; c < cols.length; c++) {
      const col = cols[c]!;
      const b = col.json[col.codes[row]!]!;
      buf[p++] = COMMA;
      const len = b.length;
      if (len > 48) {
        buf.set(b, p);
        p += len;
      } else for (let i = 0; i < len; i++) buf[p++] = b[i]!;
    }
    this.p = p;
    this.tail(e, dims);
  }

  /** `,timestamp,"quantity",dims,ref]` */
  private tail(e: UsageEvent, dims: Uint8Array): void {
    this.numbers(e);
    this.raw(dims);
    this.refAndClose(e);
  }

  /** `,timestamp,"quantity",` */
  private numbers(e: UsageEvent): void {
    this.room(2);
    this.buf[this.p++] = COMMA;
    const ts = e.timestamp_ms;
    if (Number.isSafeInteger(ts) && !Object.is(ts, -0)) this.int(ts);
    else this.text(JSON.stringify(ts));
    this.room(4);
    this.buf[this.p++] = COMMA;
    this.buf[this.p++] = QUOTE;
    const q = e.quantity;
    const qn = Number(q);
    if (Number.isSafeInteger(qn)) this.int(qn);
    else this.text(q.toString());
    this.room(4);
    this.buf[this.p++] = QUOTE;
    this.buf[this.p++] = COMMA;
  }

  /** `,ref]` (after the dimensions) */
  private refAndClose(e: UsageEvent): void {
    this.room(2);
    this.buf[this.p++] = COMMA;
    const ref = e.correction_ref;
    if (ref === null) this.raw(NULL);
    else this.text('[' + JSON.stringify(ref.original_event_id) + ',' + JSON.stringify(ref.reason) + ']');
    this.room(1);
    this.buf[this.p++] = CLOSE;
  }

  /** The bytes of canonicalPayload(e), valid until the next call. */
  encode(e: UsageEvent): Uint8Array {
    this.fill(e);
    return this.buf.subarray(0, this.p);
  }

  /** murmur3x86_128 of `encode(e)`, into `out`. */
  hash(e: UsageEvent, out: Uint32Array): void {
    this.fill(e);
    murmurScratch(this.s, this.p, out);
  }

  /**
   * Writes canonicalPayload(e) straight from the event's strings: every string through
   * writeQuoted (what JSON.stringify gives, ASCII fast path), the dimension map in its own key
   * order (which is JSON.stringify's order), no intermediate strings or lookups.
   */
  private fill(e: UsageEvent): void {
    const dims = e.dimensions;
    const keys = Object.keys(dims);
    const ids = [e.event_id, e.kind, e.account_id, e.subscription_id, e.product_id, e.meter_id, e.model_id, e.source, e.unit];
    let chars = 0;
    for (let i = 0; i < ids.length; i++) chars += ids[i]?.length ?? 4;
    for (let i = 0; i < keys.length; i++) chars += keys[i]!.length + dims[keys[i]!]!.length;
    this.p = 0;
    // 6 bytes per UTF-16 unit covers any JSON escape and any UTF-8 sequence; 160 the punctuation and numbers.
    this.room(chars * 6 + keys.length * 8 + 160);
    let buf = this.buf;
    let p = 0;
    buf[p++] = OPEN;
    for (let i = 0; i < ids.length; i++) {
      if (i > 0) buf[p++] = COMMA;
      p = writeNullable(buf, p, ids[i]!);
    }
    this.p = p;
    this.numbers(e);
    this.room(chars * 6 + keys.length * 8 + 16);
    buf = this.buf;
    p = this.p;
    buf[p++] = OPEN_BRACE;
    for (let i = 0; i < keys.length; i++) {
      if (i > 0) buf[p++] = COMMA;
      const k = keys[i]!;
      p = writeQuoted(buf, p, k);
      buf[p++] = COLON;
      p = writeQuoted(buf, p, dims[k]!);
    }
    buf[p++] = CLOSE_BRACE;
    this.p = p;
    this.refAndClose(e);
  }
}
