/**
 * Raw audit rows of one account in a stable order — (timestamp_ms, event_id) — paginated with an
 * opaque cursor holding the last row's (timestamp_ms, event_id). The cursor names a position in
 * that order, not a segment or an offset, so it stays valid when compaction rewrites segments.
 */
import { ValidationError } from '../errors.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { EVENT_KINDS, type UsageEvent } from '../model/event.ts';
import type { RawColumns } from '../segment/raw-format.ts';
import { rawQuantity } from '../segment/raw.ts';
import type { Filter } from './spec.ts';

export interface AuditRow {
  readonly event_id: string;
  readonly kind: UsageEvent['kind'];
  readonly correction_ref: UsageEvent['correction_ref'];
  readonly account_id: string;
  readonly subscription_id: string | null;
  readonly product_id: string;
  readonly meter_id: string;
  readonly model_id: string | null;
  readonly source: string;
  readonly unit: string;
  readonly timestamp_ms: number;
  readonly quantity: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly ingested_at_ms: number;
  readonly segment_id: string;
}

export interface Position {
  readonly ts: number;
  readonly id: string;
}

export function encodeCursor(p: Position): string {
  const json = JSON.stringify([p.ts, p.id]);
  return btoa(String.fromCharCode(...new TextEncoder().encode(json))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function decodeCursor(cursor: string): Position {
  try {
    const b64 = cursor.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const [ts, id] = JSON.parse(new TextDecoder().decode(bytes)) as [unknown, unknown];
    if (typeof ts !== 'number' || typeof id !== 'string') throw new Error('shape');
    return { ts, id };
  } catch {
    throw new ValidationError('cursor: is not a cursor this API returned', 'cursor');
  }
}

export function after(row: Position, p: Position): boolean {
  return row.ts > p.ts || (row.ts === p.ts && row.id > p.id);
}

export function compareRows(a: Position, b: Position): number {
  return a.ts - b.ts || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Rows of one segment for the account in [from, to) matching the filters and after `cursor`. */
export function auditRows(
  seg: DeepReadonly<RawSegmentEntry>,
  c: RawColumns,
  q: { accountId: string; from: number; to: number; filters: readonly Filter[]; cursor: Position | undefined },
): AuditRow[] {
  const out: AuditRow[] = [];
  const acc = c.account_id!;
  for (let r = 0; r < c.rows; r++) {
    if (acc.dict[acc.codes[r]!] !== q.accountId) continue;
    const ts = c.timestamp_ms![r]!;
    if (ts < q.from || ts >= q.to) continue;
    const id = c.event_id![r]!;
    if (q.cursor !== undefined && !after({ ts, id }, q.cursor)) continue;
    const dims = c.dimensions!.dict[c.dimensions!.codes[r]!]!;
    const row: AuditRow = {
      event_id: id,
      kind: EVENT_KINDS[c.kind![r]!]!,
      correction_ref: c.correction_ref!.get(r) ?? null,
      account_id: q.accountId,
      subscription_id: c.subscription_id!.dict[c.subscription_id!.codes[r]!] ?? null,
      product_id: c.product_id!.dict[c.product_id!.codes[r]!]!,
      meter_id: c.meter_id!.dict[c.meter_id!.codes[r]!]!,
      model_id: c.model_id!.dict[c.model_id!.codes[r]!] ?? null,
      source: c.source!.dict[c.source!.codes[r]!]!,
      unit: c.unit!.dict[c.unit!.codes[r]!]!,
      timestamp_ms: ts,
      quantity: rawQuantity(c, r).toString(),
      dimensions: dims,
      ingested_at_ms: c.ingested_at_ms![r]!,
      segment_id: seg.id,
    };
    if (matches(row, q.filters)) out.push(row);
  }
  return out;
}

function matches(row: AuditRow, filters: readonly Filter[]): boolean {
  for (const f of filters) {
    const v = f.type === 'column' ? row[f.column] : row.dimensions[f.key];
    if (v === null || v === undefined || !f.values.includes(v)) return false;
  }
  return true;
}
