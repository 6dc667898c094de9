/**
 * Raw audit rows of one account in a stable order — (timestamp_ms, event_id) — paginated with an
 * opaque cursor holding the last row's (timestamp_ms, event_id). The cursor names a position in
 * that order, not a segment or an offset, so it stays valid when compaction rewrites segments.
 */
import { ValidationError } from '../errors.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import type { UsageEvent } from '../model/event.ts';
import type { RawColumns } from '../segment/raw.ts';
import { rawQuantity, rowFields } from '../segment/raw.ts';
import { dimensionValue, type Filter } from './spec.ts';

/** An event as the audit API shows it: quantity as a decimal string, and the segment it is in. */
export type AuditRow = Omit<UsageEvent, 'quantity'> & { readonly quantity: string; readonly segment_id: string };

export interface Position {
  readonly ts: number;
  readonly id: string;
}

export function encodeCursor(p: Position): string {
  const json = JSON.stringify([p.ts, p.id]);
  return btoa(String.fromCharCode(...new TextEncoder().encode(json)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
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

/**
 * Rows of one segment for the account in [from, to) matching the filters and after `cursor`, in
 * (timestamp_ms, event_id) order; with `limit`, only the first `limit` of them — rows past it are
 * never built, so one page of a large account costs a sort of row numbers, not an object per row.
 */
export function auditRows(
  seg: DeepReadonly<RawSegmentEntry>,
  c: RawColumns,
  q: { accountId: string; from: number; to: number; filters: readonly Filter[]; cursor: Position | undefined; limit?: number },
): AuditRow[] {
  const acc = c.account_id!;
  const tss = c.timestamp_ms!;
  const ids = c.event_id!;
  const candidates: number[] = [];
  for (let r = 0; r < c.rows; r++) {
    if (acc.dict[acc.codes[r]!] !== q.accountId) continue;
    const ts = tss[r]!;
    if (ts < q.from || ts >= q.to) continue;
    if (q.cursor !== undefined && !after({ ts, id: ids[r]! }, q.cursor)) continue;
    candidates.push(r);
  }
  candidates.sort((a, b) => compareRows({ ts: tss[a]!, id: ids[a]! }, { ts: tss[b]!, id: ids[b]! }));
  const limit = q.limit ?? Number.POSITIVE_INFINITY;
  const out: AuditRow[] = [];
  for (let i = 0; i < candidates.length && out.length < limit; i++) {
    const r = candidates[i]!;
    const row: AuditRow = {
      ...rowFields(c, r),
      event_id: ids[r]!,
      correction_ref: c.correction_ref!.get(r) ?? null,
      timestamp_ms: tss[r]!,
      quantity: rawQuantity(c, r).toString(),
      ingested_at_ms: c.ingested_at_ms![r]!,
      segment_id: seg.id,
    };
    if (matches(row, q.filters)) out.push(row);
  }
  return out;
}

function matches(row: AuditRow, filters: readonly Filter[]): boolean {
  for (const f of filters) {
    const v = f.type === 'column' ? row[f.column] : dimensionValue(row.dimensions, f.key);
    if (v === null || v === undefined || !f.values.includes(v)) return false;
  }
  return true;
}
