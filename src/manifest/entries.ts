/**
 * Manifest entries built from what a segment encoder measured, so ingest, compaction, rollup
 * and rollup merging describe segments the same way.
 */
import type { RawSegmentStats } from '../segment/raw-format.ts';
import type { RollupSegmentStats } from '../segment/rollup-format.ts';
import type { RawSegmentEntry, RollupSegmentEntry } from './schema.ts';

export function rawSegmentEntry(
  ids: { id: string; key: string },
  s: RawSegmentStats,
  createdAtMs: number,
  compacted = false,
): RawSegmentEntry {
  return {
    id: ids.id,
    key: ids.key,
    rows: s.rows,
    bytes: s.bytes,
    min_ts: s.min_ts,
    max_ts: s.max_ts,
    min_ingested: s.min_ingested,
    max_ingested: s.max_ingested,
    buckets: s.buckets,
    min_account: s.min_account,
    max_account: s.max_account,
    products: s.products,
    meters: s.meters,
    models: s.models,
    quantity_sum: s.quantity_sum,
    checksum: s.checksum,
    ...(compacted ? { compacted: true } : {}),
    created_at_ms: createdAtMs,
  };
}

export function rollupSegmentEntry(ids: { id: string; key: string }, inputs: readonly string[], s: RollupSegmentStats, createdAtMs: number): RollupSegmentEntry {
  return {
    id: ids.id,
    key: ids.key,
    inputs: [...inputs],
    rows: s.rows,
    bytes: s.bytes,
    min_hour_ms: s.min_hour_ms,
    max_hour_ms: s.max_hour_ms,
    buckets: s.buckets,
    min_account: s.min_account,
    max_account: s.max_account,
    quantity_sum: s.quantity_sum,
    event_count: s.event_count,
    products: s.products,
    meters: s.meters,
    models: s.models,
    checksum: s.checksum,
    created_at_ms: createdAtMs,
  };
}
