/**
 * The frozen totals of a period close: one account's usage over [from, to) computed from the
 * segments a given manifest generation lists, grouped into invoice lines (product, meter,
 * model, unit), with the segments that contributed rows (recorded for the audit trail).
 */
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { Aggregator, neededColumns, type ResultLine } from '../query/aggregate.ts';
import { accountSpec, type QueryEngine } from '../query/engine.ts';
import type { QuerySpec } from '../query/spec.ts';

export interface PeriodTotals {
  readonly lines: ResultLine[];
  readonly quantity: bigint;
  readonly count: number;
  /** Ids of the raw segments that contributed rows, sorted. */
  readonly sources: string[];
}

const LINE_GROUP: QuerySpec['groupBy'] = (['product_id', 'meter_id', 'model_id', 'unit'] as const).map((column) => ({ type: 'column', column }));

export async function periodTotals(engine: QueryEngine, segments: readonly DeepReadonly<RawSegmentEntry>[], accountId: string, from: number, to: number): Promise<PeriodTotals> {
  const spec: QuerySpec = { ...accountSpec(accountId, from, to), groupBy: LINE_GROUP };
  const agg = new Aggregator(spec);
  const sources: string[] = [];
  await engine.forEachSegment(engine.rawSegments(segments, spec), neededColumns(spec), (seg, cols) => {
    const own = new Aggregator({ ...spec, groupBy: [] });
    own.add(cols);
    if (own.lines().length > 0) sources.push(seg.id);
    agg.add(cols);
  });
  const lines = agg.lines();
  return {
    lines,
    quantity: lines.reduce((s, l) => s + BigInt(l.quantity as string), 0n),
    count: lines.reduce((s, l) => s + (l.count as number), 0),
    sources: sources.sort(),
  };
}
