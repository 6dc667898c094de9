/**
 * How conflict records and compaction's cold dedupe name a payload: the first word (32 bits) of
 * its payload hash as 8 hex digits — the bits every hashes block version holds (version 3 keeps
 * no more; docs/dedupe.md, "How exact it is"). Records written before version 3 name 64 bits (16
 * digits): payloads are compared on the first 8 digits, so those records still match.
 */
import type { UsageEvent } from '../model/event.ts';
import { payloadHash } from '../segment/raw.ts';

/** Hex digits compared: 32 bits. */
export const PAYLOAD_HEX_DIGITS = 8;

/** A payload-hash word as 8 hex digits. */
export function payloadWordHex(word: number): string {
  return (word >>> 0).toString(16).padStart(PAYLOAD_HEX_DIGITS, '0');
}

/** An event's payload as conflict records name it (8 hex digits). */
export function payloadHex(e: UsageEvent): string {
  return payloadWordHex(payloadHash(e)[0]!);
}

/** The compared part of a payload name (a 16-digit name of an older record is cut to 8). */
export function payloadName(hex: string): string {
  return hex.slice(0, PAYLOAD_HEX_DIGITS);
}

/** Whether two payload names say the same payload (on the 32 bits both hold). */
export function samePayload(a: string, b: string): boolean {
  return payloadName(a) === payloadName(b);
}
