/**
 * The usage event after validation: canonical (dimension keys sorted, optional ids `null`,
 * quantity a BigInt) and stamped with the server's `ingested_at_ms`. Everything downstream —
 * hashes, segments, dedupe, queries — works on this shape only.
 */

export const EVENT_KINDS = ['Usage', 'Correction', 'Retraction'] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

export interface CorrectionRef {
  readonly original_event_id: string;
  readonly reason: string;
}

export interface UsageEvent {
  readonly event_id: string;
  readonly kind: EventKind;
  readonly correction_ref: CorrectionRef | null;
  readonly account_id: string;
  readonly subscription_id: string | null;
  readonly product_id: string;
  readonly meter_id: string;
  readonly model_id: string | null;
  readonly source: string;
  readonly unit: string;
  /** When the usage happened (client clock), ms since the epoch. */
  readonly timestamp_ms: number;
  /** Signed 128-bit. */
  readonly quantity: bigint;
  /** Keys in ascending order (canonical); at most 16. */
  readonly dimensions: Readonly<Record<string, string>>;
  /** When the server accepted it (server clock): the dedupe window is measured on this. */
  readonly ingested_at_ms: number;
}

export const I128_MIN = -(1n << 127n);
export const I128_MAX = (1n << 127n) - 1n;

/** One string per distinct dimension map (dictionary key in segments, group key in queries). */
export function dimensionsKey(dims: Readonly<Record<string, string>>): string {
  return JSON.stringify(dims);
}

/**
 * The canonical payload: every field but `ingested_at_ms`, in a fixed order. Two events are
 * "the same" (a duplicate) exactly when their canonical payloads are equal.
 */
export function canonicalPayload(e: UsageEvent): string {
  return JSON.stringify(payloadFields(e));
}

/** The names of the payload's fields, in the canonical order payloadFields gives their values. */
export const PAYLOAD_FIELD_NAMES = [
  'event_id',
  'kind',
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
  'correction_ref',
] as const;

/** The payload's fields in canonical order (PAYLOAD_FIELD_NAMES), as JSON values (what canonicalPayload stringifies). */
export function payloadFields(e: UsageEvent): unknown[] {
  return [
    e.event_id,
    e.kind,
    e.account_id,
    e.subscription_id,
    e.product_id,
    e.meter_id,
    e.model_id,
    e.source,
    e.unit,
    e.timestamp_ms,
    e.quantity.toString(),
    e.dimensions,
    e.correction_ref === null ? null : [e.correction_ref.original_event_id, e.correction_ref.reason],
  ];
}
