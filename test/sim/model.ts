/**
 * The reference model of the simulation: what every acknowledged answer promised. An event is
 * keyed by id + payload; `copies` counts acceptances (a retry past the dedupe window is accepted
 * again and stored twice until compaction removes the copy). Closed periods keep the frozen
 * totals they answered with.
 */

export interface WireEvent {
  event_id: string;
  kind: 'Usage' | 'Correction';
  correction_ref?: { original_event_id: string; reason: string };
  account_id: string;
  product_id: string;
  meter_id: string;
  source: string;
  unit: string;
  timestamp_ms: number;
  quantity: string;
}

export interface Stored {
  readonly event: WireEvent;
  copies: number;
  /** Last acknowledgment (the window an instance that saw it measures from). */
  ackedAt: number;
  /** First acknowledgment: the row compaction keeps when it removes later copies. */
  firstAckedAt: number;
  /** Copies were collapsed by compaction: instances may measure the window from either time. */
  collapsed: boolean;
  /**
   * Another payload of the same (account, event_id) was stored before this one (accepted past
   * the window): compaction quarantines this later copy, out of every total.
   */
  quarantinable: boolean;
}

export const WINDOW_MS = 2 * 86_400_000;

export const keyOf = (e: WireEvent) => `${e.event_id}|${e.quantity}|${e.timestamp_ms}|${e.kind}`;
export const monthOf = (ts: number) => new Date(ts).toISOString().slice(0, 7);

export class Model {
  readonly stored = new Map<string, Stored>();
  /** event_id → key of the stored payload that owns it within the window. */
  readonly byId = new Map<string, string>();
  readonly closed = new Map<string, { quantity: bigint; count: number; exact: boolean }>();
  readonly batches: WireEvent[][] = [];
  seq = 0;
  steps = 0;

  isClosed(account: string, ts: number): boolean {
    return this.closed.has(`${account}|${monthOf(ts)}`);
  }

  /** What the system must answer for one event, given the state before the batch. */
  expect(
    e: WireEvent,
    now: number,
    seenInBatch: Map<string, string>,
  ): 'accepted' | 'duplicate' | 'conflict' | 'period_closed' | 'either' | 'conflict-or-accepted' {
    const k = keyOf(e);
    const inBatch = seenInBatch.get(e.event_id);
    const owner = this.byId.get(e.event_id);
    const o = owner === undefined ? undefined : this.stored.get(owner)!;
    const ownerLive = o !== undefined && now - o.ackedAt <= WINDOW_MS;
    // Compaction kept the first copy (older ingested_at): a cold instance measures the window
    // from it, a warm one from the last acknowledgment. Both answers are allowed; totals
    // converge at the next compaction either way.
    if (ownerLive && o.collapsed && now - o.firstAckedAt > WINDOW_MS && inBatch === undefined) return owner === k ? 'either' : 'conflict-or-accepted';
    if (ownerLive) return owner === k ? 'duplicate' : 'conflict';
    if (inBatch !== undefined) return inBatch === k ? 'duplicate' : 'conflict';
    if (e.kind === 'Usage' && this.isClosed(e.account_id, e.timestamp_ms)) return 'period_closed';
    return 'accepted';
  }

  accept(e: WireEvent, now: number): void {
    const k = keyOf(e);
    const s = this.stored.get(k);
    if (s === undefined) {
      const earlier = [...this.stored.values()].some((o) => o.event.event_id === e.event_id && o.event.account_id === e.account_id);
      this.stored.set(k, { event: e, copies: 1, ackedAt: now, firstAckedAt: now, collapsed: false, quarantinable: earlier });
    } else {
      s.copies++;
      s.ackedAt = now;
    }
    this.byId.set(e.event_id, k);
  }

  /**
   * Exact totals of an account: quantity and count of every stored event once, the rows with
   * copies, and how many events may be quarantined (out of the totals after a compaction).
   */
  totals(
    account: string,
    filter: (e: WireEvent) => boolean = () => true,
  ): { quantity: bigint; count: number; copies: number; withCopies: bigint; optional: number } {
    let quantity = 0n;
    let withCopies = 0n;
    let count = 0;
    let copies = 0;
    let optional = 0;
    for (const s of this.stored.values()) {
      if (s.event.account_id !== account || !filter(s.event)) continue;
      quantity += BigInt(s.event.quantity);
      withCopies += BigInt(s.event.quantity) * BigInt(s.copies);
      count++;
      copies += s.copies;
      if (s.quarantinable) optional++;
    }
    return { quantity, count, copies, withCopies, optional };
  }

  accounts(): string[] {
    return [...new Set([...this.stored.values()].map((s) => s.event.account_id))].sort();
  }

  /** After any compaction run: copies may have been removed (which row survives: the first). */
  markMaybeCollapsed(): void {
    for (const s of this.stored.values()) if (s.copies > 1) s.collapsed = true;
  }

  /** After a full compaction every stored event has exactly one row again. */
  collapseCopies(): void {
    for (const s of this.stored.values()) {
      if (s.copies > 1) s.collapsed = true;
      s.copies = 1;
    }
  }
}
