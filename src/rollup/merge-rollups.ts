/**
 * Rollup segments compacted among themselves: when a shard holds more than `maxRollups`, the
 * oldest are merged into one (sums merged row by row, provenance = the union of their inputs)
 * in one commit that also repoints the raw segments' `rolled_by`. Totals are unchanged by
 * construction; the replaced rollups stay readable for the grace period.
 */
import { SKIP, type ManifestStore } from '../manifest/manifest-store.ts';
import { rollupSegmentEntry } from '../manifest/entries.ts';
import { bucketOf } from '../model/bucket.ts';
import { newId, type Deps } from '../model/deps.ts';
import { SegmentCorruptError } from '../segment/errors.ts';
import { decodeRollupSegment, encodeRollupSegment, rollupColumnsToRows } from '../segment/rollup.ts';
import type { RollupRow } from '../segment/rollup-format.ts';
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
  for (const r of inputs) {
    const res = await store.get(r.key);
    if (res === null || res.notModified) throw new SegmentCorruptError(`rollup ${r.id} is missing (${r.key})`);
    merged.push(...rollupColumnsToRows(decodeRollupSegment(res.body)));
  }
  const id = newId(deps);
  const enc = encodeRollupSegment(merged, (a: string) => bucketOf(a, bucketCount));
  const key = shard.keys.rollupSegment(id);
  await store.put(key, enc.bytes, { ifNoneMatch: '*' });
  const st = enc.stats;
  const inputIds = new Set(inputs.map((r) => r.id));
  const entry = rollupSegmentEntry({ id, key }, inputs.flatMap((r) => r.inputs), st, deps.clock.now());
  const res = await shard.commit((draft) => {
    const present = new Set(draft.rollups.map((r) => r.id));
    for (const r of inputs) if (!present.has(r.id)) return SKIP;
    const now = deps.clock.now();
    draft.rollups = draft.rollups.filter((r) => !inputIds.has(r.id));
    draft.rollups.push(entry);
    for (const s of draft.segments) if (s.rolled_by !== undefined && inputIds.has(s.rolled_by)) s.rolled_by = id;
    draft.replacements.push({
      id: newId(deps),
      kind: 'rollup',
      inputs: inputs.map((r) => ({ id: r.id, key: r.key })),
      outputs: [id],
      committed_at_ms: now,
      delete_after_ms: now + opts.graceMs,
    });
    return true;
  });
  return res.committed ? { committed: true, inputs: inputs.length, rows_out: st.rows } : { committed: false, inputs: inputs.length, reason: 'rollups changed meanwhile' };
}
