/**
 * The key filter block of a compacted raw segment: an xor filter (Graf & Lemire, 2019) with
 * 16-bit fingerprints over the segment's distinct event keys, plus a page index of its sorted
 * hashes block, so a filter hit is confirmed by one ranged read of one page of rows.
 * Persisted: never change how it is computed or laid out; a change is a new version.
 *
 * Little-endian, in the segment object next to the hashes block:
 *   "UFLT" magic (4) | u8 version | 3 zero bytes | u32 distinct keys | u32 seed |
 *   u32 block length L | u32 hash rows | u32 page rows | 4 zero bytes      (header: 32 bytes)
 *   3L x u16 fingerprints (padded with one u16 when 3L is odd)
 *   pages x u32: k0 (first event-key word) of the first row of each page of `page rows` rows
 *   pages x u32: CRC-32 of each page's row bytes in the hashes block
 *   u32 CRC-32 of every byte before it
 *
 * Version 2 (written now): over the 80-bit keys (k0, k1, k2 & 0xffff) of a version 3 hashes
 * block (22-byte rows), and placed BEFORE it: object = container | filter | hashes. A reader
 * that knows only the entry (`bytes`, `filter_bytes`) finds it at `bytes` whatever the row size.
 * Version 1 (read only): over the 96-bit keys (k0, k1, k2) of a version 2 hashes block (28-byte
 * rows), placed AFTER it: container | hashes | filter. A read at `bytes` then meets the hashes
 * block's "UHSH" header, whose row count says where the filter is (`filterAfterHashes`).
 *
 * No false negatives: every key the filter was built from answers `maybe` (a probe passes the
 * full key words; the filter hashes the bits its version covers). A key not in it answers
 * `maybe` with probability ~2^-16 (a fingerprint match). The filter alone never decides a
 * duplicate: a hit is confirmed against the page's rows (docs/dedupe.md).
 */
import { crc32 } from './crc32.ts';
import { SegmentCorruptError } from './errors.ts';
import { HASHES_HEADER, HASHES_MAGIC, HASHES_ROW, HASHES_ROW_V2, hashesBlockLength, KEY2_MASK } from './hashes.ts';

export const FILTER_MAGIC = 'UFLT';
/** Written now: 80-bit keys, before a version 3 hashes block. */
export const FILTER_VERSION = 2;
const HEADER = 32;
/** Rows of the hashes block per page: one confirming read is PAGE_ROWS x 22 bytes (5.5 KiB; 7 KiB of 28-byte rows). */
export const PAGE_ROWS = 256;
export { HASHES_HEADER, HASHES_ROW };

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

/**
 * An xor filter over event keys given as 3 words each; `key2Mask` is the bits of word 2 it
 * covers (0xffff: 80-bit keys, version 2; 0xffffffff: 96-bit keys, version 1).
 */
export class KeyFilter {
  readonly seed: number;
  readonly blockLength: number;
  readonly fingerprints: Uint16Array;
  readonly key2Mask: number;

  constructor(seed: number, blockLength: number, fingerprints: Uint16Array, key2Mask: number = KEY2_MASK) {
    this.seed = seed >>> 0;
    this.blockLength = blockLength;
    this.fingerprints = fingerprints;
    this.key2Mask = key2Mask >>> 0;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.fingerprints.byteLength;
  }

  /** `true`: the key may be in the set (confirm it); `false`: it is certainly not. */
  mayContain(k0: number, k1: number, key2: number): boolean {
    const k2 = (key2 & this.key2Mask) >>> 0;
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
   * Builds a filter of `keys` (3 words a key, distinct in the bits `key2Mask` keeps of word 2;
   * the others are ignored). Deterministic: seeds 1, 2, … are tried until the peeling succeeds
   * (expected ~1.1 tries at this size factor).
   */
  static build(keys: Uint32Array, key2Mask: number = KEY2_MASK): KeyFilter {
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
        const k2 = (keys[i * 3 + 2]! & key2Mask) >>> 0;
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
        const fp = mix(keys[i * 3]!, keys[i * 3 + 1]!, (keys[i * 3 + 2]! & key2Mask) >>> 0, seed ^ 0x165667b1) & 0xffff;
        f[stackSlot[x]!] = fp ^ f[slots[i * 3]!]! ^ f[slots[i * 3 + 1]!]! ^ f[slots[i * 3 + 2]!]!;
      }
      return new KeyFilter(seed, L, f, key2Mask);
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
  /** Bytes per row of the hashes block the pages index (22: version 3 rows; 28: version 2). */
  readonly rowBytes: number;
  /**
   * Offset of the hashes block from the end of the container (`entry.bytes`): this block's own
   * length for a version 2 filter (it comes first), 0 for version 1 (the hashes come first).
   */
  readonly hashesAt: number;
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
 * The filter block for a sorted hashes block as `encodeSegmentHashes` writes it: version 2 for a
 * version 3 block (written now), version 1 for a version 2 block (what older releases wrote;
 * kept so tests can build such segments).
 */
export function encodeKeyFilter(hashes: Uint8Array): Uint8Array {
  const view = new DataView(hashes.buffer, hashes.byteOffset, hashes.byteLength);
  const hashesVersion = hashes[4];
  if (hashesVersion !== 2 && hashesVersion !== 3) throw new RangeError(`key filter: hashes block version ${hashesVersion} is not sorted by key`);
  const v1 = hashesVersion === 2;
  const rowBytes = v1 ? HASHES_ROW_V2 : HASHES_ROW;
  const mask = v1 ? 0xffffffff : KEY2_MASK;
  const rows = view.getUint32(8, true);
  const keys = new Uint32Array(rows * 3);
  let distinct = 0;
  for (let r = 0; r < rows; r++) {
    const at = HASHES_HEADER + r * rowBytes;
    const k0 = view.getUint32(at, true);
    const k1 = view.getUint32(at + 4, true);
    const k2 = v1 ? view.getUint32(at + 8, true) : view.getUint16(at + 8, true);
    const d = distinct * 3;
    // Rows are sorted: equal keys (two payloads of one event) are adjacent.
    if (distinct > 0 && keys[d - 3] === k0 && keys[d - 2] === k1 && keys[d - 1] === k2) continue;
    keys[d] = k0;
    keys[d + 1] = k1;
    keys[d + 2] = k2;
    distinct++;
  }
  const filter = KeyFilter.build(keys.subarray(0, distinct * 3), mask);
  const pages = Math.ceil(rows / PAGE_ROWS);
  const fpWords = filter.fingerprints.length + (filter.fingerprints.length & 1);
  const len = HEADER + fpWords * 2 + pages * 8 + 4;
  const out = new Uint8Array(len);
  const o = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = FILTER_MAGIC.charCodeAt(i);
  out[4] = v1 ? 1 : FILTER_VERSION;
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
  for (let p = 0; p < pages; p++) o.setUint32(at + p * 4, view.getUint32(HASHES_HEADER + p * PAGE_ROWS * rowBytes, true), true);
  at += pages * 4;
  for (let p = 0; p < pages; p++) {
    const from = HASHES_HEADER + p * PAGE_ROWS * rowBytes;
    const to = HASHES_HEADER + Math.min(rows, (p + 1) * PAGE_ROWS) * rowBytes;
    o.setUint32(at + p * 4, crc32(hashes, from, to), true);
  }
  at += pages * 4;
  o.setUint32(at, crc32(out, 0, at), true);
  return out;
}

/**
 * Where a version 1 filter lies when a read at the container's end met a hashes block instead
 * (the layout before version 2: container | hashes v2 | filter): its offset from the container's
 * end. `undefined` when `head` is neither a version 2 hashes block's header nor long enough.
 */
export function filterAfterHashes(head: Uint8Array): number | undefined {
  if (head.length < HASHES_HEADER) return undefined;
  for (let i = 0; i < 4; i++) if (head[i] !== HASHES_MAGIC.charCodeAt(i)) return undefined;
  if (head[4] !== 2) return undefined;
  return hashesBlockLength(new DataView(head.buffer, head.byteOffset, head.length).getUint32(8, true), 2);
}

/** Whether `bytes` start with a filter block's magic. */
export function isFilterBlock(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  for (let i = 0; i < 4; i++) if (bytes[i] !== FILTER_MAGIC.charCodeAt(i)) return false;
  return true;
}

/** Length of the filter block `bytes` starts with, from its header (not verified: decode it for that). */
export function filterBlockLength(bytes: Uint8Array): number {
  if (bytes.length < HEADER) throw corrupt(`too short (${bytes.length} bytes)`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const fpCount = 3 * v.getUint32(16, true);
  const pageRows = v.getUint32(24, true);
  if (pageRows === 0) throw corrupt('empty page size');
  return HEADER + (fpCount + (fpCount & 1)) * 2 + Math.ceil(v.getUint32(20, true) / pageRows) * 8 + 4;
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
  const version = bytes[4];
  if (version !== 1 && version !== FILTER_VERSION) throw corrupt(`unsupported version ${version}`);
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
  const v1 = version === 1;
  return {
    filter: new KeyFilter(seed, L, fingerprints, v1 ? 0xffffffff : KEY2_MASK),
    rows,
    pageRows,
    rowBytes: v1 ? HASHES_ROW_V2 : HASHES_ROW,
    hashesAt: v1 ? 0 : len,
    fences,
    pageCrcs,
  };
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

/** Byte range of pages [from, to] from the end of the container (`entry.bytes`), whichever layout. */
export function pageRange(b: KeyFilterBlock, from: number, to: number): { offset: number; length: number } {
  const first = from * b.pageRows;
  const end = Math.min(b.rows, (to + 1) * b.pageRows);
  return { offset: b.hashesAt + HASHES_HEADER + first * b.rowBytes, length: (end - first) * b.rowBytes };
}

/**
 * A row of pages read from the hashes block, in the bits every version holds: the 80-bit key
 * (k2 is word 2 & 0xffff) and the 32-bit payload — a version 2 row is cut to them.
 */
export interface HashRow {
  readonly k0: number;
  readonly k1: number;
  readonly k2: number;
  readonly p: number;
  readonly ingestedSec: number;
}

export function decodePages(b: KeyFilterBlock, from: number, to: number, bytes: Uint8Array): HashRow[] {
  const { length } = pageRange(b, from, to);
  if (bytes.length !== length) throw corrupt(`pages ${from}-${to}: ${bytes.length} bytes, expected ${length}`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  let off = 0;
  for (let p = from; p <= to; p++) {
    const rows = Math.min(b.rows, (p + 1) * b.pageRows) - p * b.pageRows;
    const n = rows * b.rowBytes;
    if (crc32(bytes, off, off + n) !== b.pageCrcs[p]) throw corrupt(`page ${p}: checksum mismatch`);
    off += n;
  }
  const out: HashRow[] = [];
  const v2 = b.rowBytes === HASHES_ROW_V2;
  for (let at = 0; at < bytes.length; at += b.rowBytes) {
    out.push(
      v2
        ? {
            k0: v.getUint32(at, true),
            k1: v.getUint32(at + 4, true),
            k2: v.getUint32(at + 8, true) & KEY2_MASK,
            p: v.getUint32(at + 12, true),
            ingestedSec: v.getUint32(at + 24, true),
          }
        : {
            k0: v.getUint32(at, true),
            k1: v.getUint32(at + 4, true),
            k2: v.getUint16(at + 8, true),
            p: v.getUint32(at + 10, true),
            ingestedSec: v.getUint32(at + 18, true),
          },
    );
  }
  return out;
}
