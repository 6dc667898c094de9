/**
 * Validates one incoming event and returns its canonical form, or one reason naming the field.
 * Hand-written rather than a zod parse because it runs once per event on the ingest hot path
 * (zod measured ~0.2 M events/s here, a fifth of the budget); `src/model/event-schema.ts` holds
 * the zod schema of the same wire shape for docs, and a test keeps the two in agreement.
 */
import { EVENT_KINDS, I128_MAX, I128_MIN, PAYLOAD_FIELD_NAMES, type CorrectionRef, type EventKind, type UsageEvent } from './event.ts';
import { DAY_MS, HOUR_MS } from './time.ts';

export interface EventLimits {
  /** Characters in any id (event_id, account_id, subscription_id, product_id, meter_id, model_id, source, unit). */
  readonly maxIdLength: number;
  readonly maxDimensions: number;
  readonly maxDimensionKeyLength: number;
  readonly maxDimensionValueLength: number;
  readonly maxReasonLength: number;
  /** How far past the server's clock `timestamp_ms` may be. */
  readonly maxFutureSkewMs: number;
}

export const DEFAULT_EVENT_LIMITS: EventLimits = {
  maxIdLength: 256,
  maxDimensions: 16,
  maxDimensionKeyLength: 64,
  maxDimensionValueLength: 256,
  maxReasonLength: 1024,
  maxFutureSkewMs: DAY_MS,
};

export type Validated = { readonly ok: true; readonly event: UsageEvent } | { readonly ok: false; readonly field: string; readonly reason: string };

// Control characters (incl. NUL) are refused in ids and dimension keys.
const CONTROL = /[\u0000-\u001f\u007f]/;
const DECIMAL = /^[+-]?[0-9]{1,40}$/;

class Invalid {
  readonly field: string;
  readonly reason: string;
  constructor(field: string, reason: string) {
    this.field = field;
    this.reason = reason;
  }
}

function fail(field: string, message: string): never {
  throw new Invalid(field, `${field}: ${message}`);
}

function requiredId(o: Record<string, unknown>, field: string, max: number): string {
  const v = o[field];
  if (v === undefined || v === null) fail(field, 'is required');
  return checkId(v, field, max);
}

function optionalId(o: Record<string, unknown>, field: string, max: number): string | null {
  const v = o[field];
  return v === undefined || v === null ? null : checkId(v, field, max);
}

function checkId(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string') fail(field, `must be a string, got ${typeName(v)}`);
  const n = v.length;
  if (n === 0) fail(field, 'must not be empty');
  if (n > max) fail(field, `is longer than ${max} characters`);
  // One pass instead of a regex and isWellFormed: ids are short and almost always plain ASCII.
  let surrogates = false;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) fail(field, 'must not contain control characters (including NUL)');
    if (c >= 0xd800 && c <= 0xdfff) surrogates = true;
  }
  if (surrogates && !v.isWellFormed()) fail(field, 'must be well-formed Unicode (no lone surrogates)');
  return v;
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function parseQuantity(v: unknown): bigint {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) fail('quantity', 'must be an integer');
    if (!Number.isSafeInteger(v)) fail('quantity', 'is outside the exact JSON number range (±2^53-1); send it as a decimal string');
    return BigInt(v);
  }
  if (typeof v === 'string') {
    if (!DECIMAL.test(v)) fail('quantity', 'must be an integer or a decimal integer string');
    const q = BigInt(v);
    if (q < I128_MIN || q > I128_MAX) fail('quantity', 'is outside the signed 128-bit range');
    return q;
  }
  if (v === undefined || v === null) fail('quantity', 'is required');
  fail('quantity', `must be an integer or a decimal integer string, got ${typeName(v)}`);
}

function parseDimensions(v: unknown, limits: EventLimits): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) fail('dimensions', `must be an object of strings, got ${typeName(v)}`);
  let map = v as Record<string, unknown>;
  let keys = Object.keys(map);
  // The reference's serialized form: { "inner": { ... } }.
  if (keys.length === 1 && keys[0] === 'inner' && typeof map.inner === 'object' && map.inner !== null && !Array.isArray(map.inner)) {
    map = map.inner as Record<string, unknown>;
    keys = Object.keys(map);
  }
  if (keys.length > limits.maxDimensions) fail('dimensions', `has ${keys.length} keys; at most ${limits.maxDimensions} are allowed`);
  let sorted = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (i > 0 && !(keys[i - 1]! < k)) sorted = false;
    if (k.length === 0) fail('dimensions', 'keys must not be empty');
    if (k.length > limits.maxDimensionKeyLength) fail(`dimensions.${k.slice(0, 32)}…`, `key is longer than ${limits.maxDimensionKeyLength} characters`);
    if (CONTROL.test(k)) fail('dimensions', 'keys must not contain control characters');
    if (k === '__proto__') fail('dimensions', 'the key "__proto__" is reserved');
    if (!k.isWellFormed()) fail('dimensions', 'keys must be well-formed Unicode (no lone surrogates)');
    const val = map[k];
    if (typeof val !== 'string') fail(`dimensions.${k}`, `must be a string, got ${typeName(val)}`);
    if (val.length > limits.maxDimensionValueLength) fail(`dimensions.${k}`, `is longer than ${limits.maxDimensionValueLength} characters`);
    if (val.includes('\u0000')) fail(`dimensions.${k}`, 'must not contain NUL');
    if (!val.isWellFormed()) fail(`dimensions.${k}`, 'must be well-formed Unicode (no lone surrogates)');
  }
  // Canonical: keys in ascending order (copied once, in that order).
  if (!sorted) keys.sort();
  const out: Record<string, string> = {};
  for (let i = 0; i < keys.length; i++) out[keys[i]!] = map[keys[i]!] as string;
  return out;
}

/**
 * The fields an event may carry: a field outside them (a typo such as `quantitiy`, or a field of
 * another system) rejects that event with a reason naming it, rather than being ignored.
 * `ingested_at_ms` is accepted and ignored (the reference's events carry it; the server stamps it).
 */
const EVENT_FIELDS: ReadonlySet<string> = new Set([...PAYLOAD_FIELD_NAMES, 'ingested_at_ms']);
const CORRECTION_REF_FIELDS: ReadonlySet<string> = new Set(['original_event_id', 'reason']);

function rejectUnknown(o: object, known: ReadonlySet<string>, prefix: string): void {
  // Own keys only; JSON.parse makes `__proto__` an own key, so it is refused like any other.
  const keys = Object.keys(o);
  for (let i = 0; i < keys.length; i++) if (!known.has(keys[i]!)) fail(`${prefix}${keys[i]!.slice(0, 64)}`, 'unknown field');
}

function parseKind(v: unknown): EventKind {
  if (v === undefined || v === null) return 'Usage';
  if (typeof v === 'string' && (EVENT_KINDS as readonly string[]).includes(v)) return v as EventKind;
  fail('kind', `must be one of ${EVENT_KINDS.join(', ')}`);
}

function parseCorrectionRef(v: unknown, kind: EventKind, limits: EventLimits): CorrectionRef | null {
  if (kind === 'Usage') {
    if (v === undefined || v === null) return null;
    fail('correction_ref', 'is only allowed on Correction and Retraction events');
  }
  if (v === undefined || v === null) fail('correction_ref', `is required for ${kind} events`);
  if (typeof v !== 'object' || Array.isArray(v)) fail('correction_ref', `must be an object, got ${typeName(v)}`);
  const o = v as Record<string, unknown>;
  rejectUnknown(o, CORRECTION_REF_FIELDS, 'correction_ref.');
  const original = o.original_event_id;
  if (original === undefined || original === null) fail('correction_ref.original_event_id', 'is required');
  const reason = o.reason ?? '';
  if (typeof reason !== 'string') fail('correction_ref.reason', `must be a string, got ${typeName(reason)}`);
  if (reason.length > limits.maxReasonLength) fail('correction_ref.reason', `is longer than ${limits.maxReasonLength} characters`);
  if (reason.includes('\u0000')) fail('correction_ref.reason', 'must not contain NUL');
  if (!reason.isWellFormed()) fail('correction_ref.reason', 'must be well-formed Unicode (no lone surrogates)');
  return { original_event_id: checkId(original, 'correction_ref.original_event_id', limits.maxIdLength), reason };
}

/** Validates and canonicalizes one event; a client-sent `ingested_at_ms` is ignored. */
export function validateEvent(raw: unknown, ingestedAtMs: number, limits: EventLimits = DEFAULT_EVENT_LIMITS): Validated {
  try {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('event', `must be a JSON object, got ${typeName(raw)}`);
    const o = raw as Record<string, unknown>;
    rejectUnknown(o, EVENT_FIELDS, '');
    const max = limits.maxIdLength;
    const event_id = requiredId(o, 'event_id', max);
    const kind = parseKind(o.kind);
    const correction_ref = parseCorrectionRef(o.correction_ref, kind, limits);
    const account_id = requiredId(o, 'account_id', max);
    const subscription_id = optionalId(o, 'subscription_id', max);
    const product_id = requiredId(o, 'product_id', max);
    const meter_id = requiredId(o, 'meter_id', max);
    const model_id = optionalId(o, 'model_id', max);
    const source = requiredId(o, 'source', max);
    const unit = requiredId(o, 'unit', max);
    const ts = o.timestamp_ms;
    if (ts === undefined || ts === null) fail('timestamp_ms', 'is required');
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts)) fail('timestamp_ms', 'must be an integer number of milliseconds since the epoch');
    if (ts <= 0) fail('timestamp_ms', 'must be positive');
    if (ts > ingestedAtMs + limits.maxFutureSkewMs) {
      fail('timestamp_ms', `is more than ${limits.maxFutureSkewMs / HOUR_MS} hours in the future`);
    }
    const quantity = parseQuantity(o.quantity);
    const dimensions = parseDimensions(o.dimensions, limits);
    return {
      ok: true,
      event: {
        event_id,
        kind,
        correction_ref,
        account_id,
        subscription_id,
        product_id,
        meter_id,
        model_id,
        source,
        unit,
        timestamp_ms: ts,
        quantity,
        dimensions,
        ingested_at_ms: ingestedAtMs,
      },
    };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, field: err.field, reason: err.reason };
    throw err;
  }
}
