/**
 * The key filter block of a compacted raw segment: an xor filter (Graf & Lemire, 2019) with
 * 16-bit fingerprints over the segment's distinct 96-bit event keys, plus a page index of its
 * sorted hashes block, so a filter hit is confirmed by one ranged read of one page of rows.
 * Persisted: never change how it is computed or laid out; a change is a new version.
 *
 * Version 1, little-endian, appended to the segment object after the hashes block:
 *   "UFLT" magic (4) | u8 version = 1 | 3 zero bytes | u32 distinct keys | u32 seed |
 *   u32 block length L | u32 hash rows | u32 page rows | 4 zero bytes      (header: 32 bytes)
 *   3L x u16 fingerprints (padded with one u16 when 3L is odd)
 *   pages x u32: k0 (first event-key word) of the first row of each page of `page rows` rows
 *   pages x u32: CRC-32 of each page's row bytes in the hashes block
 *   u32 CRC-32 of every byte before it
 *
 * No false negatives: every key the filter was built from answers `maybe`. A key not in it
 * answers `maybe` with probability ~2^-16 (a fingerprint match). The filter alone never decides
 * a duplicate: a hit is confirmed against the page's rows (docs/dedupe.md).
 */
import { crc32 } from './crc32.ts';
import { SegmentCorruptError } from './errors.ts';

export const FILTER_MAGIC = 'UFLT';
export const FILTER_VERSION = 1;
const HEADER = 32;
/** Rows of the hashes block per page: one confirming read is PAGE_ROWS x 28 bytes (7 KiB). */
export const PAGE_ROWS = 256;
/** Byte offset of the first row in a version 2 hashes block, and its row size. */
export const HASHES_HEADER = 16;
export const HASHES_ROW = 28;

function mix(k0: number, k1: number, k2: number, seed: number): number {
  let h = (seed ^ k0) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= k1;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= k2;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const reduce = (h: number, n: number) => Math.floor((h * n) / 4294967296);

/** An xor filter over 96-bit keys (3 words each). */
export class KeyFilter {
  readonly seed: number;
  readonly blockLength: number;
  readonly fingerprints: Uint16Array;

  constructor(seed: number, blockLength: number, fingerprints: Uint16Array) {
    this.seed = seed >>> 0;
    this.blockLength = blockLength;
    this.fingerprints = fingerprints;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.fingerprints.byteLength;
  }

  /** `true`: the key may be in the set (confirm it); `false`: it is certainly not. */
  mayContain(k0: number, k1: number, k2: number): boolean {
    const s = this.seed;
    const L = this.blockLength;
    const f = this.fingerprints;
    const fp = mix(k0, k1, k2, s ^ 0x165667b1) & 0xffff;
    return (
      (fp ^ f[reduce(mix(k0, k1, k2, s), L)]! ^ f[L + reduce(mix(k0, k1, k2, s ^ 0x9e3779b9), L)]! ^ f[2 * L + reduce(mix(k0, k1, k2, s ^ 0x7f4a7c15), L)]!) ===
      0
    );
  }

  /**
   * Builds a filter of `keys` (3 words a key, distinct). Deterministic: seeds 1, 2, … are tried
   * until the peeling succeeds (expected ~1.1 tries at this size factor).
   */
  static build(keys: Uint32Array): KeyFilter {
    const n = keys.length / 3;
    const L = Math.max(1, Math.ceil((Math.floor(1.23 * n) + 32) / 3));
    const cap = 3 * L;
    const count = new Int32Array(cap);
    const xorIdx = new Int32Array(cap);
    const stackKey = new Int32Array(n);
    const stackSlot = new Int32Array(n);
    const queue = new Int32Array(cap);
    const slots = new Int32Array(3 * n);
    for (let seed = 1; seed < 1000; seed++) {
      count.fill(0);
      xorIdx.fill(0);
      for (let i = 0; i < n; i++) {
        const k0 = keys[i * 3]!;
        const k1 = keys[i * 3 + 1]!;
        const k2 = keys[i * 3 + 2]!;
        const a = reduce(mix(k0, k1, k2, seed), L);
        const b = L + reduce(mix(k0, k1, k2, seed ^ 0x9e3779b9), L);
        const c = 2 * L + reduce(mix(k0, k1, k2, seed ^ 0x7f4a7c15), L);
        slots[i * 3] = a;
        slots[i * 3 + 1] = b;
        slots[i * 3 + 2] = c;
        count[a]!++;
        count[b]!++;
        count[c]!++;
        xorIdx[a]! ^= i;
        xorIdx[b]! ^= i;
        xorIdx[c]! ^= i;
      }
      let qn = 0;
      for (let s = 0; s < cap; s++) if (count[s] === 1) queue[qn++] = s;
      let sn = 0;
      while (qn > 0) {
        const s = queue[--qn]!;
        if (count[s] !== 1) continue;
        const i = xorIdx[s]!;
        stackKey[sn] = i;
        stackSlot[sn++] = s;
        for (let j = 0; j < 3; j++) {
          const t = slots[i * 3 + j]!;
          count[t]!--;
          xorIdx[t]! ^= i;
          if (count[t] === 1) queue[qn++] = t;
        }
      }
      if (sn !== n) continue;
      const f = new Uint16Array(cap);
      for (let x = sn - 1; x >= 0; x--) {
        const i = stackKey[x]!;
        const fp = mix(keys[i * 3]!, keys[i * 3 + 1]!, keys[i * 3 + 2]!, seed ^ 0x165667b1) & 0xffff;
        f[stackSlot[x]!] = fp ^ f[slots[i * 3]!]! ^ f[slots[i * 3 + 1]!]! ^ f[slots[i * 3 + 2]!]!;
      }
      return new KeyFilter(seed, L, f);
    }
    throw new RangeError('key filter: construction failed (duplicate keys?)');
  }
}

/** A decoded filter block: the filter and the page index of the segment's hashes block. */
export interface KeyFilterBlock {
  readonly filter: KeyFilter;
  /** Rows of the hashes block. */
  readonly rows: number;
  readonly pageRows: number;
  /** k0 of each page's first row. */
  readonly fences: Uint32Array;
  /** CRC-32 of each page's row bytes. */
  readonly pageCrcs: Uint32Array;
}

/** Bytes a decoded block holds in memory. */
export function filterBlockBytes(b: KeyFilterBlock): number {
  return b.filter.bytes + b.fences.byteLength + b.pageCrcs.byteLength;
}

/**
 * The filter block for a version 2 hashes block (rows sorted by event key, as encoded by
 * `encodeSegmentHashes`).
 */
export function encodeKeyFilter(hashes: Uint8Array): Uint8Array {
  const view = new DataView(hashes.buffer, hashes.byteOffset, hashes.byteLength);
  const rows = view.getUint32(8, true);
  const keys = new Uint32Array(rows * 3);
  let distinct = 0;
  for (let r = 0; r < rows; r++) {
    const at = HASHES_HEADER + r * HASHES_ROW;
    const k0 = view.getUint32(at, true);
    const k1 = view.getUint32(at + 4, true);
    const k2 = view.getUint32(at + 8, true);
    const d = distinct * 3;
    // Rows are sorted: equal keys (two payloads of one event) are adjacent.
    if (distinct > 0 && keys[d - 3] === k0 && keys[d - 2] === k1 && keys[d - 1] === k2) continue;
    keys[d] = k0;
    keys[d + 1] = k1;
    keys[d + 2] = k2;
    distinct++;
  }
  const filter = KeyFilter.build(keys.subarray(0, distinct * 3));
  const pages = Math.ceil(rows / PAGE_ROWS);
  const fpWords = filter.fingerprints.length + (filter.fingerprints.length & 1);
  const len = HEADER + fpWords * 2 + pages * 8 + 4;
  const out = new Uint8Array(len);
  const o = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = FILTER_MAGIC.charCodeAt(i);
  out[4] = FILTER_VERSION;
  o.setUint32(8, distinct, true);
  o.setUint32(12, filter.seed, true);
  o.setUint32(16, filter.blockLength, true);
  o.setUint32(20, rows, true);
  o.setUint32(24, PAGE_ROWS, true);
  let at = HEADER;
  for (const f of filter.fingerprints) {
    o.setUint16(at, f, true);
    at += 2;
  }
  at = HEADER + fpWords * 2;
  for (let p = 0; p < pages; p++) o.setUint32(at + p * 4, view.getUint32(HASHES_HEADER + p * PAGE_ROWS * HASHES_ROW, true), true);
  at += pages * 4;
  for (let p = 0; p < pages; p++) {
    const from = HASHES_HEADER + p * PAGE_ROWS * HASHES_ROW;
    const to = HASHES_HEADER + Math.min(rows, (p + 1) * PAGE_ROWS) * HASHES_ROW;
    o.setUint32(at + p * 4, crc32(hashes, from, to), true);
  }
  at += pages * 4;
  o.setUint32(at, crc32(out, 0, at), true);
  return out;
}

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(`segment key filter: ${msg}`);
}

/** Decodes and verifies (magic, version, checksum, lengths) a filter block. */
export function decodeKeyFilter(bytes: Uint8Array): KeyFilterBlock {
  const len = bytes.length;
  if (len < HEADER + 4) throw corrupt(`too short (${len} bytes)`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== FILTER_MAGIC.charCodeAt(i)) throw corrupt('bad magic');
  const v = new DataView(bytes.buffer, bytes.byteOffset, len);
  if (v.getUint32(len - 4, true) !== crc32(bytes, 0, len - 4)) throw corrupt('checksum mismatch');
  if (bytes[4] !== FILTER_VERSION) throw corrupt(`unsupported version ${bytes[4]}`);
  const seed = v.getUint32(12, true);
  const L = v.getUint32(16, true);
  const rows = v.getUint32(20, true);
  const pageRows = v.getUint32(24, true);
  if (L === 0 || pageRows === 0) throw corrupt('empty block length or page size');
  const fpCount = 3 * L;
  const fpWords = fpCount + (fpCount & 1);
  const pages = Math.ceil(rows / pageRows);
  if (len !== HEADER + fpWords * 2 + pages * 8 + 4) throw corrupt(`length ${len} does not match its header`);
  const fingerprints = new Uint16Array(fpCount);
  for (let i = 0; i < fpCount; i++) fingerprints[i] = v.getUint16(HEADER + i * 2, true);
  const fences = new Uint32Array(pages);
  const pageCrcs = new Uint32Array(pages);
  const at = HEADER + fpWords * 2;
  for (let p = 0; p < pages; p++) {
    fences[p] = v.getUint32(at + p * 4, true);
    pageCrcs[p] = v.getUint32(at + pages * 4 + p * 4, true);
  }
  return { filter: new KeyFilter(seed, L, fingerprints), rows, pageRows, fences, pageCrcs };
}

/**
 * The pages [from, to] of the hashes block that can hold rows whose first key word is `k0`
 * (rows are sorted, so usually one page; more only when equal k0 values straddle a fence).
 */
export function pagesFor(b: KeyFilterBlock, k0: number): { from: number; to: number } {
  const f = b.fences;
  const key = k0 >>> 0;
  // Last page whose fence is < key (rows of key may start in it), and last page whose fence is <= key.
  let lo = 0;
  let hi = f.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (f[m]! < key) lo = m + 1;
    else hi = m;
  }
  const from = Math.max(0, lo - 1);
  let to = lo;
  while (to < f.length && f[to] === key) to++;
  return { from, to: Math.max(from, to - 1) };
}

/** Byte range, within the hashes block, of pages [from, to]. */
export function pageRange(b: KeyFilterBlock, from: number, to: number): { offset: number; length: number } {
  const first = from * b.pageRows;
  const end = Math.min(b.rows, (to + 1) * b.pageRows);
  return { offset: HASHES_HEADER + first * HASHES_ROW, length: (end - first) * HASHES_ROW };
}

/** Rows of pages [from, to] read from the hashes block, each page checked against its CRC. */
export interface HashRow {
  readonly k0: number;
  readonly k1: number;
  readonly k2: number;
  readonly p0: number;
  readonly p1: number;
  readonly ingestedSec: number;
}

export function decodePages(b: KeyFilterBlock, from: number, to: number, bytes: Uint8Array): HashRow[] {
  const { length } = pageRange(b, from, to);
  if (bytes.length !== length) throw corrupt(`pages ${from}-${to}: ${bytes.length} bytes, expected ${length}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let off = 0;
  for (let p = from; p <= to; p++) {
    const rows = Math.min(b.rows, (p + 1) * b.pageRows) - p * b.pageRows;
    const n = rows * HASHES_ROW;
    if (crc32(bytes, off, off + n) !== b.pageCrcs[p]) throw corrupt(`page ${p}: checksum mismatch`);
    off += n;
  }
  const out: HashRow[] = [];
  for (let at = 0; at < bytes.length; at += HASHES_ROW) {
    out.push({
      k0: v.getUint32(at, true),
      k1: v.getUint32(at + 4, true),
      k2: v.getUint32(at + 8, true),
      p0: v.getUint32(at + 12, true),
      p1: v.getUint32(at + 16, true),
      ingestedSec: v.getUint32(at + 24, true),
    });
  }
  return out;
}
