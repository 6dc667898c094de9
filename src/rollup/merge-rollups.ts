/**
 * Rollup segments compacted among themselves: when a shard holds more than `maxRollups`, the
 * oldest are merged into one (sums merged row by row, provenance = the union of their inputs)
 * in one commit (`mergeRollups`) that also repoints the raw segments' `rolled_by`. Totals are unchanged by
 * construction; the replaced rollups stay readable for the grace period.
 */
import type { ManifestStore } from '../manifest/manifest-store.ts';
import { bucketOf } from '../model/bucket.ts';
import { newId, type Deps } from '../model/deps.ts';
import { readRollupRows, writeRollupSegment } from '../objects/segment-objects.ts';
import type { RollupRow } from '../segment/rollup.ts';
import type { ObjectStore } from '../store/types.ts';
import type { RollupOptions } from './rollup-job.ts';

export interface MergeReport {
  readonly committed: boolean;
  readonly inputs: number;
  readonly rows_out?: number;
  readonly reason?: string;
}

export async function mergeRollups(store: ObjectStore, shard: ManifestStore, deps: Deps, bucketCount: number, opts: RollupOptions): Promise<MergeReport> {
  const snap = await shard.revalidate();
  const all = [...snap.manifest.rollups].sort((a, b) => a.created_at_ms - b.created_at_ms);
  if (all.length <= opts.maxRollups) return { committed: false, inputs: 0, reason: 'few rollups' };
  const inputs: (typeof all)[number][] = [];
  let rows = 0;
  for (const r of all) {
    if (inputs.length >= opts.maxInputSegments || (inputs.length >= 2 && rows + r.rows > opts.maxInputRows)) break;
    inputs.push(r);
    rows += r.rows;
  }
  if (inputs.length < 2) return { committed: false, inputs: 0, reason: 'rollups too large to merge in one run' };
  const merged: RollupRow[] = [];
  // A loop, not push(...rows): spreading a large rollup overflows the call stack.
  for (const r of inputs) for (const row of await readRollupRows(store, r)) merged.push(row);
  const output = await writeRollupSegment(
    store,
    shard.keys,
    deps,
    merged,
    inputs.flatMap((r) => r.inputs),
    (a) => bucketOf(a, bucketCount),
    opts.groupRows,
  );
  const now = deps.clock.now();
  const res = await shard.commit({
    op: 'mergeRollups',
    replacement_id: newId(deps),
    at_ms: now,
    delete_after_ms: now + opts.graceMs,
    inputs: inputs.map((r) => r.id),
    output,
  });
  return res.committed
    ? { committed: true, inputs: inputs.length, rows_out: output.rows }
    : { committed: false, inputs: inputs.length, reason: 'rollups changed meanwhile' };
}
