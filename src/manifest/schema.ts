/**
 * The shard manifest: the index of everything a shard holds and its single commit point. One
 * zod schema is the wire shape, the TypeScript type and the validation; a manifest that fails
 * it is never committed. Keep entries compact: a commit rewrites current.json and the parts it changed.
 */
import { z } from 'zod';

/**
 * The format of the manifest's content, in memory and in a format-1 `current.json`. What is
 * stored now is format 2 (parts.ts: the same content split into parts); the in-memory manifest,
 * edits, history records and digests keep format 1 whichever way it was stored.
 */
export const MANIFEST_CONTENT_FORMAT = 1;
/** How many recent commit ids a manifest remembers, for deciding ambiguous commits by read-back. */
export const RECENT_COMMITS = 64;

const int = z.number().int();
const nonNegative = int.nonnegative();
/** A signed 128-bit integer as a decimal string. */
export const decimalString = z.string().regex(/^-?(0|[1-9][0-9]{0,38})$/, 'a decimal integer string');
/** A value set that became too large to list is `null` (meaning "any"), never truncated. */
const cappedSet = z.array(z.string()).nullable();

export const rawSegmentEntry = z.object({
  id: z.string().min(1),
  key: z.string().min(1),
  /**
   * Sidecar object with the segment's event/payload hashes, for segments written before the
   * hashes were appended to the segment object itself (absent: they follow byte `bytes` of `key`).
   */
  hashes_key: z.string().min(1).optional(),
  rows: nonNegative,
  bytes: nonNegative,
  min_ts: int,
  max_ts: int,
  min_ingested: int,
  max_ingested: int,
  buckets: z.array(nonNegative),
  min_account: z.string(),
  max_account: z.string(),
  products: cappedSet,
  meters: cappedSet,
  models: cappedSet,
  quantity_sum: decimalString,
  /** Hex CRC-32 of the container, or of the group directory when `directory_bytes` is set. */
  checksum: z.string(),
  /** Set by the rollup commit that aggregated this segment; never unset except by rebuild-rollups. */
  rolled_by: z.string().optional(),
  /**
   * `sparse`: the rollup job read this segment (with the others of its run) and found that a
   * rollup would hold more than its ratio of their rows (keys barely repeat within an hour), so it
   * wrote none (`markRollupSparse`): the segment is never picked as a rollup input again and every
   * source reads it as raw (docs/compaction-and-gc.md, "Rollups only where they aggregate").
   * `rolled_by` wins over it. Builds that do not know the field drop it and read the segment as
   * unrolled raw, which is what it is: no format change. Cleared by rebuild-rollups.
   */
  rollup: z.literal('sparse').optional(),
  /** Written by compaction: deduplicated, sized by rows and bytes, with a key filter. Only these are rolled up. */
  compacted: z.boolean().optional(),
  /**
   * Length of the key filter block (segment/key-filter.ts) next to the hashes block: written now
   * (filter version 2) at [bytes, bytes + filter_bytes), the hashes (version 3) after it to the
   * end; by earlier releases (filter version 1) after a version 2 hashes block, which then spans
   * [bytes, bytes + 20 + 28 x rows). A read at `bytes` tells which (magic "UFLT" or "UHSH").
   * Absent: no filter, hashes to the end.
   */
  filter_bytes: nonNegative.optional(),
  /**
   * `none`: a lean segment (docs/dedupe.md, "Lean hashes"): the object is the container alone,
   * [0, bytes), with no hashes block and no key filter; written for rows all ingested before the
   * dedupe window. Readers that need its hashes (compaction's cold dedupe, the id-reuse check)
   * recompute them from its columns. Absent: the hashes block is there (appended, or `hashes_key`).
   */
  hashes: z.literal('none').optional(),
  /**
   * The segment's [0, bytes) is written as row groups (segment/raw-groups.ts) and this is the
   * length of the group directory that ends it, at [bytes - directory_bytes, bytes); `checksum`
   * is the directory's CRC-32. A lean segment's object is exactly that; a compacted one inside
   * the dedupe window has its key filter and hashes block after it, at [bytes, …), as a single
   * container has them. Never with `hashes_key`. Absent: one container, as before. Listed only
   * in format-6 manifests (manifest/parts.ts).
   */
  directory_bytes: z.number().int().positive().optional(),
  created_at_ms: int,
});
export type RawSegmentEntry = z.infer<typeof rawSegmentEntry>;

export const rollupSegmentEntry = z.object({
  id: z.string().min(1),
  key: z.string().min(1),
  /** Raw segment ids this rollup aggregates (provenance). */
  inputs: z.array(z.string()),
  rows: nonNegative,
  bytes: nonNegative,
  min_hour_ms: int,
  max_hour_ms: int,
  buckets: z.array(nonNegative),
  min_account: z.string(),
  max_account: z.string(),
  /** Decimal; sums of many 128-bit quantities may exceed 128 bits. */
  quantity_sum: z.string().regex(/^-?(0|[1-9][0-9]*)$/),
  event_count: nonNegative,
  products: cappedSet.optional(),
  meters: cappedSet.optional(),
  models: cappedSet.optional(),
  /** Hex CRC-32 of the container, or of the group directory when `directory_bytes` is set. */
  checksum: z.string(),
  /**
   * Written as row groups (segment/row-groups.ts): length of the group directory that ends the
   * object, at [bytes - directory_bytes, bytes). Absent: one rollup container, as before.
   */
  directory_bytes: z.number().int().positive().optional(),
  created_at_ms: int,
});
export type RollupSegmentEntry = z.infer<typeof rollupSegmentEntry>;

/** A compaction (or rollup merge) that replaced `inputs` by `outputs`; inputs die after the grace period. */
export const replacementRecord = z.object({
  id: z.string().min(1),
  kind: z.enum(['raw', 'rollup']),
  inputs: z.array(z.object({ id: z.string(), key: z.string(), hashes_key: z.string().optional() })),
  outputs: z.array(z.string()),
  committed_at_ms: int,
  delete_after_ms: int,
});
export type ReplacementRecord = z.infer<typeof replacementRecord>;

/** One close or reopen of a period, for its audit trail. */
export const periodTransition = z.object({
  action: z.enum(['close', 'fence', 'reopen']),
  at_ms: int,
  reason: z.string(),
  /** The API key name that did it (`anonymous` on an open server). */
  actor: z.string(),
});

/** A Correction/Retraction accepted into a closed period: not part of the frozen total. */
export const pendingAdjustment = z.object({
  event_id: z.string(),
  kind: z.enum(['Correction', 'Retraction']),
  quantity: decimalString,
  timestamp_ms: int,
  product_id: z.string(),
  meter_id: z.string(),
  model_id: z.string().nullable(),
  unit: z.string(),
  original_event_id: z.string(),
  reason: z.string(),
  committed_at_ms: int,
});
export type PendingAdjustment = z.infer<typeof pendingAdjustment>;

/**
 * A billing period (account, UTC month) that has been closed at least once. While closed, the
 * frozen totals are here and the invoice lines in the immutable `snapshot_key` object; reopening
 * clears them and keeps the history.
 */
export const periodEntry = z.object({
  account_id: z.string(),
  month: z.string().regex(/^\d{4}-\d{2}$/),
  /** `closing`: a fence committed when a close keeps losing races to ingest; Usage is refused. */
  state: z.enum(['open', 'closing', 'closed']),
  closed_at_ms: int.optional(),
  /** Manifest generation the snapshot was computed from. */
  generation: int.optional(),
  snapshot_key: z.string().optional(),
  frozen_quantity: decimalString.optional(),
  frozen_event_count: nonNegative.optional(),
  adjustments: z.array(pendingAdjustment),
  history: z.array(periodTransition),
});
export type PeriodEntry = z.infer<typeof periodEntry>;

/**
 * One stored copy of a conflicting event: where it is and which payload (32 bits of its hash, 8
 * hex digits; records written before hashes block version 3 hold 64 bits, 16 digits, compared
 * on their first 8: compact/payload-hex.ts).
 */
const conflictCopy = z.object({
  /** Where it was when found ('' for a copy compaction was rewriting at the time). */
  segment: z.string(),
  payload: z.string(),
  /** Known when compaction read the row itself. */
  quantity: decimalString.optional(),
  ingested_at_ms: int,
});

/**
 * Found in storage by compaction, past ingest's dedupe window:
 * - `payload`: the same (account_id, event_id) with another payload. The first-ingested copy
 *   stays; the later one is `quarantined` (moved to a quarantine segment, out of every total)
 *   until an admin resolves it. When the later copy sits where compaction cannot move it, both
 *   stay counted and the record is `reported`.
 * - `id_reuse`: one event_id under two accounts: two events, both counted, reported.
 * Records written before quarantine existed have neither `id` nor `status` (read: reported).
 */
export const conflictRecord = z.object({
  id: z.string().optional(),
  kind: z.enum(['payload', 'id_reuse']).optional(),
  status: z.enum(['reported', 'quarantined', 'resolved']).optional(),
  event_id: z.string(),
  account_id: z.string(),
  /** id_reuse: the other account that used the same event_id (possibly in another shard). */
  other_account_id: z.string().optional(),
  segments: z.array(z.string()),
  found_at_ms: int,
  /** When the event happened (both copies share it, or the first copy's for payload conflicts). */
  timestamp_ms: int.optional(),
  kept: conflictCopy.optional(),
  quarantined: conflictCopy.optional(),
  resolution: z
    .object({ keep: z.enum(['first', 'second', 'both']), at_ms: int, actor: z.string(), reason: z.string(), segment: z.string().optional() })
    .optional(),
});
export type ConflictRecord = z.infer<typeof conflictRecord>;

/**
 * How many conflict records a shard keeps (newest last). Reported and resolved ones are trimmed
 * oldest first; quarantined ones never are (they say why rows are out of the totals).
 */
export const MAX_CONFLICTS = 10_000;

export const shardManifest = z.object({
  format: z.literal(MANIFEST_CONTENT_FORMAT),
  shard: nonNegative,
  generation: z.number().int().positive(),
  commit_id: z.string().min(1),
  recent_commit_ids: z.array(z.string()).max(RECENT_COMMITS),
  created_at_ms: int,
  updated_at_ms: int,
  /** Set when this generation was written by `restore` from an older one. */
  restored_from: z.number().int().positive().optional(),
  segments: z.array(rawSegmentEntry),
  rollups: z.array(rollupSegmentEntry),
  replacements: z.array(replacementRecord),
  periods: z.array(periodEntry),
  conflicts: z.array(conflictRecord).max(MAX_CONFLICTS).default([]),
  /** Segments holding quarantined copies: out of every total (never planned, rolled or compacted). */
  quarantine: z.array(rawSegmentEntry).default([]),
  /** Named high-water marks (e.g. last compaction time); never the source of truth for totals. */
  watermarks: z.record(z.string(), int),
});
export type ShardManifest = z.infer<typeof shardManifest>;

export type DeepReadonly<T> = T extends (infer U)[] ? readonly DeepReadonly<U>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

export function emptyManifest(shard: number, commitId: string, nowMs: number): ShardManifest {
  return {
    format: MANIFEST_CONTENT_FORMAT,
    shard,
    generation: 1,
    commit_id: commitId,
    recent_commit_ids: [commitId],
    created_at_ms: nowMs,
    updated_at_ms: nowMs,
    segments: [],
    rollups: [],
    replacements: [],
    periods: [],
    conflicts: [],
    quarantine: [],
    watermarks: {},
  };
}
