/**
 * Compaction of one shard (bounded): merges young raw segments (and small compacted ones, all
 * unrolled) into segments partitioned by (UTC day, bucket), sorted as raw segments are, with
 * exact duplicates removed and later copies of conflicting events quarantined (cold dedupe
 * against every live segment, cold-dedupe.ts).
 * One commit (`replaceSegments`) replaces the inputs and records a replacement; inputs are
 * deleted by GC after the reader grace period. It never drops a row on the word of a segment
 * that is no longer live. Phases: choose inputs, load the cold-dedupe reference, dedupe, write
 * the partitions, commit.
 */
import type { ManifestStore } from '../manifest/manifest-store.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { bucketOf } from '../model/bucket.ts';
import { newId, type Deps } from '../model/deps.ts';
import type { UsageEvent } from '../model/event.ts';
import { DAY_MS } from '../model/time.ts';
import { readRawEvents, writeRawSegment } from '../objects/segment-objects.ts';
import { allowedPairs, dedupe, inputKeys, loadReference } from './cold-dedupe.ts';
import type { ObjectStore } from '../store/types.ts';
import { MINUTE_MS } from '../model/time.ts';

export interface CompactOptions {
  /** Compacted segments smaller than this are merged again with their partition. */
  readonly smallBytes: number;
  /** An output partition is split into segments of about this many bytes (estimated). */
  readonly targetBytes: number;
  /** Bounds of one run: input segments and rows. */
  readonly maxInputSegments: number;
  readonly maxInputRows: number;
  /** How long replaced segments stay readable for queries that planned before the commit. */
  readonly graceMs: number;
}

export const DEFAULT_COMPACT_OPTIONS: CompactOptions = {
  smallBytes: 1024 * 1024,
  targetBytes: 16 * 1024 * 1024,
  maxInputSegments: 64,
  maxInputRows: 500_000,
  graceMs: 15 * MINUTE_MS,
};

export interface CompactReport {
  readonly shard: number;
  readonly committed: boolean;
  readonly inputs: number;
  readonly outputs: number;
  readonly rows_in: number;
  readonly rows_out: number;
  readonly duplicates_removed: number;
  readonly conflicts_found: number;
  /** Later copies of conflicting events moved out of the totals. */
  readonly quarantined: number;
  readonly reason?: string;
}

/** The (UTC day, bucket) partition of a compacted segment. */
const partitionOf = (s: DeepReadonly<RawSegmentEntry>) => `${Math.floor(s.min_ts / DAY_MS)}:${s.buckets[0]}`;

/**
 * Inputs of one run: young (not yet compacted) segments, oldest first, plus small compacted
 * segments only when merging makes progress — another segment of the same partition joins
 * them. Without that rule a lone small partition would be rewritten unchanged on every run.
 */
export function chooseInputs(live: readonly DeepReadonly<RawSegmentEntry>[], opts: CompactOptions): DeepReadonly<RawSegmentEntry>[] {
  const unrolled = [...live].filter((s) => s.rolled_by === undefined).sort((a, b) => a.created_at_ms - b.created_at_ms);
  const young = unrolled.filter((s) => s.compacted !== true);
  const smallByPartition = new Map<string, DeepReadonly<RawSegmentEntry>[]>();
  for (const s of unrolled) {
    if (s.compacted !== true || s.bytes >= opts.smallBytes) continue;
    const k = partitionOf(s);
    smallByPartition.set(k, [...(smallByPartition.get(k) ?? []), s]);
  }
  const chosen: DeepReadonly<RawSegmentEntry>[] = [];
  let rows = 0;
  const take = (s: DeepReadonly<RawSegmentEntry>) => {
    if (chosen.length >= opts.maxInputSegments || (chosen.length > 0 && rows + s.rows > opts.maxInputRows) || chosen.includes(s)) return false;
    chosen.push(s);
    rows += s.rows;
    return true;
  };
  for (const s of young) {
    if (!take(s)) break;
    // Small compacted segments of the partitions this young segment touches merge with it.
    for (let d = Math.floor(s.min_ts / DAY_MS); d <= Math.floor(s.max_ts / DAY_MS); d++) {
      for (const b of s.buckets) for (const small of smallByPartition.get(`${d}:${b}`) ?? []) take(small);
    }
  }
  for (const group of smallByPartition.values()) {
    if (group.filter((g) => !chosen.includes(g)).length < 2) continue;
    for (const g of group) take(g);
  }
  return chosen;
}
/** Writes the kept rows partitioned by (UTC day, bucket), large partitions split by rows. */
async function writePartitions(
  store: ObjectStore,
  shard: ManifestStore,
  deps: Deps,
  bucketCount: number,
  kept: readonly UsageEvent[],
  rowsPerSegment: number,
): Promise<RawSegmentEntry[]> {
  const partitions = new Map<string, UsageEvent[]>();
  for (const e of kept) {
    const k = `${Math.floor(e.timestamp_ms / DAY_MS)}:${bucketOf(e.account_id, bucketCount)}`;
    let p = partitions.get(k);
    if (p === undefined) partitions.set(k, (p = []));
    p.push(e);
  }
  const outputs: RawSegmentEntry[] = [];
  const opts = { bucketOf: (a: string) => bucketOf(a, bucketCount), compacted: true };
  for (const part of partitions.values()) {
    for (let at = 0; at < part.length; at += rowsPerSegment) {
      outputs.push(await writeRawSegment(store, shard.keys, deps, part.slice(at, at + rowsPerSegment), opts));
    }
  }
  return outputs;
}

export async function compactShard(
  store: ObjectStore,
  shard: ManifestStore,
  deps: Deps,
  bucketCount: number,
  opts: CompactOptions = DEFAULT_COMPACT_OPTIONS,
): Promise<CompactReport> {
  const snap = await shard.revalidate();
  const live = snap.manifest.segments;
  const inputs = chooseInputs(live, opts);
  const rowsIn = inputs.reduce((n, s) => n + s.rows, 0);
  const empty = {
    shard: shard.shard,
    committed: false,
    inputs: 0,
    outputs: 0,
    rows_in: 0,
    rows_out: 0,
    duplicates_removed: 0,
    conflicts_found: 0,
    quarantined: 0,
  };
  if (inputs.length === 0) return { ...empty, reason: 'nothing to compact' };

  const events: UsageEvent[] = [];
  // A loop, not push(...rows): spreading a large segment overflows the call stack.
  for (const s of inputs) for (const e of await readRawEvents(store, s)) events.push(e);
  // Quarantined copies take part too: a retry of one is a duplicate, not a new conflict.
  const reference = await loadReference(store, live, inputs, snap.manifest.quarantine, inputKeys(events));
  const d = dedupe(events, reference, allowedPairs(snap.manifest.conflicts), () => newId(deps), deps.clock.now());
  const bytesPerRow = Math.max(1, inputs.reduce((s, x) => s + x.bytes, 0) / Math.max(1, rowsIn));
  const outputs = await writePartitions(store, shard, deps, bucketCount, d.kept, Math.max(1000, Math.floor(opts.targetBytes / bytesPerRow)));
  // Quarantined copies go to a segment of their own, which no query, rollup or compaction reads.
  const quarantine =
    d.quarantined.length === 0
      ? []
      : [
          await writeRawSegment(
            store,
            shard.keys,
            deps,
            d.quarantined.map((q) => q.event),
            { bucketOf: (a: string) => bucketOf(a, bucketCount) },
          ),
        ];
  const conflicts = [
    ...d.quarantined.map((q) => ({
      ...q.record,
      segments: [...q.record.segments, quarantine[0]!.id],
      quarantined: { ...q.record.quarantined!, segment: quarantine[0]!.id },
    })),
    ...d.reported,
  ];

  const now = deps.clock.now();
  const res = await shard.commit({
    op: 'replaceSegments',
    replacement_id: newId(deps),
    at_ms: now,
    delete_after_ms: now + opts.graceMs,
    inputs: inputs.map((s) => s.id),
    outputs,
    justified_by: [...d.justifiedBy],
    conflicts,
    quarantine,
  });
  return {
    shard: shard.shard,
    committed: res.committed,
    inputs: inputs.length,
    outputs: outputs.length,
    rows_in: rowsIn,
    rows_out: d.kept.length,
    duplicates_removed: d.duplicates,
    conflicts_found: conflicts.length,
    quarantined: d.quarantined.length,
    ...(res.committed ? {} : { reason: 'inputs changed meanwhile; outputs left for GC, next run retries' }),
  };
}
