/**
 * Which (account, month) periods a manifest lists as closed: ingest re-checks this inside its
 * commit, so a `Usage` event for a closed period is rejected on the same manifest generation the
 * close committed on. Months are UTC `YYYY-MM`.
 */
import type { DeepReadonly, PeriodEntry } from '../manifest/schema.ts';
import type { UsageEvent } from '../model/event.ts';

export function monthOf(timestampMs: number): string {
  const d = new Date(timestampMs);
  return `${d.getUTCFullYear().toString().padStart(4, '0')}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

export class ClosedPeriods {
  private readonly closed: Set<string>;

  constructor(periods: readonly DeepReadonly<PeriodEntry>[]) {
    // A `closing` period refuses Usage too: the close that fenced it is about to snapshot it.
    this.closed = new Set(periods.filter((p) => p.state !== 'open').map((p) => `${p.account_id}\u0000${p.month}`));
  }

  get empty(): boolean {
    return this.closed.size === 0;
  }

  isClosed(accountId: string, timestampMs: number): boolean {
    return this.closed.size > 0 && this.closed.has(`${accountId}\u0000${monthOf(timestampMs)}`);
  }
}

/**
 * Inside an ingest commit: appends each accepted Correction/Retraction that falls in a closed
 * period to that period's pending adjustments (not part of its frozen total).
 */
export function recordAdjustments(periods: PeriodEntry[], events: readonly UsageEvent[], nowMs: number): void {
  if (!periods.some((p) => p.state === 'closed')) return;
  for (const e of events) {
    if (e.kind === 'Usage') continue;
    const month = monthOf(e.timestamp_ms);
    const p = periods.find((x) => x.state === 'closed' && x.account_id === e.account_id && x.month === month);
    if (p === undefined) continue;
    p.adjustments.push({
      event_id: e.event_id,
      kind: e.kind,
      quantity: e.quantity.toString(),
      timestamp_ms: e.timestamp_ms,
      product_id: e.product_id,
      meter_id: e.meter_id,
      model_id: e.model_id,
      unit: e.unit,
      original_event_id: e.correction_ref?.original_event_id ?? '',
      reason: e.correction_ref?.reason ?? '',
      committed_at_ms: nowMs,
    });
  }
}
