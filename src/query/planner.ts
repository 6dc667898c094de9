/**
 * Plans a query from one manifest snapshot per shard: keeps the raw segments that can hold a
 * matching row (bucket of the account, account range, time overlap, product/meter/model sets)
 * and drops the rest without reading them. Pruning must never change an answer: a segment is
 * dropped only when its metadata proves no row can match.
 */
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { bucketOf } from '../model/bucket.ts';
import type { Filter, QuerySpec } from './spec.ts';

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

export function planRawSegments(all: readonly DeepReadonly<RawSegmentEntry>[], spec: QuerySpec, opts: PlanOptions): PlannedSegments {
  if (opts.prune === false) return { segments: all, considered: all.length };
  const bucket = spec.accountId === undefined ? undefined : bucketOf(spec.accountId, opts.bucketCount);
  const setFilters = spec.filters.filter((f): f is Extract<Filter, { type: 'column' }> => f.type === 'column' && f.column in SET_FILTERED);
  const segments = all.filter((s) => {
    if (s.max_ts < spec.from || s.min_ts >= spec.to) return false;
    if (spec.accountId !== undefined) {
      if (bucket !== undefined && !s.buckets.includes(bucket)) return false;
      if (spec.accountId < s.min_account || spec.accountId > s.max_account) return false;
    }
    for (const f of setFilters) {
      const set = s[SET_FILTERED[f.column]!];
      if (set === null) continue; // too many distinct values to list: cannot prune
      if (!f.values.some((v) => set.includes(v))) return false;
    }
    return true;
  });
  return { segments, considered: all.length };
}
