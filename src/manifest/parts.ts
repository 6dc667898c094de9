/**
 * The two-level manifest, as data (design: docs/manifest-commit.md, "Parts"): how a shard
 * manifest is split for storage into a small `current.json` and immutable, content-addressed
 * parts, one per settled month, and joined back. Pure: it never reads or writes the store
 * (part-store.ts does). The in-memory manifest is the same whatever the split; only bytes differ.
 */
import { z } from 'zod';
import {
  MANIFEST_CONTENT_FORMAT,
  rawSegmentEntry,
  rollupSegmentEntry,
  shardManifest,
  type DeepReadonly,
  type RawSegmentEntry,
  type RollupSegmentEntry,
  type ShardManifest,
} from './schema.ts';

/** The stored format of `current.json` split into parts by settled month only. */
export const STORED_MANIFEST_FORMAT = 2;
/**
 * The stored format of `current.json` whose unsettled entries are also chunked into parts
 * (`recent-<k>`): written only when there are such chunks, so a shard that has none stays
 * readable by the previous build; the previous build refuses format 3 (upgrade), never misreads it.
 */
export const STORED_MANIFEST_FORMAT_RECENT = 3;
/**
 * The stored format of `current.json` (chunked or not) when an entry carries a field the
 * previous build does not know and would drop on its next commit: a lean raw segment
 * (`hashes: 'none'`) or a rollup in row groups (`directory_bytes`). Its schema drops unknown
 * fields, so it would read such an entry as the other kind of object; it refuses format 4
 * (upgrade) instead. Written only while such an entry is listed.
 */
export const STORED_MANIFEST_FORMAT_FIELDS = 4;
/**
 * The stored format of `current.json` (chunked or not) while any raw entry is lean
 * (`hashes: 'none'`): its object may be in raw segment format v2 (segment/raw-format.ts), which
 * builds before v2 — format 4 readers included — would refuse as corrupt (`segment_corrupt`) in
 * every query and compaction that reads it. They refuse format 5 (upgrade) instead, by name,
 * before reading any segment. Written only while such an entry is listed.
 */
export const STORED_MANIFEST_FORMAT_LEAN_V2 = 5;
/**
 * The stored format of `current.json` (chunked or not) while any raw entry is written as row
 * groups (`directory_bytes`, segment/raw-groups.ts; lean, or compacted inside the dedupe window
 * with its hashes after the directory, whose groups are raw format v2 too): builds before it — format 5
 * readers included — would drop the field and read the object as one container, which fails as
 * corrupt (`segment_corrupt`) in every query and compaction that reads it. They refuse format 6
 * (upgrade) instead, by name, before reading any segment. Written only while such an entry is
 * listed; it implies format 5's and 4's fields.
 */
export const STORED_MANIFEST_FORMAT_RAW_GROUPS = 6;
/** The newest stored format this build reads. */
export const STORED_MANIFEST_FORMAT_MAX = STORED_MANIFEST_FORMAT_RAW_GROUPS;

/** Whether any raw entry of `m` is written as row groups (format 6). */
export function needsRawGroupsFormat(m: DeepReadonly<ShardManifest>): boolean {
  return m.segments.some((s) => s.directory_bytes !== undefined);
}

/** Whether any raw entry of `m` is lean: its object may be raw segment format v2 (format 5). */
export function needsLeanV2Format(m: DeepReadonly<ShardManifest>): boolean {
  return m.segments.some((s) => s.hashes === 'none');
}

/** Whether any entry of `m` carries a field the builds reading formats 2 and 3 would drop. */
export function needsFieldsFormat(m: DeepReadonly<ShardManifest>): boolean {
  for (const s of m.segments) if (s.hashes !== undefined) return true;
  for (const r of m.rollups) if (r.directory_bytes !== undefined) return true;
  return false;
}
/** Default: unsettled raw segment entries are stored in parts of this many once there are that many. */
export const DEFAULT_RECENT_CHUNK = 256;
/** A part's label: the UTC month of settled entries, or `recent-<k>` for the k-th chunk of unsettled ones. */
const PART_LABEL = /^(\d{4}-\d{2}|recent-\d{1,7})$/;
/** The format of a part object. */
export const PART_FORMAT = 1;
/** Default: an entry goes into its month's part once its UTC day ended this long before the commit. */
export const DEFAULT_PART_SETTLE_MS = 86_400_000;

const int = z.number().int();
const nonNegative = int.nonnegative();

/** What current.json says of one part: its address and the summary stats a planner prunes by. */
export const partRef = z.object({
  /** SHA-256 of the part object's bytes, hex: its key is `manifest/parts/<hash>.json`. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  /** The UTC month (`YYYY-MM`) of the entries' latest data, or `recent-<k>` (a chunk of unsettled entries). */
  month: z.string().regex(PART_LABEL),
  /** Size of the part object. */
  bytes: nonNegative,
  segments: nonNegative,
  rollups: nonNegative,
  /** Sums over raw segments (rows, data bytes) and the span of their event times. */
  rows: nonNegative,
  data_bytes: nonNegative,
  /** Event time span over raw segments and rollup hours; absent for an empty span. */
  min_ts: int.optional(),
  max_ts: int.optional(),
});
export type PartRef = z.infer<typeof partRef>;

/** A part object: the settled entries of one month, in manifest order. */
export const manifestPart = z.object({
  format: z.literal(PART_FORMAT),
  shard: nonNegative,
  month: z.string().regex(PART_LABEL),
  /** The commit that wrote it: two commits never write the same part, even of equal entries. */
  created_by: z.string().min(1),
  segments: z.array(rawSegmentEntry),
  rollups: z.array(rollupSegmentEntry),
});
export type ManifestPart = z.infer<typeof manifestPart>;

/**
 * `current.json` of format 2: the manifest with only the inline (recent) entries in `segments`
 * and `rollups`, the part references, and `order`: for each list, runs `[source, count, …]`
 * where source −1 is the inline list and i is `parts[i]` — how to interleave them back into the
 * exact order the manifest had (its digest depends on it).
 */
export const storedManifest = shardManifest.omit({ format: true }).extend({
  format: z.union([
    z.literal(STORED_MANIFEST_FORMAT),
    z.literal(STORED_MANIFEST_FORMAT_RECENT),
    z.literal(STORED_MANIFEST_FORMAT_FIELDS),
    z.literal(STORED_MANIFEST_FORMAT_LEAN_V2),
    z.literal(STORED_MANIFEST_FORMAT_RAW_GROUPS),
  ]),
  parts: z.array(partRef),
  order: z.object({ segments: z.array(int), rollups: z.array(int) }),
});
export type StoredManifest = z.infer<typeof storedManifest>;

/** One settled month of a split manifest, with the entries (by identity) its part holds. */
export interface PartSlot {
  readonly month: string;
  readonly segments: readonly DeepReadonly<RawSegmentEntry>[];
  readonly rollups: readonly DeepReadonly<RollupSegmentEntry>[];
  /** Set once the part is stored (or known from the base it is reused from). */
  ref?: PartRef;
  /** The part's bytes, when this split created it (to be written before current.json). */
  body?: Uint8Array;
}

/** How one manifest is split: parts in month order, and the runs that interleave them. */
export interface Layout {
  readonly parts: PartSlot[];
  readonly order: { readonly segments: number[]; readonly rollups: number[] };
}

const DAY_MS = 86_400_000;
/** Months by UTC day number: toISOString per entry would cost more than the rest of a split. */
const monthsByDay = new Map<number, string>();

export function monthOf(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  let month = monthsByDay.get(day);
  if (month === undefined) {
    month = new Date(ms).toISOString().slice(0, 7);
    if (monthsByDay.size < 100_000) monthsByDay.set(day, month);
  }
  return month;
}
const dayEndMs = (ms: number): number => (Math.floor(ms / DAY_MS) + 1) * DAY_MS;

/**
 * Whether an entry whose clock is at `ms` is settled in a manifest committed at `nowMs`: its UTC
 * day ended `settleMs` before. Settling by whole days keeps a month's part from being rewritten
 * by every commit as entries age: a part changes once a day at most, besides real changes.
 */
export function settled(ms: number, nowMs: number, settleMs: number): boolean {
  return dayEndMs(ms) + settleMs <= nowMs;
}

/**
 * Splits `m`: which entries go to which month's part, and the order runs. Cheap: no encoding.
 * A raw segment is settled by when it was ingested (`max_ingested`: a late event lands inline,
 * not in an old month's part) and filed under the month of its data (`max_ts`); a rollup by its
 * last hour.
 */
export function splitManifest(
  m: DeepReadonly<ShardManifest>,
  settleMs: number,
  recentChunk = 0,
): { layout: Layout; inlineSegments: number[]; inlineRollups: number[] } {
  const slots = new Map<string, { segments: DeepReadonly<RawSegmentEntry>[]; rollups: DeepReadonly<RollupSegmentEntry>[] }>();
  const monthFor = (clock: number, dataMs: number): string | undefined => (settled(clock, m.updated_at_ms, settleMs) ? monthOf(dataMs) : undefined);
  const slot = (month: string) => {
    let x = slots.get(month);
    if (x === undefined) slots.set(month, (x = { segments: [], rollups: [] }));
    return x;
  };
  const segMonths = m.segments.map((s) => monthFor(s.max_ingested, s.max_ts));
  const rollMonths = m.rollups.map((r) => monthFor(r.max_hour_ms, r.max_hour_ms));
  if (recentChunk > 0) chunkRecent(segMonths, recentChunk);
  segMonths.forEach((month, i) => {
    if (month !== undefined) slot(month).segments.push(m.segments[i]!);
  });
  rollMonths.forEach((month, i) => {
    if (month !== undefined) slot(month).rollups.push(m.rollups[i]!);
  });
  const partMonths = [...slots.keys()].sort();
  const index = new Map(partMonths.map((month, i) => [month, i]));
  const parts: PartSlot[] = partMonths.map((month) => ({ month, ...slots.get(month)! }));
  const runsOf = (ms: (string | undefined)[]) => {
    const runs: number[] = [];
    const inline: number[] = [];
    ms.forEach((month, i) => {
      const src = month === undefined ? -1 : index.get(month)!;
      if (src === -1) inline.push(i);
      if (runs.length > 0 && runs[runs.length - 2] === src) runs[runs.length - 1]!++;
      else runs.push(src, 1);
    });
    return { runs, inline };
  };
  const s = runsOf(segMonths);
  const r = runsOf(rollMonths);
  return { layout: { parts, order: { segments: s.runs, rollups: r.runs } }, inlineSegments: s.inline, inlineRollups: r.inline };
}

/**
 * Files unsettled raw segment entries (label undefined) into chunks of `size`, in manifest order:
 * the first ⌊n / size⌋ · size of them go to parts `recent-0`, `recent-1`, …; the rest (fewer than
 * `size`, the newest) stay inline. New entries are appended, so a chunk, once full, keeps its
 * entries and its part is reused by every later commit (sameEntries) until an entry before or in
 * it leaves (compaction, settling): then the chunks from there on are written again, once. So
 * `current.json` holds fewer than `size` unsettled entries however many a busy shard carries
 * between compactions, and a commit re-encodes those, not thousands.
 */
function chunkRecent(labels: (string | undefined)[], size: number): void {
  let unsettled = 0;
  for (const l of labels) if (l === undefined) unsettled++;
  const chunked = Math.floor(unsettled / size) * size;
  let u = 0;
  for (let i = 0; i < labels.length && u < chunked; i++) {
    if (labels[i] !== undefined) continue;
    labels[i] = `recent-${Math.floor(u / size)}`;
    u++;
  }
}

/** Whether `slot` holds exactly the entries (by identity, in order) of `base`: its part can be reused. */
export function sameEntries(slot: PartSlot, base: PartSlot): boolean {
  if (slot.segments.length !== base.segments.length || slot.rollups.length !== base.rollups.length) return false;
  for (let i = 0; i < slot.segments.length; i++) if (slot.segments[i] !== base.segments[i]) return false;
  for (let i = 0; i < slot.rollups.length; i++) if (slot.rollups[i] !== base.rollups[i]) return false;
  return true;
}

/** The summary a part reference carries, besides its address. */
export function partSummary(slot: PartSlot): Omit<PartRef, 'hash' | 'bytes'> {
  let rows = 0;
  let dataBytes = 0;
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of slot.segments) {
    rows += s.rows;
    dataBytes += s.bytes;
    lo = Math.min(lo, s.min_ts);
    hi = Math.max(hi, s.max_ts);
  }
  for (const r of slot.rollups) {
    lo = Math.min(lo, r.min_hour_ms);
    hi = Math.max(hi, r.max_hour_ms);
  }
  return {
    month: slot.month,
    segments: slot.segments.length,
    rollups: slot.rollups.length,
    rows,
    data_bytes: dataBytes,
    ...(lo <= hi ? { min_ts: lo, max_ts: hi } : {}),
  };
}

/** The stored form of `m` given its split (every part's `ref` set). */
export function storedOf(m: DeepReadonly<ShardManifest>, split: ReturnType<typeof splitManifest>): StoredManifest {
  const { format: _format, ...rest } = m as ShardManifest;
  return {
    ...rest,
    format: needsRawGroupsFormat(m)
      ? STORED_MANIFEST_FORMAT_RAW_GROUPS
      : needsLeanV2Format(m)
        ? STORED_MANIFEST_FORMAT_LEAN_V2
        : needsFieldsFormat(m)
          ? STORED_MANIFEST_FORMAT_FIELDS
          : split.layout.parts.some((p) => p.month.startsWith('recent-'))
            ? STORED_MANIFEST_FORMAT_RECENT
            : STORED_MANIFEST_FORMAT,
    segments: split.inlineSegments.map((i) => m.segments[i] as RawSegmentEntry),
    rollups: split.inlineRollups.map((i) => m.rollups[i] as RollupSegmentEntry),
    parts: split.layout.parts.map((p) => {
      if (p.ref === undefined) throw new Error(`part ${p.month} has no reference`);
      return p.ref;
    }),
    order: { segments: split.layout.order.segments, rollups: split.layout.order.rollups },
  };
}

/** Interleaves inline entries and the parts' entries back into one list by the order runs. */
function interleave<E>(runs: readonly number[], inline: readonly E[], fromPart: (i: number) => readonly E[], what: string): E[] {
  const out: E[] = [];
  const next = new Map<number, number>();
  for (let r = 0; r + 1 < runs.length; r += 2) {
    const src = runs[r]!;
    const count = runs[r + 1]!;
    const list = src === -1 ? inline : fromPart(src);
    const at = next.get(src) ?? 0;
    if (count < 1 || at + count > list.length) throw new Error(`${what}: order run ${r / 2} takes ${count} entries past the end of source ${src}`);
    for (let i = at; i < at + count; i++) out.push(list[i]!);
    next.set(src, at + count);
  }
  if ((next.get(-1) ?? 0) !== inline.length) throw new Error(`${what}: the order runs leave inline entries out`);
  return out;
}

/** The whole manifest from its stored form and its parts (in `stored.parts` order). Throws on an inconsistent layout. */
export function joinManifest(stored: StoredManifest, parts: readonly DeepReadonly<ManifestPart>[]): { manifest: ShardManifest; layout: Layout } {
  const { format: _format, parts: _parts, order, ...rest } = stored;
  const slots: PartSlot[] = parts.map((p, i) => ({ month: p.month, segments: p.segments, rollups: p.rollups, ref: stored.parts[i]! }));
  const partList =
    <K extends 'segments' | 'rollups'>(k: K) =>
    (i: number) => {
      const s = slots[i];
      if (s === undefined) throw new Error(`order names part ${i}, which is not listed`);
      return s[k];
    };
  for (const [i, s] of slots.entries()) {
    const used = (runs: readonly number[]) => runs.reduce((n, x, j) => (j % 2 === 0 && x === i ? n + runs[j + 1]! : n), 0);
    if (used(order.segments) !== s.segments.length || used(order.rollups) !== s.rollups.length)
      throw new Error(`part ${s.month} is not wholly used by the order runs`);
  }
  const manifest: ShardManifest = {
    ...rest,
    format: MANIFEST_CONTENT_FORMAT,
    segments: interleave(order.segments, stored.segments, partList('segments'), 'segments') as RawSegmentEntry[],
    rollups: interleave(order.rollups, stored.rollups, partList('rollups'), 'rollups') as RollupSegmentEntry[],
  };
  return { manifest, layout: { parts: slots, order } };
}
