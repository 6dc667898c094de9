/**
 * The rollup job for one shard (bounded): takes compacted raw segments not rolled up yet,
 * aggregates them into hourly rows, writes ONE rollup segment naming its inputs, and in ONE
 * commit (`addRollup`) adds it and marks the inputs rolled. The commit that marks a segment rolled is the
 * commit that adds its rollup, so a raw segment can never be counted twice, and a late event is
 * rolled up whenever its segment is — totals never drift. Never by time watermark.
 *
 * A rollup is written only where it aggregates: when it would hold more than `maxRowsRatio` of
 * its input rows (keys barely repeat within an hour), it would duplicate the raw data and save no
 * read, so the run commits `markRollupSparse` instead — the inputs are marked, never picked again,
 * and read as raw by every source.
 */
import type { ManifestStore } from '../manifest/manifest-store.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { bucketOf } from '../model/bucket.ts';
import type { Deps } from '../model/deps.ts';
import { dimensionsKey } from '../model/event.ts';
import { HOUR_MS, MINUTE_MS } from '../model/time.ts';
import { readRawColumns, writeRollupSegment } from '../objects/segment-objects.ts';
import { rawQuantity, rowFields, type RawColumns } from '../segment/raw.ts';
import type { RollupRow } from '../segment/rollup.ts';
import type { ObjectStore } from '../store/types.ts';

export interface RollupOptions {
  readonly maxInputSegments: number;
  readonly maxInputRows: number;
  /** Above this many rollup segments in a shard, the oldest are merged into one. */
  readonly maxRollups: number;
  /** How long merged-away rollup segments stay readable. */
  readonly graceMs: number;
  /** Rollups of more rows are written as row groups of about this many (segment/row-groups.ts). */
  readonly groupRows?: number;
  /**
   * A rollup is written only if it holds at most this fraction of its input rows (0 < r ≤ 1;
   * default 0.5); above it the inputs are marked `rollup: 'sparse'` instead. 1: always written.
   */
  readonly maxRowsRatio?: number;
  /**
   * Ids of compacted segments to leave unrolled for now: those the next compaction run would
   * merge (it never takes a rolled segment), so small ones merge before they are rolled. The jobs
   * runner supplies compaction's own input choice; none by default.
   */
  readonly hold?: (segments: readonly DeepReadonly<RawSegmentEntry>[]) => ReadonlySet<string>;
}

/** A rollup of more than half its input rows is not written (`maxRowsRatio`). */
export const DEFAULT_ROLLUP_MAX_ROWS_RATIO = 0.5;

export const DEFAULT_ROLLUP_OPTIONS: RollupOptions = {
  maxInputSegments: 64,
  maxInputRows: 1_000_000,
  maxRollups: 16,
  graceMs: 15 * MINUTE_MS,
  maxRowsRatio: DEFAULT_ROLLUP_MAX_ROWS_RATIO,
};

export interface RollupReport {
  readonly shard: number;
  readonly committed: boolean;
  readonly rollup_id?: string;
  readonly inputs: number;
  readonly rows_in: number;
  readonly rows_out: number;
  /** Inputs marked `rollup: 'sparse'` instead of rolled (the rollup would not have aggregated). */
  readonly sparse_inputs?: number;
  readonly reason?: string;
}

/** Adds one raw segment's rows to hourly aggregates keyed by every group field and the hour. */
export function addToRollup(into: Map<string, RollupRow>, c: RawColumns): void {
  for (let r = 0; r < c.rows; r++) {
    const ts = c.timestamp_ms![r]!;
    const row = { ...rowFields(c, r), hour_ms: Math.floor(ts / HOUR_MS) * HOUR_MS };
    const key = JSON.stringify([
      row.account_id,
      row.subscription_id,
      row.product_id,
      row.meter_id,
      row.model_id,
      row.source,
      row.unit,
      row.kind,
      dimensionsKey(row.dimensions),
      row.hour_ms,
    ]);
    const q = rawQuantity(c, r);
    const cur = into.get(key);
    if (cur === undefined) into.set(key, { ...row, quantity_sum: q, event_count: 1, first_event_ms: ts, last_event_ms: ts });
    else {
      cur.quantity_sum += q;
      cur.event_count++;
      if (ts < cur.first_event_ms) cur.first_event_ms = ts;
      if (ts > cur.last_event_ms) cur.last_event_ms = ts;
    }
  }
}

/** Whether the rollup job still has to decide about a segment: compacted, neither rolled nor marked sparse. */
export function awaitsRollup(s: DeepReadonly<RawSegmentEntry>): boolean {
  return s.compacted === true && s.rolled_by === undefined && s.rollup === undefined;
}

/** Whether a rollup of `rowsOut` rows from `rowsIn` input rows is worth writing (at most `ratio` of them). */
export function aggregates(rowsOut: number, rowsIn: number, ratio: number): boolean {
  return rowsOut <= ratio * rowsIn;
}

export async function rollupShard(
  store: ObjectStore,
  shard: ManifestStore,
  deps: Deps,
  bucketCount: number,
  opts: RollupOptions = DEFAULT_ROLLUP_OPTIONS,
): Promise<RollupReport> {
  const snap = await shard.revalidate();
  const held = opts.hold?.(snap.manifest.segments) ?? new Set<string>();
  const inputs: DeepReadonly<RawSegmentEntry>[] = [];
  let rowsIn = 0;
  for (const s of [...snap.manifest.segments].sort((a, b) => a.created_at_ms - b.created_at_ms)) {
    if (!awaitsRollup(s) || held.has(s.id)) continue;
    if (inputs.length >= opts.maxInputSegments || (inputs.length > 0 && rowsIn + s.rows > opts.maxInputRows)) break;
    inputs.push(s);
    rowsIn += s.rows;
  }
  if (inputs.length === 0) return { shard: shard.shard, committed: false, inputs: 0, rows_in: 0, rows_out: 0, reason: 'nothing to roll up' };

  const rows = new Map<string, RollupRow>();
  for (const s of inputs) addToRollup(rows, await readRawColumns(store, s));
  if (!aggregates(rows.size, rowsIn, opts.maxRowsRatio ?? DEFAULT_ROLLUP_MAX_ROWS_RATIO)) {
    // Applied only if every input is still live, compacted, and neither rolled nor marked.
    const res = await shard.commit({ op: 'markRollupSparse', inputs: inputs.map((s) => s.id), at_ms: deps.clock.now() });
    return {
      shard: shard.shard,
      committed: res.committed,
      ...(res.committed ? {} : { reason: 'inputs were rolled or replaced meanwhile; nothing marked' }),
      inputs: inputs.length,
      rows_in: rowsIn,
      rows_out: 0,
      sparse_inputs: res.committed ? inputs.length : 0,
    };
  }
  const rollup = await writeRollupSegment(
    store,
    shard.keys,
    deps,
    [...rows.values()],
    inputs.map((s) => s.id),
    (a) => bucketOf(a, bucketCount),
    opts.groupRows,
  );
  // Applied only if every input is still live and not rolled by anyone else.
  const res = await shard.commit({ op: 'addRollup', rollup, at_ms: deps.clock.now() });
  return {
    shard: shard.shard,
    committed: res.committed,
    ...(res.committed ? { rollup_id: rollup.id } : { reason: 'inputs were rolled or replaced meanwhile; output left for GC' }),
    inputs: inputs.length,
    rows_in: rowsIn,
    rows_out: rollup.rows,
  };
}
