/**
 * The event_id column. Canonical ULIDs (26 Crockford base32 characters, upper case) are packed
 * to 10 random bytes plus their time as a delta from the row's timestamp_ms; any other id is
 * kept verbatim. Decoding must give back every id exactly, byte for byte, or throw.
 */
import { SegmentCorruptError } from './errors.ts';
import { readStringBlock, writeStringBlock } from './strings.ts';
import { utf8Dec, type ByteReader, type ByteWriter } from './varint.ts';

export const IDS_STRINGS = 0;
export const IDS_ULID = 1;

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ENC = new Uint8Array(32);
const DEC = new Int8Array(128).fill(-1);
for (let i = 0; i < 32; i++) {
  ENC[i] = ALPHABET.charCodeAt(i);
  DEC[ALPHABET.charCodeAt(i)] = i;
}
const TWO_32 = 4294967296;
const TWO_48 = 281474976710656;

function digit(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c < 128 ? DEC[c]! : -1;
}

/** Parses a canonical ULID: its time, with its 80 random bits put at rnd[at, at+10). -1 if not one. */
function parseUlid(s: string, rnd: Uint8Array, at: number): number {
  if (s.length !== 26) return -1;
  let t = 0;
  for (let i = 0; i < 10; i++) {
    const d = digit(s, i);
    if (d < 0) return -1;
    t = t * 32 + d;
  }
  if (t >= TWO_48) return -1;
  for (let half = 0; half < 2; half++) {
    const o = 10 + half * 8;
    const c0 = digit(s, o),
      c1 = digit(s, o + 1),
      c2 = digit(s, o + 2),
      c3 = digit(s, o + 3);
    const c4 = digit(s, o + 4),
      c5 = digit(s, o + 5),
      c6 = digit(s, o + 6),
      c7 = digit(s, o + 7);
    if ((c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7) < 0) return -1;
    const hi = (c0 << 3) | (c1 >>> 2);
    const lo = (((c1 & 3) << 30) | (c2 << 25) | (c3 << 20) | (c4 << 15) | (c5 << 10) | (c6 << 5) | c7) >>> 0;
    const p = at + half * 5;
    rnd[p] = hi;
    rnd[p + 1] = lo >>> 24;
    rnd[p + 2] = lo >>> 16;
    rnd[p + 3] = lo >>> 8;
    rnd[p + 4] = lo;
  }
  return t;
}

/** Writes the 26 ASCII characters of a ULID (time t, randomness rnd[at..at+10)) at out[p]. */
function formatUlid(t: number, rnd: Uint8Array, at: number, out: Uint8Array, p: number): void {
  const tHi = Math.floor(t / TWO_32);
  const tLo = t >>> 0;
  out[p] = ENC[(tHi >>> 13) & 31]!;
  out[p + 1] = ENC[(tHi >>> 8) & 31]!;
  out[p + 2] = ENC[(tHi >>> 3) & 31]!;
  out[p + 3] = ENC[((tLo >>> 30) | (tHi << 2)) & 31]!;
  out[p + 4] = ENC[(tLo >>> 25) & 31]!;
  out[p + 5] = ENC[(tLo >>> 20) & 31]!;
  out[p + 6] = ENC[(tLo >>> 15) & 31]!;
  out[p + 7] = ENC[(tLo >>> 10) & 31]!;
  out[p + 8] = ENC[(tLo >>> 5) & 31]!;
  out[p + 9] = ENC[tLo & 31]!;
  for (let half = 0; half < 2; half++) {
    const b = at + half * 5;
    const hi = rnd[b]!;
    const lo = ((rnd[b + 1]! << 24) | (rnd[b + 2]! << 16) | (rnd[b + 3]! << 8) | rnd[b + 4]!) >>> 0;
    const q = p + 10 + half * 8;
    out[q] = ENC[hi >>> 3]!;
    out[q + 1] = ENC[((hi << 2) | (lo >>> 30)) & 31]!;
    out[q + 2] = ENC[(lo >>> 25) & 31]!;
    out[q + 3] = ENC[(lo >>> 20) & 31]!;
    out[q + 4] = ENC[(lo >>> 15) & 31]!;
    out[q + 5] = ENC[(lo >>> 10) & 31]!;
    out[q + 6] = ENC[(lo >>> 5) & 31]!;
    out[q + 7] = ENC[lo & 31]!;
  }
}

/**
 * `ids` by input row, `order` the row order, `ts` timestamps in row order. Packs ULIDs when at
 * least half the ids are canonical ULIDs (parsed in input order: memory order of the strings).
 * Returns how many bytes at the end are ULID randomness (not worth compressing).
 */
export function writeEventIds(w: ByteWriter, ids: readonly string[], order: Uint32Array, ts: Float64Array): number {
  const n = ids.length;
  const rnd = new Uint8Array(n * 10);
  const times = new Float64Array(n);
  let packed = 0;
  for (let i = 0; i < n; i++) {
    const t = parseUlid(ids[i]!, rnd, i * 10);
    times[i] = t;
    if (t >= 0) packed++;
  }
  if (n === 0 || packed * 2 < n) {
    const sorted = new Array<string>(n);
    for (let i = 0; i < n; i++) sorted[i] = ids[order[i]!]!;
    w.u8(IDS_STRINGS);
    writeStringBlock(w, sorted);
    return 0;
  }
  w.u8(IDS_ULID);
  w.varUint(n - packed);
  let prev = -1;
  for (let i = 0; i < n; i++) {
    const row = order[i]!;
    if (times[row]! >= 0) continue;
    w.varUint(i - prev - 1);
    w.string(ids[row]!);
    prev = i;
  }
  for (let i = 0; i < n; i++) {
    const t = times[order[i]!]!;
    if (t < 0) continue;
    const d = t - ts[i]!;
    if (Number.isSafeInteger(d)) w.zigzag(d);
    else w.zigzagBig(BigInt(t) - BigInt(ts[i]!));
  }
  w.ensure(packed * 10);
  const buf = w.buf;
  let p = w.pos;
  for (let i = 0; i < n; i++) {
    const row = order[i]!;
    if (times[row]! < 0) continue;
    const at = row * 10;
    for (let k = 0; k < 10; k++) buf[p++] = rnd[at + k]!;
  }
  w.pos = p;
  return packed * 10;
}

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(`raw segment event_id: ${msg}`);
}

/** Reads the column; `ts` (the decoded timestamp_ms column) is needed only for packed ULIDs. */
export function readEventIds(r: ByteReader, rows: number, ts: () => Float64Array): string[] {
  const tag = r.u8();
  if (tag === IDS_STRINGS) return readStringBlock(r, rows);
  if (tag !== IDS_ULID) throw corrupt(`unknown encoding ${tag}`);
  const out = new Array<string>(rows);
  const isException = new Uint8Array(rows);
  const exceptions = r.varUint();
  if (exceptions > rows) throw corrupt('more exceptions than rows');
  let row = -1;
  for (let i = 0; i < exceptions; i++) {
    row += r.varUint() + 1;
    if (row >= rows) throw corrupt('exception row out of range');
    out[row] = r.string();
    isException[row] = 1;
  }
  const packed = rows - exceptions;
  const times = ts();
  const ascii = new Uint8Array(packed * 26);
  const tms = new Float64Array(packed);
  let k = 0;
  for (let i = 0; i < rows; i++) {
    if (isException[i]) continue;
    const d = r.zigzagOrNaN();
    const t = Number.isNaN(d) ? Number(BigInt(times[i]!) + r.zigzagBig(10)) : times[i]! + d;
    if (!(t >= 0 && t < TWO_48 && Number.isInteger(t))) throw corrupt('ULID time out of range');
    tms[k++] = t;
  }
  const rnd = r.bytes(packed * 10);
  for (let j = 0; j < packed; j++) formatUlid(tms[j]!, rnd, j * 10, ascii, j * 26);
  const joined = utf8Dec.decode(ascii);
  k = 0;
  for (let i = 0; i < rows; i++) {
    if (isException[i]) continue;
    out[i] = joined.slice(k, k + 26);
    k += 26;
  }
  return out;
}
