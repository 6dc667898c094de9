/**
 * Explain: an account's invoice lines over [from, to) with their provenance — which raw segments
 * contributed what, the rollups covering the range with the raw segments each aggregates, and
 * corrections and retractions listed apart from the lines.
 */
import { RAW_COLUMN_NAMES } from '../segment/raw.ts';
import { Aggregator, type ResultLine } from './aggregate.ts';
import { auditRows, compareRows, type AuditRow } from './audit.ts';
import { accountSpec, type QueryEngine } from './engine.ts';
import type { QuerySpec } from './spec.ts';

export interface Explanation {
  readonly generation: number;
  /** Usage events by invoice line. */
  readonly lines: ResultLine[];
  /** Corrections and retractions, listed apart from the lines. */
  readonly corrections: AuditRow[];
  readonly corrections_quantity: string;
  /** Segments that contributed rows, with what they contributed. */
  readonly segments: {
    id: string;
    kind: 'raw';
    rows: number;
    quantity: string;
    min_ts: number;
    max_ts: number;
    rolled_by: string | null;
    /** The rollup job processed it and wrote no rollup (its rows barely aggregate): read as raw by every source. */
    rollup_sparse: boolean;
  }[];
  /** Rollups covering the range, with the raw segments each aggregates (provenance). */
  readonly rollups: { id: string; inputs: readonly string[]; min_hour: string; max_hour: string; quantity_sum: string; event_count: number }[];
}

const INVOICE_GROUP: QuerySpec['groupBy'] = (['product_id', 'meter_id', 'model_id', 'source', 'unit'] as const).map((column) => ({ type: 'column', column }));

export async function explain(engine: QueryEngine, accountId: string, from: number, to: number): Promise<Explanation> {
  const snap = await engine.accountManifest(accountId);
  const base = accountSpec(accountId, from, to);
  const lines = new Aggregator({ ...base, groupBy: INVOICE_GROUP, filters: [{ type: 'column', column: 'kind', values: ['Usage'] }] });
  const adjustments = new Aggregator({ ...base, filters: [{ type: 'column', column: 'kind', values: ['Correction', 'Retraction'] }] });
  const corrections: AuditRow[] = [];
  const segments: Explanation['segments'] = [];
  await engine.forEachSegment(
    engine.rawSegments(snap.manifest.segments, base),
    RAW_COLUMN_NAMES,
    (seg, cols) => {
      lines.add(cols);
      adjustments.add(cols);
      const own = new Aggregator(base);
      own.add(cols);
      const total = own.lines()[0];
      if (total !== undefined) {
        segments.push({
          id: seg.id,
          kind: 'raw',
          rows: Number(total.count),
          quantity: String(total.quantity),
          min_ts: seg.min_ts,
          max_ts: seg.max_ts,
          rolled_by: seg.rolled_by ?? null,
          rollup_sparse: seg.rolled_by === undefined && seg.rollup === 'sparse',
        });
      }
      for (const row of auditRows(seg, cols, { accountId, from, to, filters: [], cursor: undefined })) if (row.kind !== 'Usage') corrections.push(row);
    },
    { accountId, from, to },
  );
  corrections.sort((a, b) => compareRows({ ts: a.timestamp_ms, id: a.event_id }, { ts: b.timestamp_ms, id: b.event_id }));
  segments.sort((a, b) => (a.id < b.id ? -1 : 1));
  const adj = adjustments.lines()[0];
  return {
    generation: snap.manifest.generation,
    lines: lines.lines(),
    corrections,
    corrections_quantity: adj === undefined ? '0' : String(adj.quantity),
    segments,
    rollups: engine.plan(snap.manifest, { ...base, source: 'auto' }).rollups.map((r) => ({
      id: r.id,
      inputs: r.inputs,
      min_hour: new Date(r.min_hour_ms).toISOString(),
      max_hour: new Date(r.max_hour_ms).toISOString(),
      quantity_sum: r.quantity_sum,
      event_count: r.event_count,
    })),
  };
}
