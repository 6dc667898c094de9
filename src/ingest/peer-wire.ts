/**
 * The body of a forwarded submit between Node processes (runtime/peer-forwarder.ts sends it, the
 * internal route api/routes/peer.ts reads it): one shard's validated, canonical events and their
 * hash words, as computed by the process that received them from the client.
 *
 *   { "v": 1,
 *     "events": [[event_id, kind, account_id, subscription_id, product_id, meter_id, model_id,
 *                 source, unit, timestamp_ms, "quantity", dimensions, correction_ref | null
 *                 ([original_event_id, reason]), ingested_at_ms], ...],
 *     "hashes": "<base64>" }
 *
 * `v` is the wire's version (PEER_WIRE_VERSION): field positions, hash words and their meaning
 * are this release's. A receiver answers 400 naming `v` to any other version, or to none (a
 * release before the field), and the sender, refused before any commit, commits the shard
 * itself (peer-forwarder.ts): during a rolling deploy, processes of two releases never read each
 * other's rows, they only stop sharing the committer until both run the same release.
 *
 * Rows rather than objects: no key names to write and read for every event (measured: encode +
 * parse + check about half the time of objects).
 *
 * `hashes` is the little-endian bytes of HASH_WORDS 32-bit words per event, in order. The
 * receiver trusts the sender's validation (it authenticated with the peer token), as a shard's
 * Durable Object trusts isolates, but checks the structure: every field of the canonical shape
 * with its type, and exactly as many hash words as events need.
 */
import { ValidationError } from '../errors.ts';
import { EVENT_KINDS, PAYLOAD_FIELD_NAMES, payloadFields, type CorrectionRef, type EventKind, type UsageEvent } from '../model/event.ts';
import { HASH_WORDS } from '../segment/raw.ts';
import { hashWords, type PendingEvent } from './pending.ts';

export interface SubmitBody {
  readonly events: readonly UsageEvent[];
  readonly hashes: Uint32Array;
}

/**
 * Bytes a forwarded body may take beyond the client's: canonical events carry every optional
 * field (`null`), `kind`, `ingested_at_ms` and a quoted quantity, plus 48 base64 bytes of hash
 * words each. The internal route's body limit is twice the ingest limit plus this per event.
 */
export const PEER_BYTES_PER_EVENT = 256;

/** The version of this wire (see above); a change of rows, hash words or answers is a new one. */
export const PEER_WIRE_VERSION = 1;

/** The JSON text of a forwarded submit. */
export function encodeSubmit(events: readonly PendingEvent[]): string {
  const words = hashWords(events);
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  const rows = new Array<unknown[]>(events.length);
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!.event;
    // The canonical payload's fields, then ingested_at_ms (FIELDS below names the positions).
    const row = payloadFields(e);
    row.push(e.ingested_at_ms);
    rows[i] = row;
  }
  return JSON.stringify({ v: PEER_WIRE_VERSION, events: rows, hashes: toBase64(littleEndian(bytes)) });
}

/** The events and hash words of a parsed body; a ValidationError naming the field otherwise. */
export function decodeSubmit(body: unknown, maxEvents: number): SubmitBody {
  if (!isObject(body)) throw new ValidationError('body: must be a JSON object {"v": 1, "events": [...], "hashes": "..."}', 'body');
  for (const k of Object.keys(body))
    if (k !== 'v' && k !== 'events' && k !== 'hashes') throw new ValidationError(`${k.slice(0, 64)}: unknown field`, k.slice(0, 64));
  if (body.v !== PEER_WIRE_VERSION) {
    const got = body.v === undefined ? 'no version (a release before versioned peer calls)' : `version ${JSON.stringify(body.v).slice(0, 32)}`;
    throw new ValidationError(`v: the call has ${got}; this process speaks peer wire version ${PEER_WIRE_VERSION}`, 'v');
  }
  const raw = body.events;
  if (!Array.isArray(raw)) throw new ValidationError('events: must be an array', 'events');
  if (raw.length > maxEvents) throw new ValidationError(`events: ${raw.length} events; at most ${maxEvents}`, 'events');
  if (typeof body.hashes !== 'string') throw new ValidationError('hashes: must be a base64 string', 'hashes');
  const bytes = fromBase64(body.hashes);
  if (bytes === undefined || bytes.length !== raw.length * HASH_WORDS * 4) {
    throw new ValidationError(`hashes: ${raw.length} events need ${raw.length * HASH_WORDS * 4} bytes of hash words in base64`, 'hashes');
  }
  const le = littleEndian(bytes);
  const hashes = new Uint32Array(le.buffer, le.byteOffset, le.byteLength / 4);
  const events = new Array<UsageEvent>(raw.length);
  for (let i = 0; i < raw.length; i++) events[i] = eventOf(raw[i], `events.${i}`);
  return { events, hashes };
}

/** Positions of an event's fields in its row: the canonical payload's, then ingested_at_ms. */
const FIELDS = [...PAYLOAD_FIELD_NAMES, 'ingested_at_ms'] as const;

function bad(field: string, what: string): never {
  throw new ValidationError(`${field}: ${what}`, field);
}

function str(r: readonly unknown[], i: number, at: string): string {
  const v = r[i];
  if (typeof v !== 'string') bad(`${at}.${FIELDS[i]}`, 'must be a string');
  return v;
}

function strOrNull(r: readonly unknown[], i: number, at: string): string | null {
  const v = r[i];
  if (v !== null && typeof v !== 'string') bad(`${at}.${FIELDS[i]}`, 'must be a string or null');
  return v;
}

function num(r: readonly unknown[], i: number, at: string): number {
  const v = r[i];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(`${at}.${FIELDS[i]}`, 'must be an integer');
  return v;
}

const QUANTITY = /^-?[0-9]{1,40}$/;

function eventOf(raw: unknown, at: string): UsageEvent {
  if (!Array.isArray(raw) || raw.length !== FIELDS.length) bad(at, `must be an array of the ${FIELDS.length} fields ${FIELDS.join(', ')}`);
  const kind = raw[1];
  if (kind !== 'Usage' && !(EVENT_KINDS as readonly unknown[]).includes(kind)) bad(`${at}.kind`, `must be one of ${EVENT_KINDS.join(', ')}`);
  let ref: CorrectionRef | null = null;
  const r = raw[12];
  if (r !== null) {
    if (!Array.isArray(r) || r.length !== 2 || typeof r[0] !== 'string' || typeof r[1] !== 'string')
      bad(`${at}.correction_ref`, 'must be null or [original_event_id, reason]');
    ref = { original_event_id: r[0], reason: r[1] };
  }
  const q = raw[10];
  if (typeof q !== 'string' || !QUANTITY.test(q)) bad(`${at}.quantity`, 'must be a decimal string');
  const dims = raw[11];
  if (!isObject(dims)) bad(`${at}.dimensions`, 'must be an object of strings');
  for (const k in dims) if (typeof dims[k] !== 'string') bad(`${at}.dimensions`, 'must be an object of strings');
  return {
    event_id: str(raw, 0, at),
    kind: kind as EventKind,
    correction_ref: ref,
    account_id: str(raw, 2, at),
    subscription_id: strOrNull(raw, 3, at),
    product_id: str(raw, 4, at),
    meter_id: str(raw, 5, at),
    model_id: strOrNull(raw, 6, at),
    source: str(raw, 7, at),
    unit: str(raw, 8, at),
    timestamp_ms: num(raw, 9, at),
    quantity: BigInt(q),
    dimensions: dims as Record<string, string>,
    ingested_at_ms: num(raw, 13, at),
  };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The words' bytes in little-endian order (a copy on a big-endian machine). */
function littleEndian(bytes: Uint8Array): Uint8Array {
  if (LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += 4) {
    out[i] = bytes[i + 3]!;
    out[i + 1] = bytes[i + 2]!;
    out[i + 2] = bytes[i + 1]!;
    out[i + 3] = bytes[i]!;
  }
  return out;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) INDEX[ALPHABET.charCodeAt(i)] = i;

/** Node's Buffer when there is one (base64 in native code, ~20x the JS below); the JS elsewhere. */
interface BufferLike {
  from(b: ArrayBufferLike, offset: number, length: number): { toString(enc: 'base64'): string };
  from(s: string, enc: 'base64'): Uint8Array;
}
const NATIVE = (globalThis as { Buffer?: BufferLike }).Buffer;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function toBase64(b: Uint8Array): string {
  return NATIVE === undefined ? toBase64Js(b) : NATIVE.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

/** The bytes of standard padded base64, or undefined when `s` is not that. */
export function fromBase64(s: string): Uint8Array | undefined {
  if (NATIVE === undefined) return fromBase64Js(s);
  // Buffer skips characters outside the alphabet: refuse them first, as the JS decoder does.
  if (s.length % 4 !== 0 || !BASE64.test(s)) return undefined;
  const buf = NATIVE.from(s, 'base64');
  // A copy at offset 0: Uint32Array views need 4-byte alignment (Buffer pools small ones).
  return buf.byteOffset % 4 === 0 ? buf : new Uint8Array(buf);
}

export function toBase64Js(b: Uint8Array): string {
  const parts: string[] = [];
  let chunk = '';
  let i = 0;
  for (; i + 2 < b.length; i += 3) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
    chunk += ALPHABET[n >> 18]! + ALPHABET[(n >> 12) & 63]! + ALPHABET[(n >> 6) & 63]! + ALPHABET[n & 63]!;
    if (chunk.length >= 8192) {
      parts.push(chunk);
      chunk = '';
    }
  }
  const rest = b.length - i;
  if (rest === 1) {
    const n = b[i]! << 16;
    chunk += `${ALPHABET[n >> 18]!}${ALPHABET[(n >> 12) & 63]!}==`;
  } else if (rest === 2) {
    const n = (b[i]! << 16) | (b[i + 1]! << 8);
    chunk += `${ALPHABET[n >> 18]!}${ALPHABET[(n >> 12) & 63]!}${ALPHABET[(n >> 6) & 63]!}=`;
  }
  parts.push(chunk);
  return parts.join('');
}

export function fromBase64Js(s: string): Uint8Array | undefined {
  if (s.length % 4 !== 0) return undefined;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const last = i + 4 === s.length;
    const a = val(s, i);
    const b = val(s, i + 1);
    const c = last && pad === 2 ? 0 : val(s, i + 2);
    const d = last && pad >= 1 ? 0 : val(s, i + 3);
    if (a < 0 || b < 0 || c < 0 || d < 0) return undefined;
    const n = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

function val(s: string, i: number): number {
  const c = s.charCodeAt(i);
  return c < 128 ? INDEX[c]! : -1;
}
