/**
 * Every change to a shard manifest is one of these named edits: plain JSON data (it can travel
 * to whoever sequences the shard), applied to a draft by `applyEdit`, which checks the edit's
 * own preconditions against that draft and answers `applied` (with a value) or `skipped` (with
 * a reason) — a skipped edit leaves the draft untouched. Nothing else mutates a manifest.
 *
 * A draft (`draftOf`) shares every entry with the committed manifest it comes from (they are
 * frozen): edits replace the arrays and entries they change instead of mutating them, so a
 * commit costs what it changes plus one shallow copy of the lists, not a deep clone.
 */
import { z } from 'zod';
import type { UsageEvent } from '../model/event.ts';
import { monthOf, parseMonth } from '../model/periods.ts';
import { HOUR_MS } from '../model/time.ts';
import {
  conflictRecord,
  MAX_CONFLICTS,
  pendingAdjustment,
  rawSegmentEntry,
  rollupSegmentEntry,
  type ConflictRecord,
  type DeepReadonly,
  type PeriodEntry,
  type RawSegmentEntry,
  type ReplacementRecord,
  type ShardManifest,
} from './schema.ts';

const int = z.number().int();
const month = z.string().regex(/^\d{4}-\d{2}$/);
/** Who did a period transition and why (the audit trail). */
const transition = { at_ms: int, reason: z.string(), actor: z.string() };
const replacement = { replacement_id: z.string().min(1), at_ms: int, delete_after_ms: int };

/** Ingest: new raw segments; corrections into closed periods become pending adjustments. */
export const addRawSegments = z.object({
  op: z.literal('addRawSegments'),
  segments: z.array(rawSegmentEntry).min(1),
  /** (account, month) of the Usage events inside: refused if any such period is not open. */
  usage_months: z.array(z.object({ account_id: z.string(), month })),
  /** Every Correction/Retraction inside; recorded as pending where its period is closed. */
  adjustments: z.array(pendingAdjustment.extend({ account_id: z.string(), month })),
  at_ms: int,
});

/** Compaction: inputs replaced by outputs (inputs stay readable until `delete_after_ms`). */
export const replaceSegments = z.object({
  op: z.literal('replaceSegments'),
  ...replacement,
  inputs: z.array(z.string()).min(1),
  outputs: z.array(rawSegmentEntry),
  /** Segments whose rows justified dropping duplicates or quarantining: they must still be live. */
  justified_by: z.array(z.string()),
  conflicts: z.array(conflictRecord),
  /** Segments of quarantined copies (out of every total), named by `conflicts`. */
  quarantine: z.array(rawSegmentEntry).optional(),
});

/**
 * Lean hashes: compacted segments whose rows are all past the dedupe window, each replaced 1:1 by
 * its rows in a lean object (`key`) without hashes block or filter: the container rewritten in raw
 * format v2, of `out_bytes` bytes and checksum `out_checksum` (absent: a byte-for-byte copy, same
 * `bytes` and `checksum`, as earlier builds wrote), in row groups when `out_directory_bytes` says
 * so (the input's `directory_bytes` never carries over to a re-encoded copy). `bytes` and
 * `checksum` name the input as listed. Everything else of the entry stays (rows, stats, `rolled_by`, `compacted`, `created_at_ms`);
 * the rollup that lists an input lists its replacement instead. Refused whole if any input is no
 * longer listed as it was; the inputs stay readable until `delete_after_ms`, as compaction's do.
 */
export const stripHashes = z.object({
  op: z.literal('stripHashes'),
  ...replacement,
  segments: z
    .array(
      z.object({
        input: z.string().min(1),
        id: z.string().min(1),
        key: z.string().min(1),
        bytes: int.nonnegative(),
        checksum: z.string(),
        out_bytes: int.nonnegative().optional(),
        out_checksum: z.string().optional(),
        /** The lean object is written as row groups: its directory length (the entry's `directory_bytes`). */
        out_directory_bytes: z.number().int().positive().optional(),
      }),
    )
    .min(1),
});

/**
 * An admin's decision on a quarantined conflict: keep the first copy (the quarantined one stays
 * out), or both (it is back, as a distinct event), or the second (it is back, and a Retraction
 * cancels the first). Whatever comes back is in `segment`, added by an addRawSegments edit of
 * the same (atomic) commit.
 */
export const resolveConflict = z.object({
  op: z.literal('resolveConflict'),
  conflict_id: z.string(),
  keep: z.enum(['first', 'second', 'both']),
  segment: z.string().optional(),
  at_ms: int,
  actor: z.string(),
  reason: z.string(),
});

/** Conflicts found by a check outside compaction (ids reused across accounts). */
export const addConflicts = z.object({ op: z.literal('addConflicts'), conflicts: z.array(conflictRecord).min(1) });

/** Moves a named high-water mark forward (never back); watermarks never decide totals. */
export const setWatermark = z.object({ op: z.literal('setWatermark'), name: z.string().min(1), at_ms: int });

/** Rollup: adds a rollup segment and marks its inputs rolled, in the same commit. */
export const addRollup = z.object({ op: z.literal('addRollup'), rollup: rollupSegmentEntry, at_ms: int });

/**
 * Rollup, when the rollup would not aggregate: marks the inputs `rollup: 'sparse'` instead of
 * writing a rollup. Same preconditions as `addRollup` (every input listed, compacted, neither
 * rolled nor marked), so it never races compaction or another rollup run into a wrong state.
 */
export const markRollupSparse = z.object({ op: z.literal('markRollupSparse'), inputs: z.array(z.string().min(1)).min(1), at_ms: int });

/** Rollup merge: rollups replaced by one; raw segments' `rolled_by` repointed to it. */
export const mergeRollups = z.object({
  op: z.literal('mergeRollups'),
  ...replacement,
  inputs: z.array(z.string()).min(2),
  output: rollupSegmentEntry,
});

/**
 * rebuild-rollups: drops rollups overlapping [from, to) and unmarks their inputs; clears the
 * `rollup: 'sparse'` mark of raw segments overlapping [from, to), so the next run reconsiders them.
 */
export const dropRollups = z.object({ op: z.literal('dropRollups'), ...replacement, from: int, to: int });

/** GC: forgets replacement records past their grace period. */
export const expireReplacements = z.object({ op: z.literal('expireReplacements'), now_ms: int });

/** A close that keeps losing races first fences the period: Usage is refused from then on. */
export const fencePeriod = z.object({ op: z.literal('fencePeriod'), account_id: z.string(), month, ...transition });

/**
 * Freezes a period with totals computed from the raw segments `inputs`: exactly those of the
 * draft that may hold rows of (account, month) — see `closeInputs`. Any other set (an ingest of
 * the account-month, a compaction of them) makes it stale; commits that touch nothing of the
 * account-month (other accounts, other months) do not.
 */
export const closePeriod = z.object({
  op: z.literal('closePeriod'),
  account_id: z.string(),
  month,
  /** The account's bucket (what segment entries list). */
  bucket: int.nonnegative(),
  /** Sorted ids of the raw segments the totals were computed from. */
  inputs: z.array(z.string()),
  /** The manifest generation they were listed in (kept with the frozen period). */
  based_on_generation: int,
  /** The immutable object holding the frozen invoice lines. */
  frozen_key: z.string(),
  quantity: z.string(),
  event_count: int.nonnegative(),
  ...transition,
});

export const reopenPeriod = z.object({ op: z.literal('reopenPeriod'), account_id: z.string(), month, ...transition });

export const manifestEdit = z.discriminatedUnion('op', [
  addRawSegments,
  replaceSegments,
  stripHashes,
  resolveConflict,
  addConflicts,
  setWatermark,
  addRollup,
  markRollupSparse,
  mergeRollups,
  dropRollups,
  expireReplacements,
  fencePeriod,
  closePeriod,
  reopenPeriod,
]);
export type ManifestEdit = z.infer<typeof manifestEdit>;
export type EditOf<Op extends ManifestEdit['op']> = Extract<ManifestEdit, { op: Op }>;

export interface DroppedRollups {
  readonly dropped: string[];
  readonly unmarked_segments: number;
  readonly unmarked_rows: number;
  /** Raw segments in [from, to) whose `rollup: 'sparse'` mark was cleared. */
  readonly cleared_sparse: number;
}

/** What an applied edit hands back, per edit. */
interface AppliedValues {
  addRawSegments: undefined;
  replaceSegments: undefined;
  stripHashes: undefined;
  resolveConflict: undefined;
  addConflicts: number;
  setWatermark: undefined;
  addRollup: undefined;
  markRollupSparse: number;
  mergeRollups: undefined;
  dropRollups: DroppedRollups;
  expireReplacements: number;
  fencePeriod: undefined;
  closePeriod: undefined;
  reopenPeriod: undefined;
}

export type SkipReason =
  | 'already_listed'
  | 'period_closed'
  | 'inputs_changed'
  | 'justification_gone'
  | 'nothing_to_drop'
  | 'nothing_expired'
  | 'not_open'
  | 'already_closed'
  | 'stale'
  | 'not_closed'
  | 'period_closing'
  | 'not_quarantined'
  | 'nothing_new'
  | 'not_newer';

export type EditResult<E extends ManifestEdit = ManifestEdit> =
  | { readonly status: 'applied'; readonly value: AppliedValues[E['op']] }
  | { readonly status: 'skipped'; readonly reason: SkipReason };

const applied = <V>(value: V) => ({ status: 'applied' as const, value });
const skipped = (reason: SkipReason) => ({ status: 'skipped' as const, reason });

/** Applies one edit to `draft` if its preconditions hold there; otherwise leaves it untouched. */
export function applyEdit<E extends ManifestEdit>(draft: ShardManifest, edit: E): EditResult<E> {
  return APPLY[edit.op](draft, edit as never) as EditResult<E>;
}

type Appliers = { [Op in ManifestEdit['op']]: (d: ShardManifest, e: EditOf<Op>) => EditResult<EditOf<Op>> };

const APPLY: Appliers = {
  addRawSegments(d, e) {
    // A set of the few incoming ids, not of every listed one: a commit's cost stays with its edit.
    const incoming = new Set(e.segments.map((s) => s.id));
    if (d.segments.some((s) => incoming.has(s.id))) return skipped('already_listed');
    const notOpen = new Map(d.periods.filter((p) => p.state !== 'open').map((p) => [`${p.account_id}\u0000${p.month}`, p]));
    if (notOpen.size > 0 && e.usage_months.some((u) => notOpen.has(`${u.account_id}\u0000${u.month}`))) return skipped('period_closed');
    // A fenced period's inputs stay as they are until its close: corrections wait for it.
    if (notOpen.size > 0 && e.adjustments.some((a) => notOpen.get(`${a.account_id}\u0000${a.month}`)?.state === 'closing')) return skipped('period_closing');
    d.segments.push(...e.segments);
    if (notOpen.size === 0) return applied(undefined);
    for (const { account_id, month: m, ...adjustment } of e.adjustments) {
      if (notOpen.get(`${account_id}\u0000${m}`)?.state !== 'closed') continue;
      const p = mutablePeriod(d, account_id, m)!;
      p.adjustments.push({ ...adjustment, committed_at_ms: e.at_ms });
    }
    return applied(undefined);
  },

  replaceSegments(d, e) {
    // Only the segments the edit names are looked up (a pass, not a map of every segment).
    const named = new Set([...e.inputs, ...e.justified_by]);
    const byId = new Map<string, RawSegmentEntry>();
    for (const s of d.segments) if (named.has(s.id)) byId.set(s.id, s);
    if (e.inputs.some((id) => byId.get(id) === undefined || byId.get(id)!.rolled_by !== undefined)) return skipped('inputs_changed');
    const quarantined = new Set(d.quarantine.map((s) => s.id));
    if (e.justified_by.some((id) => !byId.has(id) && !quarantined.has(id))) return skipped('justification_gone');
    const inputs = new Set(e.inputs);
    const record: ReplacementRecord = {
      id: e.replacement_id,
      kind: 'raw',
      inputs: e.inputs.map((id) => {
        const s = byId.get(id)!;
        return { id, key: s.key, ...(s.hashes_key === undefined ? {} : { hashes_key: s.hashes_key }) };
      }),
      outputs: e.outputs.map((o) => o.id),
      committed_at_ms: e.at_ms,
      delete_after_ms: e.delete_after_ms,
    };
    d.segments = d.segments.filter((s) => !inputs.has(s.id));
    d.segments.push(...e.outputs);
    d.replacements.push(record);
    d.quarantine.push(...(e.quarantine ?? []));
    recordConflicts(d, e.conflicts);
    d.watermarks.last_compaction_ms = e.at_ms;
    return applied(undefined);
  },

  stripHashes(d, e) {
    const wanted = new Map(e.segments.map((x) => [x.input, x]));
    const at = new Map<string, number>();
    d.segments.forEach((s, i) => {
      if (wanted.has(s.id)) at.set(s.id, i);
    });
    const unchanged = (x: EditOf<'stripHashes'>['segments'][number]) => {
      const s = at.has(x.input) ? d.segments[at.get(x.input)!]! : undefined;
      return s !== undefined && s.hashes !== 'none' && s.bytes === x.bytes && s.checksum === x.checksum;
    };
    if (wanted.size !== e.segments.length || !e.segments.every(unchanged)) return skipped('inputs_changed');
    const renamed = new Map<string, string>();
    const inputs: ReplacementRecord['inputs'] = [];
    for (const x of e.segments) {
      const i = at.get(x.input)!;
      const { hashes_key, filter_bytes: _filter, directory_bytes: inputDirectory, ...rest } = d.segments[i]!;
      // A re-encoded copy lists its own directory, if any (a grouped input's is not the copy's); a byte copy keeps the input's.
      const directory = x.out_bytes === undefined ? inputDirectory : x.out_directory_bytes;
      inputs.push({ id: x.input, key: rest.key, ...(hashes_key === undefined ? {} : { hashes_key }) });
      d.segments[i] = {
        ...rest,
        id: x.id,
        key: x.key,
        bytes: x.out_bytes ?? rest.bytes,
        checksum: x.out_checksum ?? rest.checksum,
        hashes: 'none',
        ...(directory === undefined ? {} : { directory_bytes: directory }),
      };
      renamed.set(x.input, x.id);
    }
    // Provenance: the rollup that aggregated an input names its replacement (same rows).
    d.rollups = d.rollups.map((r) => (r.inputs.some((id) => renamed.has(id)) ? { ...r, inputs: r.inputs.map((id) => renamed.get(id) ?? id) } : r));
    d.replacements.push({
      id: e.replacement_id,
      kind: 'raw',
      inputs,
      outputs: e.segments.map((x) => x.id),
      committed_at_ms: e.at_ms,
      delete_after_ms: e.delete_after_ms,
    });
    return applied(undefined);
  },

  resolveConflict(d, e) {
    const at = d.conflicts.findIndex((x) => x.id === e.conflict_id);
    const c = d.conflicts[at];
    if (c === undefined || c.status !== 'quarantined') return skipped('not_quarantined');
    d.conflicts[at] = {
      ...c,
      status: 'resolved',
      resolution: { keep: e.keep, at_ms: e.at_ms, actor: e.actor, reason: e.reason, ...(e.segment === undefined ? {} : { segment: e.segment }) },
    };
    // A quarantine segment no unresolved conflict needs any more leaves the manifest (GC collects it).
    const needed = new Set(d.conflicts.filter((x) => x.status === 'quarantined' && x.quarantined !== undefined).map((x) => x.quarantined!.segment));
    d.quarantine = d.quarantine.filter((s) => needed.has(s.id));
    return applied(undefined);
  },

  setWatermark(d, e) {
    if ((d.watermarks[e.name] ?? Number.NEGATIVE_INFINITY) >= e.at_ms) return skipped('not_newer');
    d.watermarks[e.name] = e.at_ms;
    return applied(undefined);
  },

  addConflicts(d, e) {
    const before = d.conflicts.length;
    recordConflicts(d, e.conflicts);
    return d.conflicts.length === before ? skipped('nothing_new') : applied(d.conflicts.length - before);
  },

  addRollup(d, e) {
    const byId = new Map(d.segments.map((s) => [s.id, s]));
    if (e.rollup.inputs.some((id) => byId.get(id) === undefined || byId.get(id)!.rolled_by !== undefined)) return skipped('inputs_changed');
    const inputs = new Set(e.rollup.inputs);
    // Rolled wins over a sparse mark (a concurrent run with another ratio): the mark goes.
    d.segments = d.segments.map((s) => (inputs.has(s.id) ? { ...withoutSparseMark(s), rolled_by: e.rollup.id } : s));
    d.rollups.push(e.rollup);
    d.watermarks.last_rollup_ms = e.at_ms;
    return applied(undefined);
  },

  markRollupSparse(d, e) {
    const inputs = new Set(e.inputs);
    const found = new Map<string, RawSegmentEntry>();
    for (const s of d.segments) if (inputs.has(s.id)) found.set(s.id, s);
    const markable = (s: RawSegmentEntry | undefined) => s !== undefined && s.compacted === true && s.rolled_by === undefined && s.rollup === undefined;
    if (inputs.size !== e.inputs.length || e.inputs.some((id) => !markable(found.get(id)))) return skipped('inputs_changed');
    d.segments = d.segments.map((s) => (inputs.has(s.id) ? { ...s, rollup: 'sparse' as const } : s));
    d.watermarks.last_rollup_ms = e.at_ms;
    return applied(inputs.size);
  },

  mergeRollups(d, e) {
    const present = new Map(d.rollups.map((r) => [r.id, r]));
    if (e.inputs.some((id) => !present.has(id))) return skipped('inputs_changed');
    const inputs = new Set(e.inputs);
    d.rollups = d.rollups.filter((r) => !inputs.has(r.id));
    d.rollups.push(e.output);
    d.segments = d.segments.map((s) => (s.rolled_by !== undefined && inputs.has(s.rolled_by) ? { ...s, rolled_by: e.output.id } : s));
    d.replacements.push({
      id: e.replacement_id,
      kind: 'rollup',
      inputs: e.inputs.map((id) => ({ id, key: present.get(id)!.key })),
      outputs: [e.output.id],
      committed_at_ms: e.at_ms,
      delete_after_ms: e.delete_after_ms,
    });
    return applied(undefined);
  },

  dropRollups(d, e) {
    const gone = d.rollups.filter((r) => rollupOverlaps(r, e.from, e.to));
    const sparseInRange = (s: RawSegmentEntry) => s.rollup === 'sparse' && s.min_ts < e.to && s.max_ts >= e.from;
    if (gone.length === 0 && !d.segments.some(sparseInRange)) return skipped('nothing_to_drop');
    const dropped = new Set(gone.map((r) => r.id));
    let unmarked = 0;
    let rows = 0;
    let cleared = 0;
    d.segments = d.segments.map((s) => {
      let out = s;
      if (sparseInRange(s)) {
        out = withoutSparseMark(out);
        cleared++;
      }
      if (s.rolled_by === undefined || !dropped.has(s.rolled_by)) return out;
      const { rolled_by: _, ...unrolled } = out;
      unmarked++;
      rows += s.rows;
      return unrolled;
    });
    if (gone.length > 0) {
      d.rollups = d.rollups.filter((r) => !dropped.has(r.id));
      d.replacements.push({
        id: e.replacement_id,
        kind: 'rollup',
        inputs: gone.map((r) => ({ id: r.id, key: r.key })),
        outputs: [],
        committed_at_ms: e.at_ms,
        delete_after_ms: e.delete_after_ms,
      });
    }
    d.watermarks.last_rollup_rebuild_ms = e.at_ms;
    return applied({ dropped: [...dropped].sort(), unmarked_segments: unmarked, unmarked_rows: rows, cleared_sparse: cleared });
  },

  expireReplacements(d, e) {
    const keep = d.replacements.filter((r) => r.delete_after_ms > e.now_ms);
    if (keep.length === d.replacements.length) return skipped('nothing_expired');
    const expired = d.replacements.length - keep.length;
    d.replacements = keep;
    return applied(expired);
  },

  fencePeriod(d, e) {
    const entry = periodOf(d, e.account_id, e.month);
    if (entry !== undefined && entry.state !== 'open') return skipped('not_open');
    const fenced = mutablePeriod(d, e.account_id, e.month) ?? newPeriod(d, e.account_id, e.month);
    fenced.state = 'closing';
    fenced.history.push({ action: 'fence', at_ms: e.at_ms, reason: e.reason, actor: e.actor });
    return applied(undefined);
  },

  closePeriod(d, e) {
    const existing = periodOf(d, e.account_id, e.month);
    if (existing?.state === 'closed') return skipped('already_closed');
    // The frozen totals hold for this draft exactly when it lists the same possible inputs.
    const m = parseMonth(e.month);
    if (!sameIds(closeInputs(d.segments, e.account_id, e.bucket, m.from, m.to), e.inputs)) return skipped('stale');
    const entry = mutablePeriod(d, e.account_id, e.month) ?? newPeriod(d, e.account_id, e.month);
    Object.assign(entry, {
      state: 'closed',
      closed_at_ms: e.at_ms,
      generation: e.based_on_generation,
      snapshot_key: e.frozen_key,
      frozen_quantity: e.quantity,
      frozen_event_count: e.event_count,
      adjustments: [],
    });
    entry.history.push({ action: 'close', at_ms: e.at_ms, reason: e.reason, actor: e.actor });
    return applied(undefined);
  },

  reopenPeriod(d, e) {
    if (periodOf(d, e.account_id, e.month)?.state !== 'closed' && periodOf(d, e.account_id, e.month)?.state !== 'closing') return skipped('not_closed');
    const entry = mutablePeriod(d, e.account_id, e.month)!;
    entry.state = 'open';
    delete entry.closed_at_ms;
    delete entry.generation;
    delete entry.snapshot_key;
    delete entry.frozen_quantity;
    delete entry.frozen_event_count;
    entry.adjustments = [];
    entry.history.push({ action: 'reopen', at_ms: e.at_ms, reason: e.reason, actor: e.actor });
    return applied(undefined);
  },
};

/** Adds conflict records not known yet (same kind, account and id), trimming old settled ones. */
function recordConflicts(d: ShardManifest, conflicts: readonly ConflictRecord[]): void {
  const keyOf = (c: ConflictRecord) => `${c.kind ?? 'payload'}\u0000${c.account_id}\u0000${c.event_id}\u0000${c.other_account_id ?? ''}`;
  const known = new Set(d.conflicts.map(keyOf));
  for (const c of conflicts) {
    if (known.has(keyOf(c))) continue;
    d.conflicts.push(c);
    known.add(keyOf(c));
  }
  let excess = d.conflicts.length - MAX_CONFLICTS;
  if (excess > 0) d.conflicts = d.conflicts.filter((c) => c.status === 'quarantined' || excess-- <= 0);
}

/**
 * The ingest edit for `segments` holding `events`: the (account, month) of its Usage events must
 * be open, and its corrections become pending adjustments where their period is closed.
 */
export function rawSegmentsAdded(segments: EditOf<'addRawSegments'>['segments'], events: readonly UsageEvent[], atMs: number): EditOf<'addRawSegments'> {
  const usage = new Map<string, { account_id: string; month: string }>();
  const adjustments: EditOf<'addRawSegments'>['adjustments'] = [];
  for (const e of events) {
    const m = monthOf(e.timestamp_ms);
    if (e.kind === 'Usage') {
      const k = `${e.account_id}\u0000${m}`;
      if (!usage.has(k)) usage.set(k, { account_id: e.account_id, month: m });
      continue;
    }
    adjustments.push({
      account_id: e.account_id,
      month: m,
      event_id: e.event_id,
      kind: e.kind,
      quantity: e.quantity.toString(),
      timestamp_ms: e.timestamp_ms,
      product_id: e.product_id,
      meter_id: e.meter_id,
      model_id: e.model_id,
      unit: e.unit,
      original_event_id: e.correction_ref?.original_event_id ?? '',
      reason: e.correction_ref?.reason ?? '',
      committed_at_ms: atMs,
    });
  }
  return { op: 'addRawSegments', segments, usage_months: [...usage.values()], adjustments, at_ms: atMs };
}

/** What a raw segment entry says of where its rows are. */
interface SegmentBounds {
  readonly id: string;
  readonly min_ts: number;
  readonly max_ts: number;
  readonly min_account: string;
  readonly max_account: string;
  readonly buckets: readonly number[];
}

/**
 * Sorted ids of the raw segments that may hold rows of `accountId` in [from, to) by what their
 * entries say (time range, account range, bucket): a superset of those that do.
 */
export function closeInputs(segments: readonly SegmentBounds[], accountId: string, bucket: number, from: number, to: number): string[] {
  return segments
    .filter((s) => s.min_ts < to && s.max_ts >= from && s.min_account <= accountId && accountId <= s.max_account && s.buckets.includes(bucket))
    .map((s) => s.id)
    .sort();
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/**
 * A draft of a committed manifest for edits to work on: the lists are copies, their entries
 * are shared (frozen). Entries an edit changes are replaced by changed copies.
 */
export function draftOf(m: DeepReadonly<ShardManifest>): ShardManifest {
  const x = m as ShardManifest;
  return {
    ...x,
    recent_commit_ids: [...x.recent_commit_ids],
    segments: [...x.segments],
    rollups: [...x.rollups],
    replacements: [...x.replacements],
    periods: [...x.periods],
    conflicts: [...x.conflicts],
    quarantine: [...x.quarantine],
    watermarks: { ...x.watermarks },
  };
}

/** The period entry as a copy this draft owns (replacing the shared one), or undefined. */
function mutablePeriod(d: ShardManifest, accountId: string, m: string): PeriodEntry | undefined {
  const at = d.periods.findIndex((p) => p.account_id === accountId && p.month === m);
  if (at < 0) return undefined;
  const copy = structuredClone(d.periods[at]!);
  d.periods[at] = copy;
  return copy;
}

function periodOf(d: ShardManifest, accountId: string, m: string): PeriodEntry | undefined {
  return d.periods.find((p) => p.account_id === accountId && p.month === m);
}

function newPeriod(d: ShardManifest, accountId: string, m: string): PeriodEntry {
  const entry: PeriodEntry = { account_id: accountId, month: m, state: 'open', adjustments: [], history: [] };
  d.periods.push(entry);
  return entry;
}

/** The entry without its `rollup: 'sparse'` mark (the same entry when it has none). */
function withoutSparseMark(s: RawSegmentEntry): RawSegmentEntry {
  if (s.rollup === undefined) return s;
  const { rollup: _, ...rest } = s;
  return rest;
}

/** Whether a rollup's hours [min_hour_ms, max_hour_ms + 1 h) overlap [from, to). */
export function rollupOverlaps(r: { readonly min_hour_ms: number; readonly max_hour_ms: number }, from: number, to: number): boolean {
  return r.min_hour_ms < to && r.max_hour_ms + HOUR_MS > from;
}
