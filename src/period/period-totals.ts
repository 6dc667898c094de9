/**
 * The frozen totals of a period close: one account's usage over [from, to) in a given set of raw
 * segments, as invoice lines (product, meter, model, unit), with the segments that contributed
 * rows (recorded for the audit trail). Segments are immutable, so each one's contribution is
 * computed once and kept: a close that retries on a newer manifest reads only the new segments.
 */
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { Aggregator, neededColumns, type ResultLine } from '../query/aggregate.ts';
import { accountSpec, type QueryEngine } from '../query/engine.ts';
import type { QuerySpec } from '../query/spec.ts';

export interface PeriodTotals {
  /** Invoice lines, ordered by their keys. */
  readonly lines: ResultLine[];
  readonly quantity: bigint;
  readonly count: number;
  /** Ids of the raw segments that contributed rows, sorted. */
  readonly sources: string[];
}

const LINE_KEYS = ['product_id', 'meter_id', 'model_id', 'unit'] as const;
const LINE_GROUP: QuerySpec['groupBy'] = LINE_KEYS.map((column) => ({ type: 'column', column }));

/** Totals of (account, [from, to)) over segments, remembering each segment's share. */
export class PeriodTotalizer {
  private readonly engine: QueryEngine;
  private readonly spec: QuerySpec;
  private readonly shares = new Map<string, ResultLine[]>();
  private readonly scope: { readonly accountId: string; readonly from: number; readonly to: number };

  constructor(engine: QueryEngine, accountId: string, from: number, to: number) {
    this.engine = engine;
    this.spec = { ...accountSpec(accountId, from, to), groupBy: LINE_GROUP };
    this.scope = { accountId, from, to };
  }

  async totals(segments: readonly DeepReadonly<RawSegmentEntry>[]): Promise<PeriodTotals> {
    const unread = segments.filter((s) => !this.shares.has(s.id));
    await this.engine.forEachSegment(
      this.engine.rawSegments(unread, this.spec),
      neededColumns(this.spec),
      (seg, cols) => {
        const agg = new Aggregator(this.spec);
        agg.add(cols);
        this.shares.set(seg.id, agg.lines());
      },
      this.scope,
    );
    // Pruned away: no rows of the account-month.
    for (const s of unread) if (!this.shares.has(s.id)) this.shares.set(s.id, []);
    const merged = new Map<string, { line: ResultLine; quantity: bigint; count: number }>();
    const sources: string[] = [];
    for (const s of segments) {
      const share = this.shares.get(s.id)!;
      if (share.length > 0) sources.push(s.id);
      for (const l of share) {
        const key = JSON.stringify(LINE_KEYS.map((k) => l[k] ?? null));
        const m = merged.get(key) ?? { line: l, quantity: 0n, count: 0 };
        m.quantity += BigInt(l.quantity as string);
        m.count += l.count as number;
        merged.set(key, m);
      }
    }
    // Ordered as the query engine orders lines: by each key, null as the empty string.
    const lines = [...merged.values()]
      .sort((a, b) => {
        for (const k of LINE_KEYS) {
          const x = (a.line[k] as string | null | undefined) ?? '';
          const y = (b.line[k] as string | null | undefined) ?? '';
          if (x !== y) return x < y ? -1 : 1;
        }
        return 0;
      })
      .map((m) => ({ ...m.line, quantity: m.quantity.toString(), count: m.count }));
    return {
      lines,
      quantity: lines.reduce((s, l) => s + BigInt(l.quantity), 0n),
      count: lines.reduce((s, l) => s + l.count, 0),
      sources: sources.sort(),
    };
  }
}
