/**
 * The body of a forwarded submit between Node processes (runtime/peer-forwarder.ts sends it, the
 * internal route api/routes/peer.ts reads it): one shard's validated, canonical events and their
 * hash words, as computed by the process that received them from the client.
 *
 *   { "events": [UsageEvent with quantity as a decimal string, ...], "hashes": "<base64>" }
 *
 * `hashes` is the little-endian bytes of HASH_WORDS 32-bit words per event, in order. The
 * receiver trusts the sender's validation (it authenticated with the peer token), as a shard's
 * Durable Object trusts isolates, but checks the structure: every field of the canonical shape
 * with its type, and exactly as many hash words as events need.
 */
import { ValidationError } from '../errors.ts';
import { EVENT_KINDS, type CorrectionRef, type EventKind, type UsageEvent } from '../model/event.ts';
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

/** The JSON text of a forwarded submit. */
export function encodeSubmit(events: readonly PendingEvent[]): string {
  const words = hashWords(events);
  const bytes = new Uint8Array(words.buffer, words.byteOffset, words.byteLength);
  return JSON.stringify({ events: events.map((p) => ({ ...p.event, quantity: p.event.quantity.toString() })), hashes: toBase64(littleEndian(bytes)) });
}

/** The events and hash words of a parsed body; a ValidationError naming the field otherwise. */
export function decodeSubmit(body: unknown, maxEvents: number): SubmitBody {
  if (!isObject(body)) throw new ValidationError('body: must be a JSON object {"events": [...], "hashes": "..."}', 'body');
  for (const k of Object.keys(body)) if (k !== 'events' && k !== 'hashes') throw new ValidationError(`${k.slice(0, 64)}: unknown field`, k.slice(0, 64));
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
  const events = raw.map((e, i) => eventOf(e, `events.${i}`));
  return { events, hashes };
}

const FIELDS = [
  'event_id',
  'kind',
  'correction_ref',
  'account_id',
  'subscription_id',
  'product_id',
  'meter_id',
  'model_id',
  'source',
  'unit',
  'timestamp_ms',
  'quantity',
  'dimensions',
  'ingested_at_ms',
] as const;
const FIELD_SET: ReadonlySet<string> = new Set(FIELDS);

function bad(field: string, what: string): never {
  throw new ValidationError(`${field}: ${what}`, field);
}

function str(o: Record<string, unknown>, k: string, at: string): string {
  const v = o[k];
  if (typeof v !== 'string') bad(`${at}.${k}`, 'must be a string');
  return v;
}

function strOrNull(o: Record<string, unknown>, k: string, at: string): string | null {
  const v = o[k];
  if (v !== null && typeof v !== 'string') bad(`${at}.${k}`, 'must be a string or null');
  return v;
}

function num(o: Record<string, unknown>, k: string, at: string): number {
  const v = o[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) bad(`${at}.${k}`, 'must be an integer');
  return v;
}

function eventOf(raw: unknown, at: string): UsageEvent {
  if (!isObject(raw)) bad(at, 'must be an object');
  const keys = Object.keys(raw);
  for (const k of keys) if (!FIELD_SET.has(k)) bad(`${at}.${k.slice(0, 64)}`, 'unknown field');
  if (keys.length !== FIELDS.length) bad(at, `must have the fields ${FIELDS.join(', ')}`);
  const kind = raw.kind;
  if (!(EVENT_KINDS as readonly unknown[]).includes(kind)) bad(`${at}.kind`, `must be one of ${EVENT_KINDS.join(', ')}`);
  let ref: CorrectionRef | null = null;
  if (raw.correction_ref !== null) {
    const r = raw.correction_ref;
    if (!isObject(r) || Object.keys(r).length !== 2) bad(`${at}.correction_ref`, 'must be null or {original_event_id, reason}');
    ref = { original_event_id: str(r, 'original_event_id', `${at}.correction_ref`), reason: str(r, 'reason', `${at}.correction_ref`) };
  }
  const q = raw.quantity;
  if (typeof q !== 'string' || !/^-?[0-9]{1,40}$/.test(q)) bad(`${at}.quantity`, 'must be a decimal string');
  const dims = raw.dimensions;
  if (!isObject(dims)) bad(`${at}.dimensions`, 'must be an object of strings');
  for (const v of Object.values(dims)) if (typeof v !== 'string') bad(`${at}.dimensions`, 'must be an object of strings');
  return {
    event_id: str(raw, 'event_id', at),
    kind: kind as EventKind,
    correction_ref: ref,
    account_id: str(raw, 'account_id', at),
    subscription_id: strOrNull(raw, 'subscription_id', at),
    product_id: str(raw, 'product_id', at),
    meter_id: str(raw, 'meter_id', at),
    model_id: strOrNull(raw, 'model_id', at),
    source: str(raw, 'source', at),
    unit: str(raw, 'unit', at),
    timestamp_ms: num(raw, 'timestamp_ms', at),
    quantity: BigInt(q),
    dimensions: dims as Record<string, string>,
    ingested_at_ms: num(raw, 'ingested_at_ms', at),
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

export function toBase64(b: Uint8Array): string {
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

/** The bytes of standard padded base64, or undefined when `s` is not that. */
export function fromBase64(s: string): Uint8Array | undefined {
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
