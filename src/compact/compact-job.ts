/**
 * Compaction of one shard (bounded): merges young raw segments (and small compacted ones, all
 * unrolled) into segments sized by rows and bytes (sizing.ts: small (UTC day, bucket) partitions
 * packed together, large ones split), sorted as raw segments are, with exact duplicates removed
 * and later copies of conflicting events quarantined (cold dedupe against every live segment,
 * cold-dedupe.ts).
 * One commit (`replaceSegments`) replaces the inputs and records a replacement; inputs are
 * deleted by GC after the reader grace period. It never drops a row on the word of a segment
 * that is no longer live. Phases: choose inputs, load the cold-dedupe reference, dedupe, plan and
 * write the outputs, commit.
 */
import type { ManifestStore } from '../manifest/manifest-store.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { bucketOf } from '../model/bucket.ts';
import { newId, type Deps } from '../model/deps.ts';
import type { UsageEvent } from '../model/event.ts';
import { DAY_MS } from '../model/time.ts';
import { readRawEvents, writeRawSegment } from '../objects/segment-objects.ts';
import { allowedPairs, dedupe, inputKeys, loadReference } from './cold-dedupe.ts';
import { planOutputs, smallGroups, type OutputSizing } from './sizing.ts';
import type { ObjectStore } from '../store/types.ts';
import { MINUTE_MS } from '../model/time.ts';
import { DEFAULT_INGEST_OPTIONS } from '../ingest/limits.ts';
import { leanBefore } from './strip-hashes.ts';

export interface CompactOptions extends OutputSizing {
  /** Unrolled compacted segments smaller than this are merged again (with new data or each other). */
  readonly smallBytes: number;
  /** Bounds of one run: input segments and rows. */
  readonly maxInputSegments: number;
  readonly maxInputRows: number;
  /** How long replaced segments stay readable for queries that planned before the commit. */
  readonly graceMs: number;
  /** Ingest's dedupe window: outputs whose rows are all older (strip-hashes.ts) are written lean. */
  readonly dedupeWindowMs: number;
  /** Outputs of more rows (lean or with hashes) are written as row groups of at most this many (default RAW_GROUP_ROWS). */
  readonly groupRows?: number;
}

export const DEFAULT_COMPACT_OPTIONS: CompactOptions = {
  smallBytes: 1024 * 1024,
  packBytes: 2 * 1024 * 1024,
  targetBytes: 16 * 1024 * 1024,
  targetRows: 1_000_000,
  maxInputSegments: 64,
  maxInputRows: 500_000,
  graceMs: 15 * MINUTE_MS,
  dedupeWindowMs: DEFAULT_INGEST_OPTIONS.dedupeWindowMs,
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

type Entry = DeepReadonly<RawSegmentEntry>;

const firstDay = (s: Entry) => Math.floor(s.min_ts / DAY_MS);
const lastDay = (s: Entry) => Math.floor(s.max_ts / DAY_MS);

/** Whether two segments hold rows of a common UTC day (outputs pack a day's buckets together). */
function sameDay(a: Entry, b: Entry): boolean {
  return firstDay(a) <= lastDay(b) && firstDay(b) <= lastDay(a);
}

/**
 * Inputs of one run: young (not yet compacted) segments, oldest first, plus small compacted
 * segments only when merging makes progress — either new data of their days joins
 * them, or they form a group that fits one output (`smallGroups`). Without that rule a lone
 * small segment would be rewritten unchanged on every run. A group is taken whole or not at all.
 */
export function chooseInputs(live: readonly Entry[], opts: CompactOptions): Entry[] {
  // Rolled segments are never merged again (a rollup names them); segments the rollup job marked
  // sparse neither: re-merging them would rewrite them and have them re-read by rollup, run after run.
  const unrolled = [...live].filter((s) => s.rolled_by === undefined && s.rollup === undefined).sort((a, b) => a.created_at_ms - b.created_at_ms);
  const young = unrolled.filter((s) => s.compacted !== true);
  const small = unrolled.filter((s) => s.compacted === true && s.bytes < opts.smallBytes);
  const chosen = new Set<Entry>();
  let rows = 0;
  const take = (group: readonly Entry[]) => {
    const fresh = group.filter((s) => !chosen.has(s));
    const more = fresh.reduce((n, s) => n + s.rows, 0);
    if (chosen.size + fresh.length > opts.maxInputSegments || (chosen.size > 0 && rows + more > opts.maxInputRows)) return false;
    for (const s of fresh) chosen.add(s);
    rows += more;
    return true;
  };
  for (const s of young) {
    if (!take([s])) break;
    // Small compacted segments of the days this young segment touches merge with it.
    for (const c of small) if (sameDay(s, c)) take([c]);
  }
  const limits = { packBytes: opts.packBytes, targetRows: Math.min(opts.targetRows, opts.maxInputRows), maxSegments: opts.maxInputSegments };
  for (const group of smallGroups(
    small.filter((s) => !chosen.has(s)),
    DAY_MS,
    limits,
  ))
    take(group);
  return [...chosen];
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
  /** Each row's estimated encoded bytes: its input segment's bytes per row. */
  const bytesOf = new Map<UsageEvent, number>();
  // A loop, not push(...rows): spreading a large segment overflows the call stack.
  for (const s of inputs) {
    const perRow = s.bytes / Math.max(1, s.rows);
    for (const e of await readRawEvents(store, s)) {
      events.push(e);
      bytesOf.set(e, perRow);
    }
  }
  // Quarantined copies take part too: a retry of one is a duplicate, not a new conflict.
  const reference = await loadReference(store, live, inputs, snap.manifest.quarantine, inputKeys(events));
  const d = dedupe(events, reference, allowedPairs(snap.manifest.conflicts), () => newId(deps), deps.clock.now());
  const plan = planOutputs(
    d.kept,
    (e) => Math.floor(e.timestamp_ms / DAY_MS) * bucketCount + bucketOf(e.account_id, bucketCount),
    (e) => bytesOf.get(e) ?? 0,
    opts,
  );
  if (inputs.every((s) => s.compacted === true) && plan.length >= inputs.length && d.duplicates === 0 && d.quarantined.length === 0) {
    // Only already-compacted inputs and nothing fewer to show for it: rewriting would change nothing.
    return { ...empty, reason: 'no progress: the inputs would be rewritten as they are' };
  }
  const outputs: RawSegmentEntry[] = [];
  const written = {
    bucketOf: (a: string) => bucketOf(a, bucketCount),
    compacted: true,
    ...(opts.groupRows === undefined ? {} : { groupRows: opts.groupRows }),
  };
  // Rows all past the dedupe window need no hashes block or key filter (docs/dedupe.md, lean hashes).
  const old = leanBefore(deps.clock.now(), opts.dedupeWindowMs);
  for (const rows of plan) outputs.push(await writeRawSegment(store, shard.keys, deps, rows, { ...written, lean: rows.every((e) => e.ingested_at_ms < old) }));
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
  // The same commit expires replacement records past their grace, as GC's first commit does: a
  // shard compacted every few seconds under load adds a record per run, and waiting for the hourly
  // GC let them fill `current.json`, which every commit rewrites. What they protected is garbage
  // GC finds by listing, as after its own expiry.
  const res = await shard.commitAll([
    {
      op: 'replaceSegments',
      replacement_id: newId(deps),
      at_ms: now,
      delete_after_ms: now + opts.graceMs,
      inputs: inputs.map((s) => s.id),
      outputs,
      justified_by: [...d.justifiedBy],
      conflicts,
      quarantine,
    },
    { op: 'expireReplacements', now_ms: now },
  ]);
  const committed = res.committed && res.results[0]?.status === 'applied';
  return {
    shard: shard.shard,
    committed,
    inputs: inputs.length,
    outputs: outputs.length,
    rows_in: rowsIn,
    rows_out: d.kept.length,
    duplicates_removed: d.duplicates,
    conflicts_found: conflicts.length,
    quarantined: d.quarantined.length,
    ...(committed ? {} : { reason: 'inputs changed meanwhile; outputs left for GC, next run retries' }),
  };
}
