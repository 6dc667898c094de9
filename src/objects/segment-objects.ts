/**
 * The one module that owns segment objects: events or rollup rows → encoded bytes → create-only
 * PUT → the manifest entry describing them, and an entry → ranged GETs of its columns or hashes.
 * A raw segment is ONE object: the segment container, then its hashes block appended (what the
 * dedupe index and compaction read), so one PUT writes both; the container is bytes
 * [0, entry.bytes), the hashes [entry.bytes, end). Entries written before that (`hashes_key`)
 * keep their hashes in a sidecar object and are read from there; lean entries (`hashes: 'none'`,
 * rows past the dedupe window) have none, and their hashes are computed from the columns.
 * A compacted segment of many rows has row groups and their directory as its [0, bytes)
 * (`directory_bytes`), followed by its key filter and hashes block if it has them.
 * Segment objects are immutable.
 */
import type { ShardKeys } from '../manifest/keys.ts';
import type { DeepReadonly, RawSegmentEntry, RollupSegmentEntry } from '../manifest/schema.ts';
import { newId, type Deps } from '../model/deps.ts';
import type { UsageEvent } from '../model/event.ts';
import {
  decodeKeyFilter,
  decodePages,
  filterAfterHashes,
  filterBlockLength,
  isFilterBlock,
  decodeRawObject,
  decodeSegmentHashes,
  rawDirectoryOf,
  RAW_VERSION_LEAN,
  encodeGroupedRawSegment,
  encodeKeyFilter,
  encodeSegmentHashes,
  pageRange,
  type HashRow,
  type KeyFilterBlock,
  encodeRawSegment,
  eventKey,
  ingestedSecond,
  isVersion1,
  KEY2_MASK,
  rawColumnsToEvents,
  RAW_MAGIC,
  SegmentCorruptError,
  segmentContainerLength,
  crc32Hex,
  type DeflateLevel,
  type RawColumnName,
  type RawColumns,
  type RawSegmentStats,
  type SegmentHashes,
  type SegmentHashesV1,
} from '../segment/raw.ts';
import {
  decodeRollupObject,
  decodeGroupDirectory,
  encodeGroupedRollupSegment,
  encodeRollupSegment,
  groupsRange,
  rollupColumnsToRows,
  type GroupDirectory,
  type RollupColumnName,
  type RollupColumns,
  type RollupRow,
  type RollupSegmentStats,
} from '../segment/rollup.ts';
import type { ObjectStore } from '../store/types.ts';

type RawRef = Pick<DeepReadonly<RawSegmentEntry>, 'id' | 'key' | 'bytes' | 'hashes_key'> & {
  readonly rows?: number;
  readonly filter_bytes?: number | undefined;
  readonly hashes?: 'none' | undefined;
  readonly directory_bytes?: number | undefined;
};
/** A segment with a key filter block (compacted by this version). */
export type FilteredRef = Pick<DeepReadonly<RawSegmentEntry>, 'id' | 'key' | 'bytes' | 'rows'> & { readonly filter_bytes: number };
type RollupRef = Pick<DeepReadonly<RollupSegmentEntry>, 'id' | 'key'> & { readonly bytes?: number; readonly directory_bytes?: number | undefined };
/** A segment object written as row groups (a rollup, or a compacted raw segment). */
export type GroupedRef = { readonly id: string; readonly key: string; readonly bytes: number; readonly directory_bytes: number };

/**
 * Rollup segments of more input rows than this are written as row groups of about this many rows.
 * Each group repeats its dictionaries: 2,048 made a year's merged rollups ~20% larger; 4,096
 * halves that, and one group is still ~40 KB against a merged rollup's 1-7 MB.
 */
export const ROLLUP_GROUP_ROWS = 4096;

/**
 * Compacted raw segments (lean, or inside the dedupe window with hashes) of more rows than this
 * are written as row groups of at most this many rows (segment/raw-groups.ts), as rollups are: a
 * one-account query reads the directory and its groups.
 */
export const RAW_GROUP_ROWS = 4096;

/** Deflate level of lean segments (raw format v2): written by background jobs, kept forever. */
export const LEAN_LEVEL: DeflateLevel = 9;

export interface WriteRawOptions {
  readonly bucketOf: (accountId: string) => number;
  /** DEFLATE level of the columns: ingest favours speed (1); compaction the default. */
  readonly level?: DeflateLevel;
  /** Hashes the caller already computed (8 words per event, as EventHasher writes them). */
  readonly hashes?: Uint32Array;
  /** Written by compaction: deduplicated, sized by rows and bytes; carries a key filter. */
  readonly compacted?: boolean;
  /**
   * Every row was ingested before the dedupe window: the container alone in raw format v2, no
   * hashes, no filter (the entry says `hashes: 'none'`, which only format-4 manifests carry).
   */
  readonly lean?: boolean;
  /**
   * Lean or compacted segments of more rows are written as row groups of at most this many
   * (default RAW_GROUP_ROWS); a compacted one with hashes keeps them after the directory.
   */
  readonly groupRows?: number;
}

/** Encodes `events` into one raw segment object, PUTs it create-only, and describes it. */
export async function writeRawSegment(
  store: ObjectStore,
  keys: ShardKeys,
  deps: Deps,
  events: readonly UsageEvent[],
  opts: WriteRawOptions,
): Promise<RawSegmentEntry> {
  const o = encodeRawSegmentObject(keys, deps, events, opts);
  await store.put(o.key, o.body, { ifNoneMatch: '*' });
  return o.entry;
}

/** One raw segment object, encoded: its key, its bytes, and the manifest entry that will list it. */
export interface EncodedRawSegmentObject {
  readonly key: string;
  readonly body: Uint8Array;
  readonly entry: RawSegmentEntry;
}

/**
 * Encodes `events` into one raw segment object without writing it (`writeRawSegment` PUTs it
 * create-only; ingest starts that PUT and plans its commit meanwhile).
 */
export function encodeRawSegmentObject(keys: ShardKeys, deps: Deps, events: readonly UsageEvent[], opts: WriteRawOptions): EncodedRawSegmentObject {
  const id = newId(deps);
  const key = keys.rawSegment(id);
  // Lean segments are written in raw format v2 (smaller, and kept forever: deflate 9 is worth it).
  const lean = opts.lean === true;
  const level = opts.level ?? (lean ? LEAN_LEVEL : undefined);
  const groupRows = opts.groupRows ?? RAW_GROUP_ROWS;
  if ((lean || opts.compacted === true) && events.length > groupRows) {
    // Many rows: row groups, so a one-account query reads only its groups (row-groups.ts).
    // At the lean level even inside the window: the strip step then copies [0, bytes) as it is.
    const grouped = encodeGroupedRawSegment(events, opts.bucketOf, { groupRows, level: opts.level ?? LEAN_LEVEL });
    const entry = { ...rawEntry(id, key, grouped.stats, deps.clock.now(), opts.compacted === true), directory_bytes: grouped.directoryBytes };
    if (lean) return { key, body: grouped.bytes, entry: { ...entry, hashes: 'none' } };
    // Inside the dedupe window: the key filter and hashes follow the directory, at [bytes, …), as they follow a container.
    const hashes = encodeSegmentHashes(events, undefined, undefined, opts.hashes);
    const filter = encodeKeyFilter(hashes);
    return { key, body: concat(grouped.bytes, filter, hashes), entry: { ...entry, filter_bytes: filter.byteLength } };
  }
  const encoded = encodeRawSegment(events, opts.bucketOf, {
    ...(level === undefined ? {} : { level }),
    ...(opts.hashes === undefined || lean ? {} : { hashes: opts.hashes }),
    ...(lean ? { lean: true } : {}),
  });
  const entry = rawEntry(id, key, encoded.stats, deps.clock.now(), opts.compacted === true);
  if (lean) return { key, body: encoded.bytes, entry: { ...entry, hashes: 'none' } };
  // Compacted segments carry a key filter (what dedupe keeps in memory) between the container and
  // the hashes: found at `bytes` whatever the row size of the hashes (segment/key-filter.ts).
  const filter = opts.compacted === true && events.length > 0 ? encodeKeyFilter(encoded.hashes) : undefined;
  if (filter === undefined) return { key, body: concat(encoded.bytes, encoded.hashes), entry };
  return { key, body: concat(encoded.bytes, filter, encoded.hashes), entry: { ...entry, filter_bytes: filter.byteLength } };
}

/** Encodes rollup rows into one rollup segment aggregating raw segments `inputs`, PUTs and describes it. */
export async function writeRollupSegment(
  store: ObjectStore,
  keys: ShardKeys,
  deps: Deps,
  rows: readonly RollupRow[],
  inputs: readonly string[],
  bucketOf: (accountId: string) => number,
  groupRows = ROLLUP_GROUP_ROWS,
): Promise<RollupSegmentEntry> {
  const id = newId(deps);
  // Many rows: row groups, so a one-account query reads only its groups (row-groups.ts).
  const grouped = rows.length > groupRows ? encodeGroupedRollupSegment(rows, bucketOf, { groupRows }) : undefined;
  const encoded = grouped ?? encodeRollupSegment(rows, bucketOf);
  const key = keys.rollupSegment(id);
  await store.put(key, encoded.bytes, { ifNoneMatch: '*' });
  const entry = rollupEntry(id, key, inputs, encoded.stats, deps.clock.now());
  return grouped === undefined ? entry : { ...entry, directory_bytes: grouped.directoryBytes };
}

/** The raw segment container (without the appended hashes; a grouped one's groups and directory): one ranged GET. */
export async function readRawSegmentBytes(store: ObjectStore, seg: RawRef, hint = ''): Promise<Uint8Array> {
  const res = await store.get(seg.key, seg.hashes_key === undefined ? { range: { offset: 0, length: seg.bytes } } : {});
  if (res === null || res.notModified) throw missing(seg, 'the object', seg.key, hint);
  return res.body;
}

/** Decoded columns of a raw segment (all, or only `columns`; a grouped one's groups joined). */
export async function readRawColumns(store: ObjectStore, seg: RawRef, columns?: readonly RawColumnName[]): Promise<RawColumns> {
  return decodeRawObject(await readRawSegmentBytes(store, seg), seg.directory_bytes, columns === undefined ? {} : { columns: [...columns] });
}

/** Every event of a raw segment, in segment order (a grouped one's groups one after another). */
export async function readRawEvents(store: ObjectStore, seg: RawRef): Promise<UsageEvent[]> {
  return rawColumnsToEvents(decodeRawObject(await readRawSegmentBytes(store, seg), seg.directory_bytes));
}

/**
 * The segment's hashes (appended to its object, or its legacy sidecar), decoded. A version 1
 * block keys rows by event_id alone: its keys are recomputed from the segment's columns (one
 * more read, for segments written before the key became (account_id, event_id)). A lean
 * segment has no block: its hashes are computed from its columns, exactly as the block would
 * hold them (a read and decode of the whole container: rare, see `isLean`).
 */
export async function readRawHashes(store: ObjectStore, seg: RawRef): Promise<SegmentHashes> {
  if (isLean(seg)) return hashesOfEvents(await readRawEvents(store, seg));
  const key = seg.hashes_key ?? seg.key;
  // Everything after the container: the hashes, and a compacted segment's filter before or after them.
  const res = await store.get(key, seg.hashes_key === undefined ? { range: { offset: seg.bytes } } : {});
  if (res === null || res.notModified) throw missing(seg, 'hashes', key, '; dedupe cannot be trusted for this shard');
  // The object ends with its container: a lean segment whose entry lost `hashes` (rewritten by a
  // release that did not know the field drops it). Its columns still say everything.
  if (seg.hashes_key === undefined && res.body.length === 0 && res.info.size === seg.bytes) return hashesOfEvents(await readRawEvents(store, seg));
  const h = decodeSegmentHashes(seg.hashes_key === undefined && seg.filter_bytes !== undefined ? hashesOfTail(res.body, seg.filter_bytes) : res.body);
  return isVersion1(h) ? upgradeHashes(h, await readRawColumns(store, seg, ['account_id', 'event_id'])) : h;
}

/**
 * The hashes block within what follows a filtered segment's container: after its filter
 * (version 2 filters come first), or its prefix (a version 2 block, with the filter after it).
 */
export function hashesOfTail(tail: Uint8Array, filterBytes: number): Uint8Array {
  if (isFilterBlock(tail)) return tail.subarray(filterBytes);
  const len = filterAfterHashes(tail);
  return len === undefined ? tail : tail.subarray(0, len);
}

/** Whether a segment entry has a key filter block. */
export function hasKeyFilter<T extends RawRef>(seg: T): seg is T & { readonly filter_bytes: number } {
  return seg.filter_bytes !== undefined && seg.hashes_key === undefined && !isLean(seg);
}

/**
 * Whether a segment is lean: its object is the container alone (no hashes block, no key filter),
 * all its rows ingested before the dedupe window when it was written.
 */
export function isLean(seg: Pick<RawRef, 'hashes'>): boolean {
  return seg.hashes === 'none';
}

/** The hashes block's rows (sorted by event key, as a version 3 block holds them) computed from events. */
export function hashesOfEvents(events: readonly UsageEvent[]): SegmentHashes {
  const h = decodeSegmentHashes(encodeSegmentHashes(events));
  if (isVersion1(h)) throw new SegmentCorruptError('segment hashes: encoded as version 1');
  return h;
}

/** What a lean rewrite must reproduce of its input's entry. */
export type LeanInput = RawRef &
  Pick<
    DeepReadonly<RawSegmentEntry>,
    'rows' | 'checksum' | 'quantity_sum' | 'min_ts' | 'max_ts' | 'min_ingested' | 'max_ingested' | 'min_account' | 'max_account'
  >;

/**
 * Rewrites a segment's container as a lean segment (raw format v2, no hashes block, no key
 * filter) in a new create-only object: one ranged GET, a decode, an encode, one PUT. Before the
 * PUT it checks the container against the entry (length, rows, checksum, exact quantity total,
 * time and account bounds) and that the new bytes decode to exactly the same events; a mismatch
 * throws and nothing is written. More than `groupRows` rows are written as row groups (the
 * checksum is then the directory's). An input already in row groups of v2 containers (compacted
 * inside the window by this build, at the lean level) is copied as it is, [0, bytes) — already the
 * lean grouped object — after the same checks. The caller lists the result's `bytes`, `checksum`
 * and `directoryBytes`.
 */
export async function writeLeanCopy(
  store: ObjectStore,
  keys: ShardKeys,
  deps: Deps,
  seg: LeanInput,
  groupRows = RAW_GROUP_ROWS,
): Promise<{ readonly id: string; readonly key: string; readonly bytes: number; readonly checksum: string; readonly directoryBytes?: number }> {
  const bytes = await readRawSegmentBytes(store, seg);
  // The last 8 bytes are the trailer of the container, or of the directory of a grouped object.
  const events = rawColumnsToEvents(decodeRawObject(bytes, seg.directory_bytes));
  const checksum = crc32Hex(new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(bytes.length - 8, true));
  if (bytes.length !== seg.bytes || events.length !== seg.rows || checksum !== seg.checksum) {
    throw new SegmentCorruptError(
      `segment ${seg.id}: the container has ${bytes.length} bytes, ${events.length} rows and checksum ${checksum}, the entry says ${seg.bytes}, ${seg.rows} and ${seg.checksum}`,
    );
  }
  if (!sameTotals(eventStats(events), seg)) throw new SegmentCorruptError(`segment ${seg.id}: its rows do not give the totals and bounds its entry lists`);
  if (seg.directory_bytes !== undefined && allGroupsLean(bytes, seg.directory_bytes)) {
    const id = newId(deps);
    const key = keys.rawSegment(id);
    await store.put(key, bytes, { ifNoneMatch: '*' });
    return { id, key, bytes: seg.bytes, checksum: seg.checksum, directoryBytes: seg.directory_bytes };
  }
  const grouped = events.length > groupRows ? encodeGroupedRawSegment(events, () => 0, { groupRows, level: LEAN_LEVEL }) : undefined;
  const encoded = grouped ?? encodeRawSegment(events, () => 0, { lean: true, level: LEAN_LEVEL });
  const s = encoded.stats;
  if (!sameTotals(s, seg)) throw new SegmentCorruptError(`segment ${seg.id}: its rows do not give the totals and bounds its entry lists`);
  const back = rawColumnsToEvents(decodeRawObject(encoded.bytes, grouped?.directoryBytes));
  if (!sameEvents(back, events)) throw new SegmentCorruptError(`segment ${seg.id}: the lean rewrite does not decode to the same events`);
  const id = newId(deps);
  const key = keys.rawSegment(id);
  await store.put(key, encoded.bytes, { ifNoneMatch: '*' });
  return { id, key, bytes: s.bytes, checksum: s.checksum, ...(grouped === undefined ? {} : { directoryBytes: grouped.directoryBytes }) };
}

type Totals = Pick<RawSegmentStats, 'rows' | 'quantity_sum' | 'min_ts' | 'max_ts' | 'min_ingested' | 'max_ingested' | 'min_account' | 'max_account'>;

/** Whether totals and bounds are the entry's (bounds only when there are rows). */
function sameTotals(s: Totals, seg: LeanInput): boolean {
  return (
    s.rows === seg.rows &&
    s.quantity_sum === seg.quantity_sum &&
    (s.rows === 0 ||
      (s.min_ts === seg.min_ts &&
        s.max_ts === seg.max_ts &&
        s.min_ingested === seg.min_ingested &&
        s.max_ingested === seg.max_ingested &&
        s.min_account === seg.min_account &&
        s.max_account === seg.max_account))
  );
}

/** Rows, exact quantity total and bounds of decoded events. */
function eventStats(events: readonly UsageEvent[]): Totals {
  let sum = 0n;
  let minTs = Infinity,
    maxTs = -Infinity,
    minIng = Infinity,
    maxIng = -Infinity;
  let minAcc = '',
    maxAcc = '';
  events.forEach((e, i) => {
    sum += e.quantity;
    minTs = Math.min(minTs, e.timestamp_ms);
    maxTs = Math.max(maxTs, e.timestamp_ms);
    minIng = Math.min(minIng, e.ingested_at_ms);
    maxIng = Math.max(maxIng, e.ingested_at_ms);
    if (i === 0 || e.account_id < minAcc) minAcc = e.account_id;
    if (i === 0 || e.account_id > maxAcc) maxAcc = e.account_id;
  });
  return {
    rows: events.length,
    quantity_sum: sum.toString(),
    min_ts: minTs,
    max_ts: maxTs,
    min_ingested: minIng,
    max_ingested: maxIng,
    min_account: minAcc,
    max_account: maxAcc,
  };
}

/** Whether every group of a grouped object (already decoded and verified) is a raw format v2 container. */
function allGroupsLean(object: Uint8Array, directoryBytes: number): boolean {
  const dir = rawDirectoryOf(object, directoryBytes);
  return dir.groups.every((g) => object[g.offset + 4] === RAW_VERSION_LEAN);
}

/** Field-by-field equality of two decoded event lists (same order). */
export function sameEvents(a: readonly UsageEvent[], b: readonly UsageEvent[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!,
      y = b[i]!;
    if (
      x.event_id !== y.event_id ||
      x.kind !== y.kind ||
      x.account_id !== y.account_id ||
      x.subscription_id !== y.subscription_id ||
      x.product_id !== y.product_id ||
      x.meter_id !== y.meter_id ||
      x.model_id !== y.model_id ||
      x.source !== y.source ||
      x.unit !== y.unit ||
      x.timestamp_ms !== y.timestamp_ms ||
      x.ingested_at_ms !== y.ingested_at_ms ||
      x.quantity !== y.quantity ||
      JSON.stringify(x.dimensions) !== JSON.stringify(y.dimensions) ||
      (x.correction_ref?.original_event_id ?? null) !== (y.correction_ref?.original_event_id ?? null) ||
      (x.correction_ref?.reason ?? null) !== (y.correction_ref?.reason ?? null)
    ) {
      return false;
    }
  }
  return true;
}

/**
 * The segment's key filter block, decoded and checked: one ranged GET at the container's end,
 * where a version 2 filter is; a segment written before it (container | hashes v2 | filter v1)
 * answers that read with its hashes block's header, which says where the filter is: a second GET.
 */
export async function readKeyFilter(store: ObjectStore, seg: FilteredRef): Promise<KeyFilterBlock> {
  const read = async (offset: number) => {
    const res = await store.get(seg.key, { range: { offset: seg.bytes + offset, length: seg.filter_bytes } });
    if (res === null || res.notModified) throw missing(seg, 'key filter', seg.key, '; dedupe cannot be trusted for this shard');
    return res.body;
  };
  let body = await read(0);
  let first = true;
  if (!isFilterBlock(body)) {
    const after = filterAfterHashes(body);
    if (after === undefined)
      throw new SegmentCorruptError(`segment key filter of ${seg.id}: neither a filter nor a version 2 hashes block at byte ${seg.bytes}`);
    body = await read(after);
    first = false;
  }
  const b = decodeKeyFilter(body);
  if (b.rows !== seg.rows) throw new SegmentCorruptError(`segment key filter of ${seg.id}: ${b.rows} rows, the entry says ${seg.rows}`);
  // Each version has one place: a version 1 filter before the hashes (or 2 after them) is not what was written.
  if (b.hashesAt > 0 !== first)
    throw new SegmentCorruptError(`segment key filter of ${seg.id}: a version ${first ? 1 : 2} filter where the other version belongs`);
  return b;
}

/** Rows of pages [from, to] of a filtered segment's sorted hashes block (one ranged GET, page CRCs checked). */
export async function readHashPages(store: ObjectStore, seg: FilteredRef, block: KeyFilterBlock, from: number, to: number): Promise<HashRow[]> {
  const r = pageRange(block, from, to);
  const res = await store.get(seg.key, { range: { offset: seg.bytes + r.offset, length: r.length } });
  if (res === null || res.notModified) throw missing(seg, 'hashes', seg.key, '; dedupe cannot be trusted for this shard');
  return decodePages(block, from, to, res.body);
}

/** A version 1 block in the decoded form: keys and id hashes from the rows, payloads as stored (cut to 32 bits). */
function upgradeHashes(h: SegmentHashesV1, cols: RawColumns): SegmentHashes {
  if (cols.rows !== h.count) throw new SegmentCorruptError(`segment hashes: ${h.count} rows, the segment has ${cols.rows}`);
  const keys = new Uint32Array(h.count * 3);
  const payloads = new Uint32Array(h.count);
  const ids = new Uint32Array(h.count);
  const ingestedSec = new Uint32Array(h.count);
  const words = new Uint32Array(4);
  const accounts = cols.account_id!;
  for (let r = 0; r < h.count; r++) {
    const eventId = cols.event_id![r]!;
    eventKey(accounts.dict[accounts.codes[r]!]!, eventId, words);
    keys[r * 3] = words[0]!;
    keys[r * 3 + 1] = words[1]!;
    keys[r * 3 + 2] = words[2]! & KEY2_MASK;
    ids[r] = h.eventHashes[r * 4]!; // version 1's event hash is the hash of event_id alone
    payloads[r] = h.payloadHashes[r * 4]!;
    ingestedSec[r] = ingestedSecond(h.ingestedAt[r]!);
  }
  return { count: h.count, keys, payloads, ids, ingestedSec };
}

/** A rollup segment object's bytes. */
export async function readRollupSegmentBytes(store: ObjectStore, seg: RollupRef, hint = ''): Promise<Uint8Array> {
  const res = await store.get(seg.key);
  if (res === null || res.notModified) throw missing(seg, 'the object', seg.key, hint);
  return res.body;
}

/** Decoded columns of a rollup segment (all, or only `columns`): one set per row group, in order. */
export async function readRollupColumns(store: ObjectStore, seg: RollupRef, columns?: readonly RollupColumnName[]): Promise<RollupColumns[]> {
  return decodeRollupObject(await readRollupSegmentBytes(store, seg), seg.directory_bytes, columns === undefined ? {} : { columns: [...columns] });
}

/** Every row of a rollup segment, in segment order (the groups' rows one after another). */
export async function readRollupRows(store: ObjectStore, seg: RollupRef): Promise<RollupRow[]> {
  const out: RollupRow[] = [];
  // A loop, not push(...rows): spreading a large group overflows the call stack.
  for (const cols of decodeRollupObject(await readRollupSegmentBytes(store, seg), seg.directory_bytes)) for (const r of rollupColumnsToRows(cols)) out.push(r);
  return out;
}

/** The group directory of a grouped segment, rollup or raw (one ranged GET of its last bytes), verified. */
export async function readGroupDirectory(store: ObjectStore, seg: GroupedRef, hint = ''): Promise<GroupDirectory> {
  const res = await store.get(seg.key, { range: { offset: seg.bytes - seg.directory_bytes, length: seg.directory_bytes } });
  if (res === null || res.notModified) throw missing(seg, 'the object', seg.key, hint);
  return decodeGroupDirectory(res.body, seg.bytes);
}

/** The bytes of groups [from, to) of a grouped segment, rollup or raw: one ranged GET. */
export async function readGroupBytes(store: ObjectStore, seg: GroupedRef, dir: GroupDirectory, from: number, to: number, hint = ''): Promise<Uint8Array> {
  const res = await store.get(seg.key, { range: groupsRange(dir, from, to) });
  if (res === null || res.notModified) throw missing(seg, 'the object', seg.key, hint);
  return res.body;
}

/**
 * A whole raw segment object split into its container and appended hashes (empty for objects
 * written with a sidecar), for readers without the manifest entry (inspecting a replaced segment).
 */
export function splitRawSegmentObject(object: Uint8Array): { segment: Uint8Array; hashes: Uint8Array } {
  const n = Math.min(segmentContainerLength(object, RAW_MAGIC), object.length);
  let rest = object.subarray(n);
  if (isFilterBlock(rest)) {
    // A key filter block (version 2) before the hashes.
    rest = rest.subarray(Math.min(rest.length, filterBlockLength(rest)));
  } else {
    // A version 2 block followed by a key filter block: the hashes end where their rows do.
    const len = filterAfterHashes(rest);
    if (len !== undefined && len < rest.length) rest = rest.subarray(0, len);
  }
  return { segment: object.subarray(0, n), hashes: rest };
}

function rawEntry(id: string, key: string, s: RawSegmentStats, createdAtMs: number, compacted: boolean): RawSegmentEntry {
  return {
    id,
    key,
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

function rollupEntry(id: string, key: string, inputs: readonly string[], s: RollupSegmentStats, createdAtMs: number): RollupSegmentEntry {
  return {
    id,
    key,
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

function concat(a: Uint8Array, b: Uint8Array, c?: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength + (c?.byteLength ?? 0));
  out.set(a, 0);
  out.set(b, a.byteLength);
  if (c !== undefined) out.set(c, a.byteLength + b.byteLength);
  return out;
}

function missing(seg: { readonly id: string }, what: string, key: string, hint = ''): SegmentCorruptError {
  return new SegmentCorruptError(`${what} of segment ${seg.id} (${key}) is missing${hint}`);
}
