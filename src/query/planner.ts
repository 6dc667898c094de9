/**
 * Plans a query from one manifest snapshot per shard: keeps the raw segments that can hold a
 * matching row (bucket of the account, account range, time overlap, product/meter/model sets)
 * and drops the rest without reading them. Pruning must never change an answer: a segment is
 * dropped only when its metadata proves no row can match.
 */
import type { DeepReadonly, RawSegmentEntry, RollupSegmentEntry, ShardManifest } from '../manifest/schema.ts';
import { bucketOf } from '../model/bucket.ts';
import type { Filter, QuerySpec } from './spec.ts';
import { HOUR_MS } from '../model/time.ts';

export interface PlanOptions {
  readonly bucketCount: number;
  /** Tests switch pruning off to prove it never changes an answer. */
  readonly prune?: boolean;
}

export interface PlannedSegments {
  readonly segments: readonly DeepReadonly<RawSegmentEntry>[];
  readonly considered: number;
}

const SET_FILTERED: Record<string, 'products' | 'meters' | 'models'> = { product_id: 'products', meter_id: 'meters', model_id: 'models' };

/** Segment metadata the pruning rules read: time bounds and the rest shared by raw and rollup entries. */
interface Prunable {
  readonly min: number;
  readonly max: number;
  readonly buckets: readonly number[];
  readonly min_account: string;
  readonly max_account: string;
  readonly products?: readonly string[] | null | undefined;
  readonly meters?: readonly string[] | null | undefined;
  readonly models?: readonly string[] | null | undefined;
}

export function planRawSegments(all: readonly DeepReadonly<RawSegmentEntry>[], spec: QuerySpec, opts: PlanOptions): PlannedSegments {
  return { segments: all.filter((s) => keep({ ...s, min: s.min_ts, max: s.max_ts }, spec, opts)), considered: all.length };
}

export function planRollups(all: readonly DeepReadonly<RollupSegmentEntry>[], spec: QuerySpec, opts: PlanOptions): DeepReadonly<RollupSegmentEntry>[] {
  return all.filter((s) => keep({ ...s, min: s.min_hour_ms, max: s.max_hour_ms + HOUR_MS - 1 }, spec, opts));
}

export interface SourcePlan {
  /** Raw segments read for the whole range (unrolled ones; every one for source=raw). */
  readonly raw: readonly DeepReadonly<RawSegmentEntry>[];
  /**
   * Raw segments read only for `edges`. auto: rolled ones, for the hours the range cuts (which
   * rollups cannot split). rollup: those marked `rollup: 'sparse'`, for the rollup window.
   */
  readonly rolledRaw: readonly DeepReadonly<RawSegmentEntry>[];
  readonly edges: readonly { from: number; to: number }[];
  /** Rollups read for `rollupWindow` (whole hours inside the range). */
  readonly rollups: readonly DeepReadonly<RollupSegmentEntry>[];
  readonly rollupWindow: { from: number; to: number } | undefined;
}

/**
 * What to read for a source. auto (exact): rollups for the whole hours inside [from, to),
 * unrolled raw (marked sparse or not) for all of it, rolled raw only for the cut edge hours. raw:
 * every raw segment. rollup: what the rollup job has processed, for hours starting inside the
 * range — rollups, and raw segments it marked sparse (instead of rolling them) over the same
 * hours; data it has not processed yet is not counted.
 */
export function planSources(m: DeepReadonly<ShardManifest>, spec: QuerySpec, opts: PlanOptions): SourcePlan {
  if (spec.source === 'raw') return { raw: planRawSegments(m.segments, spec, opts).segments, rolledRaw: [], edges: [], rollups: [], rollupWindow: undefined };
  const fullFrom = Math.ceil(spec.from / HOUR_MS) * HOUR_MS;
  const fullTo = Math.floor(spec.to / HOUR_MS) * HOUR_MS;
  if (spec.source === 'rollup') {
    const window = { from: fullFrom, to: Math.ceil(spec.to / HOUR_MS) * HOUR_MS };
    const sparse = m.segments.filter((s) => s.rolled_by === undefined && s.rollup === 'sparse');
    return {
      raw: [],
      rolledRaw: window.from < window.to ? planRawSegments(sparse, { ...spec, ...window }, opts).segments : [],
      edges: window.from < window.to ? [window] : [],
      rollups: planRollups(m.rollups, { ...spec, ...window }, opts),
      rollupWindow: window,
    };
  }
  const raw = planRawSegments(m.segments, spec, opts).segments;
  const window = fullFrom < fullTo ? { from: fullFrom, to: fullTo } : undefined;
  const edges =
    window === undefined
      ? [{ from: spec.from, to: spec.to }]
      : [
          { from: spec.from, to: fullFrom },
          { from: fullTo, to: spec.to },
        ].filter((e) => e.from < e.to);
  return {
    raw: raw.filter((s) => s.rolled_by === undefined),
    rolledRaw: edges.length === 0 ? [] : raw.filter((s) => s.rolled_by !== undefined),
    edges,
    rollups: window === undefined ? [] : planRollups(m.rollups, { ...spec, ...window }, opts),
    rollupWindow: window,
  };
}

function keep(s: Prunable, spec: QuerySpec, opts: PlanOptions): boolean {
  if (opts.prune === false) return true;
  const bucket = spec.accountId === undefined ? undefined : bucketOf(spec.accountId, opts.bucketCount);
  const setFilters = spec.filters.filter((f): f is Extract<Filter, { type: 'column' }> => f.type === 'column' && f.column in SET_FILTERED);
  if (s.max < spec.from || s.min >= spec.to) return false;
  if (spec.accountId !== undefined) {
    if (bucket !== undefined && !s.buckets.includes(bucket)) return false;
    if (spec.accountId < s.min_account || spec.accountId > s.max_account) return false;
  }
  for (const f of setFilters) {
    const set = s[SET_FILTERED[f.column]!];
    if (set === null || set === undefined) continue; // too many distinct values to list: cannot prune
    if (!f.values.some((v) => set.includes(v))) return false;
  }
  return true;
}
