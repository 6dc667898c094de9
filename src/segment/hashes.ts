/**
 * The hashes block of a raw segment (appended to its object; a sidecar object in segments
 * written long ago): what the dedupe index and compaction load instead of the segment, plus the
 * hashes ingest computes once per event. The hashes are persisted: never change how they are
 * computed or laid out; a change is a new version (every version decodes).
 *
 * Version 3 (written now), little-endian, rows sorted by event key (k0, k1, k2 & 0xffff):
 *   "UHSH" magic (4) | u8 version = 3 | 3 zero bytes | u32 row count | 4 zero bytes
 *   per row (22 bytes): event key k0 u32, k1 u32, k2 u16 = 80 bits of murmur3x86_128(account_id
 *     NUL event_id) (words 0 and 1 and the low 16 bits of word 2; the idempotency key is
 *     (account_id, event_id): ids and accounts never hold NUL) | payload u32 = 32 bits of
 *     murmur3x86_128(canonicalPayload(e)) (its first word) | id u32 = 32 bits of
 *     murmur3x86_128(event_id) alone (finds one id reused under two accounts) | u32 ingested
 *     second (ingested_at_ms / 1000, floored; saturates in 2106 — only the dedupe window reads it)
 *   u32 CRC-32 of every byte before it
 * The arithmetic of these widths is in docs/dedupe.md ("How exact it is").
 *
 * Version 2 (read only): the same header with version = 2, rows of 28 bytes sorted by (k0, k1,
 * k2): k0, k1, k2 u32 (96 bits) | payload 2 x u32 (64 bits) | id u32 | u32 ingested second.
 *
 * Every reader compares what every version holds: the 80-bit key (k0, k1, k2 & 0xffff) and the
 * 32-bit payload (`SegmentHashes` is that form whichever version a block is), so a row of a
 * version 2 block and a row of a version 3 block of the same event are equal.
 *
 * Version 1 (read only), rows in segment order (40 bytes): event hash 4 x u32 of event_id alone,
 * payload hash 4 x u32, ingested_at_ms f64. Its event hash is not scoped by account, so readers
 * recompute keys from the segment's columns (objects/segment-objects.ts).
 */
import { canonicalPayload, type UsageEvent } from '../model/event.ts';
import { murmur3x86_128 } from '../model/hash.ts';
import { crc32 } from './crc32.ts';
import { SegmentCorruptError } from './errors.ts';
import { HashScratch, murmurScratch } from './murmur.ts';
import { PayloadEncoder, type PayloadParts } from './payload.ts';

export const HASHES_MAGIC = 'UHSH';
export const HASHES_VERSION = 3;
/** Bytes before the first row, and after the last (the CRC-32). */
export const HASHES_HEADER = 16;
const HEADER = HASHES_HEADER;
const ROW_V1 = 40;
/** Row bytes of a version 2 block (read only). */
export const HASHES_ROW_V2 = 28;
/** Row bytes of a version 3 block (written now). */
export const HASHES_ROW = 22;
const ROW = HASHES_ROW;

/** The bits of event-key word 2 every reader compares (80-bit keys: k0, k1 and these 16). */
export const KEY2_MASK = 0xffff;

/** Bytes of a hashes block of `rows` rows of a version (2 or 3): header, rows, CRC-32. */
export function hashesBlockLength(rows: number, version: 2 | 3 = HASHES_VERSION): number {
  return HEADER + rows * (version === 2 ? HASHES_ROW_V2 : HASHES_ROW) + 4;
}

/**
 * Words per event of what ingest hashes once (`EventHasher`): [0, 4) the scoped event key (128
 * bits; 80 persisted), [4, 8) the payload hash (128 bits; 32 persisted), [8] the id hash (32 bits).
 */
export const HASH_WORDS = 9;

/**
 * A decoded version 2 or 3 block: the form every reader of hashes works with, the bits both
 * versions hold (a version 2 block's longer key and payload are cut to these on decode).
 */
export interface SegmentHashes {
  readonly count: number;
  /**
   * 3 words per row: the 80-bit event key of (account_id, event_id) — k0, k1, and k2 & KEY2_MASK.
   * Sorted when from a block.
   */
  readonly keys: Uint32Array;
  /** 1 word per row: 32 bits of the payload hash (its first word). */
  readonly payloads: Uint32Array;
  /** 1 word per row: 32 bits of the hash of event_id alone. */
  readonly ids: Uint32Array;
  /** The second each row was ingested (ingested_at_ms / 1000, floored). */
  readonly ingestedSec: Uint32Array;
}

/** A decoded version 1 block (rows in segment order; event hashes of event_id alone). */
export interface SegmentHashesV1 {
  readonly count: number;
  /** 4 words per row. */
  readonly eventHashes: Uint32Array;
  /** 4 words per row. */
  readonly payloadHashes: Uint32Array;
  readonly ingestedAt: Float64Array;
}

const utf8 = new TextEncoder();

/** Reusable UTF-8 scratch space: no buffer allocated per hashed string. */
class Scratch {
  buf = new Uint8Array(1024);
  /** UTF-8 of `s` as a view into the scratch buffer (valid until the next call). */
  utf8(s: string): Uint8Array {
    if (s.length * 3 > this.buf.length) this.buf = new Uint8Array(s.length * 3 + 1024);
    return this.buf.subarray(0, utf8.encodeInto(s, this.buf).written);
  }
}
const scratch = new Scratch();

/** The payload hash of an event: murmur3x86_128 of the UTF-8 of its canonical payload. */
export function payloadHash(e: UsageEvent, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  return murmur3x86_128(scratch.utf8(canonicalPayload(e)), 0, out);
}

/** Event key and id hash of (account_id, event_id), as the hashes block stores them. */
class KeyHasher {
  private readonly s = new HashScratch();
  private readonly h = new Uint32Array(4);
  /** Views of the scratch bytes from an offset (the event id after `account\0`), made once per offset. */
  private views: Uint8Array[] = [];
  private viewsOf: Uint8Array | undefined;

  private from(offset: number): Uint8Array {
    const bytes = this.s.bytes;
    if (this.viewsOf !== bytes) {
      this.views = [];
      this.viewsOf = bytes;
    }
    return (this.views[offset] ??= bytes.subarray(offset));
  }

  /** Writes the 128-bit key of (account, id) to out[at, at + 4) and the id hash to out[idAt]. */
  hash(accountId: string, eventId: string, out: Uint32Array, at: number, idAt: number): void {
    const s = this.s;
    const h = this.h;
    s.ensure((accountId.length + eventId.length) * 3 + 1);
    const idLen = utf8.encodeInto(eventId, s.bytes).written;
    murmurScratch(s, idLen, h);
    out[idAt] = h[0]!;
    const accLen = utf8.encodeInto(accountId, s.bytes).written;
    s.bytes[accLen] = 0;
    const total = accLen + 1 + utf8.encodeInto(eventId, this.from(accLen + 1)).written;
    murmurScratch(s, total, h);
    out[at] = h[0]!;
    out[at + 1] = h[1]!;
    out[at + 2] = h[2]!;
    out[at + 3] = h[3]!;
  }
}

/** The event key of (account_id, event_id), 4 words (blocks keep 80 bits: words 0, 1 and word 2 & KEY2_MASK). */
export function eventKey(accountId: string, eventId: string, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  const words = new Uint32Array(HASH_WORDS);
  new KeyHasher().hash(accountId, eventId, words, 0, 8);
  out.set(words.subarray(0, 4));
  return out;
}

/**
 * Event keys, payload and id hashes of single events (HASH_WORDS words each), through reused
 * scratch buffers: what ingest computes once per event and hands to the segment encoder. Not
 * reentrant: one per caller that hashes synchronously.
 */
export class EventHasher {
  private readonly pe = new PayloadEncoder();
  private readonly keys = new KeyHasher();
  private readonly h = new Uint32Array(4);

  /** Writes the HASH_WORDS words of `e` to `out[at, at + HASH_WORDS)`. */
  hashInto(e: UsageEvent, out: Uint32Array, at: number): void {
    this.keys.hash(e.account_id, e.event_id, out, at, at + 8);
    const h = this.h;
    this.pe.hash(e, h);
    out[at + 4] = h[0]!;
    out[at + 5] = h[1]!;
    out[at + 6] = h[2]!;
    out[at + 7] = h[3]!;
  }
}

/** HASH_WORDS words per row, in input order. */
function hashRows(events: readonly UsageEvent[], parts: PayloadParts | undefined): Uint32Array {
  const n = events.length;
  const words = new Uint32Array(n * HASH_WORDS);
  if (parts === undefined) {
    const hasher = new EventHasher();
    for (let i = 0; i < n; i++) hasher.hashInto(events[i]!, words, i * HASH_WORDS);
    return words;
  }
  const h = new Uint32Array(4);
  const pe = new PayloadEncoder();
  const keys = new KeyHasher();
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    const w = i * HASH_WORDS;
    keys.hash(e.account_id, e.event_id, words, w, w + 8);
    pe.hashWithParts(e, i, parts, h);
    words[w + 4] = h[0]!;
    words[w + 5] = h[1]!;
    words[w + 6] = h[2]!;
    words[w + 7] = h[3]!;
  }
  return words;
}

/** Row order by 80-bit event key (k0, k1, k2 & KEY2_MASK), unsigned. */
function sortedByKey(words: Uint32Array, n: number): Uint32Array {
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => {
    const x = a * HASH_WORDS;
    const y = b * HASH_WORDS;
    return words[x]! - words[y]! || words[x + 1]! - words[y + 1]! || (words[x + 2]! & KEY2_MASK) - (words[y + 2]! & KEY2_MASK);
  });
  return order;
}

/**
 * The hashes block (version 3) of `events`. `parts` (values the segment encoder already
 * interned, by input row) and `ingestedAt` (by input row) only make it faster; `precomputed`
 * (HASH_WORDS words per input row, as `EventHasher` writes them) skips hashing altogether.
 */
export function encodeSegmentHashes(events: readonly UsageEvent[], parts?: PayloadParts, ingestedAt?: Float64Array, precomputed?: Uint32Array): Uint8Array {
  const n = events.length;
  if (precomputed !== undefined && precomputed.length !== n * HASH_WORDS) throw new RangeError(`precomputed hashes must hold ${HASH_WORDS} words per row`);
  const words = precomputed ?? hashRows(events, parts);
  const order = sortedByKey(words, n);
  const out = new Uint8Array(HEADER + n * ROW + 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = HASHES_MAGIC.charCodeAt(i);
  out[4] = HASHES_VERSION;
  view.setUint32(8, n, true);
  let at = HEADER;
  for (let i = 0; i < n; i++) {
    const row = order[i]!;
    const w = row * HASH_WORDS;
    view.setUint32(at, words[w]!, true);
    view.setUint32(at + 4, words[w + 1]!, true);
    view.setUint16(at + 8, words[w + 2]! & KEY2_MASK, true);
    view.setUint32(at + 10, words[w + 4]!, true);
    view.setUint32(at + 14, words[w + 8]!, true);
    view.setUint32(at + 18, ingestedSecond(ingestedAt === undefined ? events[row]!.ingested_at_ms : ingestedAt[row]!), true);
    at += ROW;
  }
  view.setUint32(at, crc32(out, 0, at), true);
  return out;
}

/** The second stored for an ingestion time: u32 seconds, saturating in the year 2106. */
export function ingestedSecond(ms: number): number {
  return Math.min(0xffffffff, Math.max(0, Math.floor(ms / 1000)));
}

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(`segment hashes: ${msg}`);
}

/** Decodes and verifies (magic, checksum, version, length, order) a hashes block of either version. */
export function decodeSegmentHashes(bytes: Uint8Array): SegmentHashes | SegmentHashesV1 {
  if (!(bytes instanceof Uint8Array)) throw corrupt('not a byte array');
  const len = bytes.length;
  if (len < HEADER + 4) throw corrupt(`too short (${len} bytes)`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== HASHES_MAGIC.charCodeAt(i)) throw corrupt('bad magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, len);
  if (view.getUint32(len - 4, true) !== crc32(bytes, 0, len - 4)) throw corrupt('checksum mismatch');
  const version = bytes[4];
  if (version !== 1 && version !== 2 && version !== 3) throw corrupt(`unsupported version ${version}`);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0 || view.getUint32(12, true) !== 0) throw corrupt('reserved bytes set');
  const count = view.getUint32(8, true);
  const row = version === 1 ? ROW_V1 : version === 2 ? HASHES_ROW_V2 : ROW;
  if (len !== HEADER + count * row + 4) throw corrupt(`length ${len} does not match ${count} rows`);
  return version === 1 ? decodeV1(view, count) : version === 2 ? decodeV2(view, count) : decodeV3(view, count);
}

/** The columns of `count` decoded rows, zeroed. */
function emptyHashes(count: number): SegmentHashes {
  return { count, keys: new Uint32Array(count * 3), payloads: new Uint32Array(count), ids: new Uint32Array(count), ingestedSec: new Uint32Array(count) };
}

/** A version 2 block, its 96-bit keys and 64-bit payloads cut to the bits version 3 keeps. */
function decodeV2(view: DataView, count: number): SegmentHashes {
  const { keys, payloads, ids, ingestedSec } = emptyHashes(count);
  let at = HEADER;
  let p0 = 0;
  let p1 = 0;
  let p2 = 0;
  for (let i = 0; i < count; i++) {
    const k = i * 3;
    const k0 = view.getUint32(at, true);
    const k1 = view.getUint32(at + 4, true);
    const k2 = view.getUint32(at + 8, true);
    // Checked on all 96 stored bits: the order the block was written in.
    if (i > 0 && (p0 - k0 || p1 - k1 || p2 - k2) > 0) throw corrupt(`row ${i}: rows are not sorted by event key`);
    p0 = k0;
    p1 = k1;
    p2 = k2;
    keys[k] = k0;
    keys[k + 1] = k1;
    keys[k + 2] = k2 & KEY2_MASK;
    payloads[i] = view.getUint32(at + 12, true);
    ids[i] = view.getUint32(at + 20, true);
    ingestedSec[i] = view.getUint32(at + 24, true);
    at += HASHES_ROW_V2;
  }
  return { count, keys, payloads, ids, ingestedSec };
}

function decodeV3(view: DataView, count: number): SegmentHashes {
  const { keys, payloads, ids, ingestedSec } = emptyHashes(count);
  let at = HEADER;
  for (let i = 0; i < count; i++) {
    const k = i * 3;
    keys[k] = view.getUint32(at, true);
    keys[k + 1] = view.getUint32(at + 4, true);
    keys[k + 2] = view.getUint16(at + 8, true);
    payloads[i] = view.getUint32(at + 10, true);
    ids[i] = view.getUint32(at + 14, true);
    ingestedSec[i] = view.getUint32(at + 18, true);
    if (k > 0 && compareKeys(keys, k - 3, k) > 0) throw corrupt(`row ${i}: rows are not sorted by event key`);
    at += ROW;
  }
  return { count, keys, payloads, ids, ingestedSec };
}

function decodeV1(view: DataView, count: number): SegmentHashesV1 {
  const eventHashes = new Uint32Array(count * 4);
  const payloadHashes = new Uint32Array(count * 4);
  const ingestedAt = new Float64Array(count);
  let at = HEADER;
  for (let i = 0; i < count; i++) {
    const w = i * 4;
    for (let k = 0; k < 4; k++) eventHashes[w + k] = view.getUint32(at + k * 4, true);
    for (let k = 0; k < 4; k++) payloadHashes[w + k] = view.getUint32(at + 16 + k * 4, true);
    const t = view.getFloat64(at + 32, true);
    if (!Number.isSafeInteger(t)) throw corrupt(`row ${i}: ingested_at_ms is not an integer`);
    ingestedAt[i] = t;
    at += ROW_V1;
  }
  return { count, eventHashes, payloadHashes, ingestedAt };
}

/** Orders two 3-word keys of `keys` at word offsets a and b (unsigned). */
function compareKeys(keys: Uint32Array, a: number, b: number): number {
  return keys[a]! - keys[b]! || keys[a + 1]! - keys[b + 1]! || keys[a + 2]! - keys[b + 2]!;
}

export function isVersion1(h: SegmentHashes | SegmentHashesV1): h is SegmentHashesV1 {
  return 'eventHashes' in h;
}
