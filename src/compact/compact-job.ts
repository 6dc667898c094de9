/**
 * Compaction of one shard (bounded): merges young raw segments (and small compacted ones, all
 * unrolled) into segments partitioned by (UTC day, bucket), sorted as raw segments are, with
 * exact duplicates removed (cold dedupe against every live segment) and conflicts recorded.
 * One commit replaces the inputs and records a replacement; inputs are deleted by GC after the
 * reader grace period. It never drops a row on the word of a segment that is no longer live.
 */
import { fetchRawHashes, fetchRawSegment, rawSegmentObject } from '../manifest/raw-objects.ts';
import { rawSegmentEntry } from '../manifest/entries.ts';
import type { ManifestStore } from '../manifest/manifest-store.ts';
import { SKIP } from '../manifest/manifest-store.ts';
import { MAX_CONFLICTS, type ConflictRecord, type DeepReadonly, type RawSegmentEntry } from '../manifest/schema.ts';
import { bucketOf } from '../model/bucket.ts';
import { newId, type Deps } from '../model/deps.ts';
import type { UsageEvent } from '../model/event.ts';
import { eventHash } from '../model/hash.ts';
import { decodeRawSegment, decodeSegmentHashes, encodeRawSegment, payloadHash, rawColumnsToEvents } from '../segment/raw.ts';
import type { ObjectStore } from '../store/types.ts';

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
  graceMs: 15 * 60_000,
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
  readonly reason?: string;
}

const DAY = 86_400_000;

/** The (UTC day, bucket) partition of a compacted segment. */
const partitionOf = (s: DeepReadonly<RawSegmentEntry>) => `${Math.floor(s.min_ts / DAY)}:${s.buckets[0]}`;

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
    for (let d = Math.floor(s.min_ts / DAY); d <= Math.floor(s.max_ts / DAY); d++) {
      for (const b of s.buckets) for (const small of smallByPartition.get(`${d}:${b}`) ?? []) take(small);
    }
  }
  for (const group of smallByPartition.values()) {
    if (group.filter((g) => !chosen.includes(g)).length < 2) continue;
    for (const g of group) take(g);
  }
  return chosen;
}
const hashKey = (h: Uint32Array, at = 0) => `${h[at]},${h[at + 1]},${h[at + 2]},${h[at + 3]}`;

export async function compactShard(store: ObjectStore, shard: ManifestStore, deps: Deps, bucketCount: number, opts: CompactOptions = DEFAULT_COMPACT_OPTIONS): Promise<CompactReport> {
  const snap = await shard.revalidate();
  const live = snap.manifest.segments;
  const inputs = chooseInputs(live, opts);
  const rowsIn = inputs.reduce((n, s) => n + s.rows, 0);
  const empty = { shard: shard.shard, committed: false, inputs: 0, outputs: 0, rows_in: 0, rows_out: 0, duplicates_removed: 0, conflicts_found: 0 };
  if (inputs.length === 0) return { ...empty, reason: 'nothing to compact' };

  // Cold dedupe reference: hashes of every other live segment (a duplicate has the same
  // account and timestamp, so it can only be in a segment overlapping the same day and bucket).
  const inputIds = new Set(inputs.map((s) => s.id));
  const days = new Set<number>();
  const buckets = new Set<number>();
  for (const s of inputs) {
    for (let d = Math.floor(s.min_ts / DAY); d <= Math.floor(s.max_ts / DAY); d++) days.add(d);
    s.buckets.forEach((b) => buckets.add(b));
  }
  // event hash → (payload hash → segment): one id can carry several payloads (conflicts).
  const reference = new Map<string, Map<string, string>>();
  for (const s of live) {
    if (inputIds.has(s.id) || !s.buckets.some((b) => buckets.has(b))) continue;
    let overlaps = false;
    for (let d = Math.floor(s.min_ts / DAY); d <= Math.floor(s.max_ts / DAY) && !overlaps; d++) overlaps = days.has(d);
    if (!overlaps) continue;
    const h = decodeSegmentHashes(await fetchRawHashes(store, s));
    for (let r = 0; r < h.count; r++) {
      const eh = hashKey(h.eventHashes, r * 4);
      let payloads = reference.get(eh);
      if (payloads === undefined) reference.set(eh, (payloads = new Map()));
      payloads.set(hashKey(h.payloadHashes, r * 4), s.id);
    }
  }

  // Read inputs, first-ingested first, and drop exact duplicates.
  const events: UsageEvent[] = [];
  for (const s of inputs) events.push(...rawColumnsToEvents(decodeRawSegment(await fetchRawSegment(store, s))));
  events.sort((a, b) => a.ingested_at_ms - b.ingested_at_ms);
  const seen = new Map<string, Set<string>>();
  const justifiedBy = new Set<string>();
  const conflicts = new Map<string, ConflictRecord>();
  const kept: UsageEvent[] = [];
  let duplicates = 0;
  for (const e of events) {
    const eh = hashKey(eventHash(e.event_id));
    const ph = hashKey(payloadHash(e));
    const ref = reference.get(eh);
    const refSegment = ref?.get(ph);
    const prior = seen.get(eh);
    if (refSegment !== undefined || prior?.has(ph) === true) {
      // An exact duplicate of a row kept elsewhere (another live segment, or earlier here).
      duplicates++;
      if (refSegment !== undefined) justifiedBy.add(refSegment);
      continue;
    }
    if (ref !== undefined || prior !== undefined) {
      // Same id, different payload: both were acknowledged, so both stay; make it visible.
      const c = conflicts.get(e.event_id) ?? { event_id: e.event_id, account_id: e.account_id, segments: [], found_at_ms: deps.clock.now() };
      for (const seg of ref?.values() ?? []) if (!c.segments.includes(seg)) c.segments.push(seg);
      conflicts.set(e.event_id, c);
    }
    if (prior === undefined) seen.set(eh, new Set([ph]));
    else prior.add(ph);
    kept.push(e);
  }

  // Partition by (UTC day, bucket) and write the outputs.
  const partitions = new Map<string, UsageEvent[]>();
  for (const e of kept) {
    const k = `${Math.floor(e.timestamp_ms / DAY)}:${bucketOf(e.account_id, bucketCount)}`;
    let p = partitions.get(k);
    if (p === undefined) partitions.set(k, (p = []));
    p.push(e);
  }
  const outputs: RawSegmentEntry[] = [];
  const bytesPerRow = Math.max(1, inputs.reduce((s, x) => s + x.bytes, 0) / Math.max(1, rowsIn));
  const rowsPerSegment = Math.max(1000, Math.floor(opts.targetBytes / bytesPerRow));
  for (const part of partitions.values()) {
    for (let at = 0; at < part.length; at += rowsPerSegment) {
      const chunk = part.slice(at, at + rowsPerSegment);
      const id = newId(deps);
      const enc = encodeRawSegment(chunk, (a) => bucketOf(a, bucketCount));
      const key = shard.keys.rawSegment(id);
      await store.put(key, rawSegmentObject(enc.bytes, enc.hashes), { ifNoneMatch: '*' });
      outputs.push(rawSegmentEntry({ id, key }, enc.stats, deps.clock.now(), true));
    }
  }

  const res = await shard.commit((draft) => {
    // Preconditions, re-checked on every attempt: inputs still live and unrolled, and every
    // segment whose rows justified dropping a duplicate still live.
    const byId = new Map(draft.segments.map((s) => [s.id, s]));
    for (const s of inputs) if (byId.get(s.id)?.rolled_by !== undefined || !byId.has(s.id)) return SKIP;
    for (const id of justifiedBy) if (!byId.has(id)) return SKIP;
    const now = deps.clock.now();
    draft.segments = draft.segments.filter((s) => !inputIds.has(s.id));
    draft.segments.push(...outputs);
    draft.replacements.push({
      id: newId(deps),
      kind: 'raw',
      inputs: inputs.map((s) => ({ id: s.id, key: s.key, ...(s.hashes_key === undefined ? {} : { hashes_key: s.hashes_key }) })),
      outputs: outputs.map((o) => o.id),
      committed_at_ms: now,
      delete_after_ms: now + opts.graceMs,
    });
    const known = new Set(draft.conflicts.map((c) => c.event_id));
    draft.conflicts.push(...[...conflicts.values()].filter((c) => !known.has(c.event_id)));
    if (draft.conflicts.length > MAX_CONFLICTS) draft.conflicts.splice(0, draft.conflicts.length - MAX_CONFLICTS);
    draft.watermarks.last_compaction_ms = now;
    return true;
  });
  return {
    shard: shard.shard,
    committed: res.committed,
    inputs: inputs.length,
    outputs: outputs.length,
    rows_in: rowsIn,
    rows_out: kept.length,
    duplicates_removed: duplicates,
    conflicts_found: conflicts.size,
    ...(res.committed ? {} : { reason: 'inputs changed meanwhile; outputs left for GC, next run retries' }),
  };
}
