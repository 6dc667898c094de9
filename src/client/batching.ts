/**
 * Turns caller events into wire events once (event_id minted if missing, timestamp defaulted,
 * bigint quantities as decimal strings) and serializes each once; then cuts them into batches
 * that respect both the event-count and the body-byte limit, keeping the caller's order.
 */
import type { UsageEvent } from './types.ts';

/** An event as callers hand it to `ingest()` / `track()`. */
export interface UsageEventInput extends Omit<UsageEvent, 'event_id' | 'quantity' | 'timestamp_ms'> {
  /** Idempotency key; minted (a ULID) once, before the first attempt, when missing. */
  readonly event_id?: string;
  /** Integer quantity: a bigint or decimal string for anything beyond ±(2^53-1). Never a fraction. */
  readonly quantity: bigint | number | string;
  /** Milliseconds since the epoch; default: when the client prepared the event. */
  readonly timestamp_ms?: number;
}

/** A wire event with its JSON text and that text's UTF-8 length. */
export interface PreparedEvent {
  readonly event: UsageEvent;
  readonly json: string;
  readonly bytes: number;
}

/** `{"events":[` + `]}`. */
export const BODY_OVERHEAD_BYTES = 13;

export function prepareEvent(input: UsageEventInput, mintId: () => string, now: number): PreparedEvent {
  if (typeof input !== 'object' || input === null) throw new TypeError('an event must be an object');
  const q = input.quantity;
  const event = {
    ...input,
    event_id: input.event_id ?? mintId(),
    timestamp_ms: input.timestamp_ms ?? now,
    quantity: typeof q === 'bigint' ? q.toString() : q,
  } as UsageEvent;
  const json = JSON.stringify(event);
  return { event, json, bytes: utf8Length(json) };
}

/** Bytes of the batch body holding these events. */
export function bodyBytes(events: readonly PreparedEvent[]): number {
  let n = BODY_OVERHEAD_BYTES + Math.max(0, events.length - 1);
  for (const e of events) n += e.bytes;
  return n;
}

export function batchBody(events: readonly PreparedEvent[]): string {
  return `{"events":[${events.map((e) => e.json).join(',')}]}`;
}

export interface BatchLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
}

/** Positions (into the input) of each batch, and of events too large for any batch alone. */
export interface Batches {
  readonly batches: readonly (readonly number[])[];
  readonly oversized: readonly number[];
}

/** Greedy in order: a batch closes when the next event would break either limit. */
export function splitBatches(events: readonly PreparedEvent[], limits: BatchLimits): Batches {
  const batches: number[][] = [];
  const oversized: number[] = [];
  let current: number[] = [];
  let bytes = BODY_OVERHEAD_BYTES;
  for (let i = 0; i < events.length; i++) {
    const size = events[i]!.bytes;
    if (BODY_OVERHEAD_BYTES + size > limits.maxBytes) {
      oversized.push(i);
      continue;
    }
    const added = size + (current.length === 0 ? 0 : 1);
    if (current.length > 0 && (current.length >= limits.maxEvents || bytes + added > limits.maxBytes)) {
      batches.push(current);
      current = [];
      bytes = BODY_OVERHEAD_BYTES;
    }
    bytes += size + (current.length === 0 ? 0 : 1);
    current.push(i);
  }
  if (current.length > 0) batches.push(current);
  return { batches, oversized };
}

/** UTF-8 length of a string without encoding it (JSON.stringify output has no lone surrogates). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}
