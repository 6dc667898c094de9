/**
 * The hashes block of a raw segment (appended to its object — a sidecar object of its own in
 * segments written before — and what the dedupe index and compaction load instead of the
 * segment) and `payloadHash`, which ingest must use so its hashes equal the ones persisted here.
 * Both hashes are persisted: never change how they are computed or laid out; a change is a new
 * version.
 *
 * Layout (little-endian):
 *   "UHSH" magic (4) | u8 version = 1 | 3 zero bytes | u32 row count | 4 zero bytes
 *   per row, in the segment's row order (40 bytes): event_hash 4 x u32 (eventHash(event_id)),
 *     payload_hash 4 x u32 (murmur3x86_128 of UTF-8 canonicalPayload(e)), ingested_at_ms f64
 *   u32 CRC-32 of every byte before it
 */
import { canonicalPayload, type UsageEvent } from '../model/event.ts';
import { murmur3x86_128 } from '../model/hash.ts';
import { crc32 } from './crc32.ts';
import { SegmentCorruptError } from './errors.ts';
import { HashScratch, murmurScratch } from './murmur.ts';
import { PayloadEncoder, type PayloadParts } from './payload.ts';

export const HASHES_MAGIC = 'UHSH';
export const HASHES_VERSION = 1;
const HEADER = 16;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const ROW = 40;

export interface SegmentHashes {
  count: number;
  /** 4 words per row (row i at [4i, 4i+4)). */
  eventHashes: Uint32Array;
  /** 4 words per row. */
  payloadHashes: Uint32Array;
  ingestedAt: Float64Array;
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

/**
 * Event and payload hashes of single events, as the hashes block stores them (8 words: event hash,
 * payload hash), through reused scratch buffers: what ingest computes once per event and hands
 * to the segment encoder. Not reentrant: one per caller that hashes synchronously.
 */
export class EventHasher {
  private readonly pe = new PayloadEncoder();
  private readonly ids = new HashScratch();
  private readonly h = new Uint32Array(4);

  /** Writes the 8 words of `e` to `out[at, at + 8)`. */
  hashInto(e: UsageEvent, out: Uint32Array, at: number): void {
    const h = this.h;
    const id = e.event_id;
    this.ids.ensure(id.length * 3);
    murmurScratch(this.ids, utf8.encodeInto(id, this.ids.bytes).written, h);
    out[at] = h[0]!;
    out[at + 1] = h[1]!;
    out[at + 2] = h[2]!;
    out[at + 3] = h[3]!;
    this.pe.hash(e, h);
    out[at + 4] = h[0]!;
    out[at + 5] = h[1]!;
    out[at + 6] = h[2]!;
    out[at + 7] = h[3]!;
  }
}

/** Hashes of every input row, in input order: 8 words per row (event hash, payload hash). */
function hashRows(events: readonly UsageEvent[], parts: PayloadParts | undefined): Uint32Array {
  const n = events.length;
  const words = new Uint32Array(n * 8);
  if (parts === undefined) {
    const hasher = new EventHasher();
    for (let i = 0; i < n; i++) hasher.hashInto(events[i]!, words, i * 8);
    return words;
  }
  const h = new Uint32Array(4);
  const pe = new PayloadEncoder();
  const ids = new HashScratch();
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    const w = i * 8;
    const id = e.event_id;
    ids.ensure(id.length * 3);
    murmurScratch(ids, utf8.encodeInto(id, ids.bytes).written, h);
    words[w] = h[0]!;
    words[w + 1] = h[1]!;
    words[w + 2] = h[2]!;
    words[w + 3] = h[3]!;
    pe.hashWithParts(e, i, parts, h);
    words[w + 4] = h[0]!;
    words[w + 5] = h[1]!;
    words[w + 6] = h[2]!;
    words[w + 7] = h[3]!;
  }
  return words;
}

/**
 * The hashes block for `events` taken in `order` (a permutation of all rows; default: as given).
 * `parts` (values the segment encoder already interned, by input row) and `ingestedAt` (by
 * input row) only make it faster; `precomputed` (8 words per input row, as `EventHasher` writes
 * them) skips hashing altogether.
 */
export function encodeSegmentHashes(
  events: readonly UsageEvent[],
  order?: ArrayLike<number>,
  parts?: PayloadParts,
  ingestedAt?: Float64Array,
  precomputed?: Uint32Array,
): Uint8Array {
  const n = events.length;
  if (order !== undefined && order.length !== n) throw new RangeError('order must list every row');
  if (precomputed !== undefined && precomputed.length !== n * 8) throw new RangeError('precomputed hashes must hold 8 words per row');
  // Hash in input order (memory order of the events), then lay rows out in segment order.
  const words = precomputed ?? hashRows(events, parts);
  const out = new Uint8Array(HEADER + n * ROW + 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = HASHES_MAGIC.charCodeAt(i);
  out[4] = HASHES_VERSION;
  view.setUint32(8, n, true);
  let at = HEADER;
  if (LITTLE_ENDIAN) {
    // Fresh buffer, header 16 and rows 40 bytes: every u32 and f64 is aligned.
    const u32 = new Uint32Array(out.buffer, 0, (HEADER + n * ROW) / 4);
    const f64 = new Float64Array(out.buffer, 0, (HEADER + n * ROW) / 8);
    for (let i = 0; i < n; i++) {
      const row = order === undefined ? i : order[i]!;
      const w = row * 8;
      const a = at / 4;
      u32[a] = words[w]!;
      u32[a + 1] = words[w + 1]!;
      u32[a + 2] = words[w + 2]!;
      u32[a + 3] = words[w + 3]!;
      u32[a + 4] = words[w + 4]!;
      u32[a + 5] = words[w + 5]!;
      u32[a + 6] = words[w + 6]!;
      u32[a + 7] = words[w + 7]!;
      f64[(at + 32) / 8] = ingestedAt === undefined ? events[row]!.ingested_at_ms : ingestedAt[row]!;
      at += ROW;
    }
  } else {
    for (let i = 0; i < n; i++) {
      const row = order === undefined ? i : order[i]!;
      const w = row * 8;
      for (let k = 0; k < 8; k++) view.setUint32(at + k * 4, words[w + k]!, true);
      view.setFloat64(at + 32, events[row]!.ingested_at_ms, true);
      at += ROW;
    }
  }
  view.setUint32(at, crc32(out, 0, at), true);
  return out;
}

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(`segment hashes: ${msg}`);
}

/** Decodes and verifies (magic, checksum, version, length) a hashes block. */
export function decodeSegmentHashes(bytes: Uint8Array): SegmentHashes {
  if (!(bytes instanceof Uint8Array)) throw corrupt('not a byte array');
  const len = bytes.length;
  if (len < HEADER + 4) throw corrupt(`too short (${len} bytes)`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== HASHES_MAGIC.charCodeAt(i)) throw corrupt('bad magic');
  const view = new DataView(bytes.buffer, bytes.byteOffset, len);
  if (view.getUint32(len - 4, true) !== crc32(bytes, 0, len - 4)) throw corrupt('checksum mismatch');
  if (bytes[4] !== HASHES_VERSION) throw corrupt(`unsupported version ${bytes[4]}`);
  if (bytes[5] !== 0 || bytes[6] !== 0 || bytes[7] !== 0 || view.getUint32(12, true) !== 0) throw corrupt('reserved bytes set');
  const count = view.getUint32(8, true);
  if (len !== HEADER + count * ROW + 4) throw corrupt(`length ${len} does not match ${count} rows`);
  const eventHashes = new Uint32Array(count * 4);
  const payloadHashes = new Uint32Array(count * 4);
  const ingestedAt = new Float64Array(count);
  let at = HEADER;
  for (let i = 0; i < count; i++) {
    const w = i * 4;
    eventHashes[w] = view.getUint32(at, true);
    eventHashes[w + 1] = view.getUint32(at + 4, true);
    eventHashes[w + 2] = view.getUint32(at + 8, true);
    eventHashes[w + 3] = view.getUint32(at + 12, true);
    payloadHashes[w] = view.getUint32(at + 16, true);
    payloadHashes[w + 1] = view.getUint32(at + 20, true);
    payloadHashes[w + 2] = view.getUint32(at + 24, true);
    payloadHashes[w + 3] = view.getUint32(at + 28, true);
    const t = view.getFloat64(at + 32, true);
    if (!Number.isSafeInteger(t)) throw corrupt(`row ${i}: ingested_at_ms is not an integer`);
    ingestedAt[i] = t;
    at += ROW;
  }
  return { count, eventHashes, payloadHashes, ingestedAt };
}
