/**
 * Lean hashes (issue 15 item 4): a compacted segment whose rows are all older than the dedupe
 * window no longer needs its hashes block (22 B/event; 28 before version 3) or key filter (~2.5 B/event) — ingest
 * never looks at it again, and compaction's cold dedupe and the id-reuse check recompute its
 * hashes from its columns (segment-objects.ts `readRawHashes`). One bounded run per shard rewrites
 * the containers of the oldest such segments as lean segments in raw format v2 (ranged GET
 * [0, bytes), decode, checks against the entry, encode, create-only PUT; `writeLeanCopy`) and
 * commits a 1:1 replacement (`stripHashes`): same rows and stats, same rollup status; only
 * `bytes` and `checksum` are the new object's (and `directory_bytes`, when a copy of more than
 * `groupRows` rows is written as row groups: segment/raw-groups.ts; an input compacted in row
 * groups already holds the lean object as its [0, bytes), which is copied as it is).
 * The old objects stay readable for the grace period (queries planned before the commit), then
 * GC deletes them. Concurrent runs, compactions and rollups are decided by the commit: an input
 * no longer listed as it was refuses the whole edit, and the copies written are garbage for GC.
 */
import type { ManifestStore } from '../manifest/manifest-store.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { newId, type Deps } from '../model/deps.ts';
import { HOUR_MS } from '../model/time.ts';
import { isLean, writeLeanCopy } from '../objects/segment-objects.ts';
import type { ObjectStore } from '../store/types.ts';

/**
 * Margin past the dedupe window before hashes are dropped: clocks of instances differ by
 * seconds, not an hour, so no ingest instance still counts a lean segment in its window.
 */
export const LEAN_SLACK_MS = HOUR_MS;

/** Rows ingested before this time no longer need a hashes block. */
export function leanBefore(nowMs: number, dedupeWindowMs: number): number {
  return nowMs - dedupeWindowMs - LEAN_SLACK_MS;
}

export interface StripOptions {
  /** The dedupe window ingest uses. */
  readonly dedupeWindowMs: number;
  /** Bounds of one run: segments rewritten and container bytes read (at least one segment). */
  readonly maxSegments: number;
  readonly maxBytes: number;
  /** How long the replaced objects stay readable. */
  readonly graceMs: number;
  /** Copies of more rows are written as row groups of at most this many (default RAW_GROUP_ROWS). */
  readonly groupRows?: number;
}

export const DEFAULT_STRIP_OPTIONS: Omit<StripOptions, 'dedupeWindowMs' | 'graceMs'> = { maxSegments: 16, maxBytes: 128 * 1024 * 1024 };

export interface StripReport {
  readonly shard: number;
  readonly committed: boolean;
  readonly stripped: number;
  /** Bytes of the objects replaced (container + hashes + filter) and of their replacements. */
  readonly bytes_before: number;
  readonly bytes_after: number;
  /** Candidates left for later runs. */
  readonly remaining: number;
  readonly reason?: string;
}

type Entry = DeepReadonly<RawSegmentEntry>;

/** Compacted segments with a hashes block whose rows are all past the window, oldest first. */
export function strippable(live: readonly Entry[], nowMs: number, dedupeWindowMs: number): Entry[] {
  const before = leanBefore(nowMs, dedupeWindowMs);
  return live.filter((s) => s.compacted === true && !isLean(s) && s.rows > 0 && s.max_ingested < before).sort((a, b) => a.max_ingested - b.max_ingested);
}

/**
 * Bytes a segment's object holds now: container, hashes block, key filter. The hashes' row size
 * depends on their version (22 or 28 bytes), which the entry does not say: the object is asked.
 */
async function objectBytes(store: ObjectStore, s: Entry): Promise<number> {
  if (s.hashes_key !== undefined) return s.bytes;
  return (await store.head(s.key))?.size ?? s.bytes;
}

export async function stripShard(store: ObjectStore, shard: ManifestStore, deps: Deps, opts: StripOptions): Promise<StripReport> {
  const snap = await shard.revalidate();
  const candidates = strippable(snap.manifest.segments, deps.clock.now(), opts.dedupeWindowMs);
  const chosen: Entry[] = [];
  let bytes = 0;
  for (const s of candidates) {
    if (chosen.length >= opts.maxSegments || (chosen.length > 0 && bytes + s.bytes > opts.maxBytes)) break;
    chosen.push(s);
    bytes += s.bytes;
  }
  const empty = { shard: shard.shard, committed: false, stripped: 0, bytes_before: 0, bytes_after: 0, remaining: candidates.length };
  if (chosen.length === 0) return { ...empty, reason: 'nothing past the dedupe window carries hashes' };
  const copies = [];
  let bytesAfter = 0;
  let bytesBefore = 0;
  for (const s of chosen) {
    bytesBefore += await objectBytes(store, s);
    const out = await writeLeanCopy(store, shard.keys, deps, s, opts.groupRows);
    bytesAfter += out.bytes;
    copies.push({
      input: s.id,
      id: out.id,
      key: out.key,
      bytes: s.bytes,
      checksum: s.checksum,
      out_bytes: out.bytes,
      out_checksum: out.checksum,
      ...(out.directoryBytes === undefined ? {} : { out_directory_bytes: out.directoryBytes }),
    });
  }
  const now = deps.clock.now();
  const res = await shard.commitAll([
    { op: 'stripHashes', replacement_id: newId(deps), at_ms: now, delete_after_ms: now + opts.graceMs, segments: copies },
    { op: 'expireReplacements', now_ms: now },
  ]);
  if (!res.committed || res.results[0]?.status !== 'applied') {
    return { ...empty, reason: 'inputs changed meanwhile; copies left for GC, next run retries' };
  }
  return {
    shard: shard.shard,
    committed: true,
    stripped: chosen.length,
    bytes_before: bytesBefore,
    bytes_after: bytesAfter,
    remaining: candidates.length - chosen.length,
  };
}
