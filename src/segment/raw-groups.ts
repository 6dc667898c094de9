/**
 * Grouped raw segments (row-groups.ts): the rows of a compacted segment — lean, or inside the
 * dedupe window with its key filter and hashes block after the directory — cut into consecutive
 * row groups in the segment's sort order (account first), each a complete v2
 * container of at most `groupRows` rows, followed by the group directory. An account's rows stay
 * in one group unless they alone exceed `groupRows`; then they get groups of their own (cut every
 * `groupRows` rows: raw rows have no key to keep together). The groups in order hold exactly the
 * rows of the one container the same events would give, in the same order. The entry's stats are
 * those of the whole segment; its checksum is the directory's CRC-32 (which lists every group's).
 * Decoders verify each group and the directory; nothing unverified is returned. Pure functions.
 */
import type { UsageEvent } from '../model/event.ts';
import { containerLength } from './container.ts';
import { SegmentCorruptError } from './errors.ts';
import { decodeRawSegment, type DecodeRawOptions } from './raw-decode.ts';
import { encodeRawSegment, type EncodeRawOptions } from './raw-encode.ts';
import { RAW_MAGIC, type DictColumn, type DimensionsColumn, type EncodedRawSegment, type RawColumns, type RawSegmentStats } from './raw-format.ts';
import { collectRows, sortOrder } from './raw-rows.ts';
import { GROUP_DIR_MAGIC, assembleGroups, cutInAccountOrder, directoryOfObject, splitGroups, unionOfSets, type GroupDirectory } from './row-groups.ts';

export interface EncodeGroupedRawOptions extends Omit<EncodeRawOptions, 'lean' | 'hashes'> {
  /** Rows per group (at most). */
  readonly groupRows: number;
}

export interface EncodedGroupedRawSegment extends EncodedRawSegment {
  /** Bytes of the group directory at the end of `bytes`: the entry's `directory_bytes`. */
  readonly directoryBytes: number;
}

/** Events in the segment's row order (raw-rows.ts `sortOrder`: ties keep input order). */
function inSegmentOrder(events: readonly UsageEvent[]): UsageEvent[] {
  const order = sortOrder(collectRows(events));
  const out = new Array<UsageEvent>(order.length);
  for (let i = 0; i < order.length; i++) out[i] = events[order[i]!]!;
  return out;
}

/** Cuts events (any order) into groups in segment order; see the module comment. */
export function cutRawGroups(events: readonly UsageEvent[], groupRows: number): UsageEvent[][] {
  if (!Number.isInteger(groupRows) || groupRows < 1) throw new RangeError(`groupRows must be a positive integer, got ${groupRows}`);
  const sorted = inSegmentOrder(events);
  return cutInAccountOrder(sorted, groupRows, (e) => e.account_id);
}

/**
 * Encodes events as grouped raw format v2 containers and their directory (at least one event):
 * the whole object of a lean segment, or the part [0, bytes) of one that carries hashes (the
 * caller appends them). `hashes` is empty.
 */
export function encodeGroupedRawSegment(
  events: readonly UsageEvent[],
  bucketOf: (accountId: string) => number,
  opts: EncodeGroupedRawOptions,
): EncodedGroupedRawSegment {
  if (events.length === 0) throw new RangeError('a grouped raw segment needs at least one event');
  const parts = cutRawGroups(events, opts.groupRows).map((g) =>
    encodeRawSegment(g, bucketOf, { lean: true, ...(opts.level === undefined ? {} : { level: opts.level }) }),
  );
  const grouped = assembleGroups(parts.map((p) => ({ bytes: p.bytes, stats: p.stats, minTime: p.stats.min_ts, maxTime: p.stats.max_ts })));
  const stats: RawSegmentStats = { ...mergeStats(parts.map((p) => p.stats)), checksum: grouped.checksum, bytes: grouped.bytes.length };
  return { bytes: grouped.bytes, hashes: new Uint8Array(0), stats, directoryBytes: grouped.directoryBytes };
}

function mergeStats(s: readonly RawSegmentStats[]): Omit<RawSegmentStats, 'checksum' | 'bytes'> {
  return {
    rows: s.reduce((n, x) => n + x.rows, 0),
    min_ts: Math.min(...s.map((x) => x.min_ts)),
    max_ts: Math.max(...s.map((x) => x.max_ts)),
    min_ingested: Math.min(...s.map((x) => x.min_ingested)),
    max_ingested: Math.max(...s.map((x) => x.max_ingested)),
    buckets: [...new Set(s.flatMap((x) => x.buckets))].sort((a, b) => a - b),
    min_account: s[0]!.min_account,
    max_account: s[s.length - 1]!.max_account,
    products: unionOfSets(s.map((x) => x.products)),
    meters: unionOfSets(s.map((x) => x.meters)),
    models: unionOfSets(s.map((x) => x.models)),
    quantity_sum: s.reduce((n, x) => n + BigInt(x.quantity_sum), 0n).toString(),
  };
}

/** The directory of a grouped raw object (its last `directoryBytes` bytes). */
export function rawDirectoryOf(object: Uint8Array, directoryBytes: number): GroupDirectory {
  return directoryOfObject('raw', object, directoryBytes);
}

/**
 * Decodes groups [from, to) of a grouped raw segment from their bytes (read as one range), each
 * verified against the directory and as a raw container; one column set per group.
 */
export function decodeRawGroups(dir: GroupDirectory, from: number, to: number, bytes: Uint8Array, opts: DecodeRawOptions = {}): RawColumns[] {
  return splitGroups(dir, from, to, bytes).map((b, k) => {
    const cols = decodeRawSegment(b, opts);
    const g = dir.groups[from + k]!;
    if (cols.rows !== g.rows) throw new SegmentCorruptError(`raw segment group ${from + k}: ${cols.rows} rows, the directory says ${g.rows}`);
    return cols;
  });
}

/**
 * The columns of a whole raw object: a grouped one (directoryBytes given: every group decoded,
 * verified and joined into the columns one container would give) or a single container
 * (undefined: the format before row groups).
 */
export function decodeRawObject(object: Uint8Array, directoryBytes: number | undefined, opts: DecodeRawOptions = {}): RawColumns {
  if (directoryBytes === undefined) return decodeRawSegment(object, opts);
  const dir = rawDirectoryOf(object, directoryBytes);
  return joinRawColumns(decodeRawGroups(dir, 0, dir.groups.length, object.subarray(0, object.length - directoryBytes), opts));
}

/**
 * Where the groups and directory of a raw object read without its entry end (a replaced segment:
 * replacement records keep only id and key): `bytes` is the end of the directory (the entry's
 * `bytes`), `directoryBytes` its length. Undefined unless the first container is followed by
 * another raw container or a directory (a single container is followed by nothing, or its filter
 * and hashes). A grouped object written inside the dedupe window has its key filter and hashes
 * after the directory, as a single container has them after itself.
 */
export function rawGroupsExtentOf(object: Uint8Array): { readonly bytes: number; readonly directoryBytes: number } | undefined {
  const magicAt = (at: number) => (at + 4 <= object.length ? String.fromCharCode(object[at]!, object[at + 1]!, object[at + 2]!, object[at + 3]!) : '');
  const first = containerLength(object, RAW_MAGIC);
  if (first >= object.length || (magicAt(first) !== RAW_MAGIC && magicAt(first) !== GROUP_DIR_MAGIC)) return undefined;
  let at = first;
  while (at < object.length) {
    if (magicAt(at) === GROUP_DIR_MAGIC) {
      const directoryBytes = containerLength(object.subarray(at), GROUP_DIR_MAGIC);
      return { bytes: at + directoryBytes, directoryBytes };
    }
    if (magicAt(at) !== RAW_MAGIC) break;
    at += containerLength(object.subarray(at), RAW_MAGIC);
  }
  throw new SegmentCorruptError('raw segment: groups without a directory');
}

/** The directory length of a raw object read without its entry (see `rawGroupsExtentOf`). */
export function rawDirectoryBytesOf(object: Uint8Array): number | undefined {
  return rawGroupsExtentOf(object)?.directoryBytes;
}

// ---------------------------------------------------------------- joining groups

const DICT_NAMES = ['account_id', 'subscription_id', 'product_id', 'meter_id', 'model_id', 'source', 'unit'] as const;

const cmpNullFirst = (a: string | null, b: string | null): number => (a === b ? 0 : a === null ? -1 : b === null ? 1 : a < b ? -1 : 1);

/** Dictionary columns joined: the union dictionary (ascending, null first) and every code remapped. */
function joinDict<T extends string | null>(parts: readonly DictColumn<T>[], rows: number): DictColumn<T> {
  const dict = [...new Set(parts.flatMap((p) => p.dict))].sort(cmpNullFirst);
  const index = new Map<T, number>(dict.map((v, i) => [v, i]));
  return { dict, codes: remapCodes(parts, (p) => p.dict.map((v) => index.get(v)!), rows) };
}

/** Every part's codes, in part order, through that part's old → new code map. */
function remapCodes<P extends { readonly codes: Uint32Array }>(parts: readonly P[], mapOf: (part: P) => readonly number[], rows: number): Uint32Array {
  const codes = new Uint32Array(rows);
  let at = 0;
  for (const p of parts) {
    const map = mapOf(p);
    for (let i = 0; i < p.codes.length; i++) codes[at + i] = map[p.codes[i]!]!;
    at += p.codes.length;
  }
  return codes;
}

function joinDimensions(parts: readonly DimensionsColumn[], rows: number): DimensionsColumn {
  const byKey = new Map<string, Readonly<Record<string, string>>>();
  for (const p of parts) for (let i = 0; i < p.keys.length; i++) byKey.set(p.keys[i]!, p.dict[i]!);
  const keys = [...byKey.keys()].sort();
  const index = new Map(keys.map((k, i) => [k, i]));
  const codes = remapCodes(parts, (p) => p.keys.map((k) => index.get(k)!), rows);
  return { dict: keys.map((k) => byKey.get(k)!), keys, codes };
}

function joinFloats(parts: readonly Float64Array[], rows: number): Float64Array {
  const out = new Float64Array(rows);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Sparse row maps joined: each part's rows shifted by the rows before it. */
function joinSparse<V>(parts: readonly Map<number, V>[], offsets: readonly number[]): Map<number, V> {
  const out = new Map<number, V>();
  parts.forEach((p, k) => {
    for (const [row, v] of p) out.set(offsets[k]! + row, v);
  });
  return out;
}

/**
 * Columns of consecutive groups joined into the columns of one segment holding their rows in
 * order (the columns present in every part; dictionaries merged and ascending, as one container
 * gives them).
 */
export function joinRawColumns(parts: readonly RawColumns[]): RawColumns {
  if (parts.length === 1) return parts[0]!;
  const rows = parts.reduce((n, p) => n + p.rows, 0);
  const offsets: number[] = [];
  let rowsBefore = 0;
  for (const p of parts) {
    offsets.push(rowsBefore);
    rowsBefore += p.rows;
  }
  const out: RawColumns = { rows };
  const all = <K extends keyof RawColumns>(k: K): NonNullable<RawColumns[K]>[] | undefined =>
    parts.every((p) => p[k] !== undefined) ? parts.map((p) => p[k]!) : undefined;
  const ids = all('event_id');
  if (ids !== undefined) out.event_id = ids.flat();
  const kinds = all('kind');
  if (kinds !== undefined) {
    out.kind = new Uint8Array(rows);
    for (let i = 0; i < kinds.length; i++) out.kind.set(kinds[i]!, offsets[i]!);
  }
  const refs = all('correction_ref');
  if (refs !== undefined) out.correction_ref = joinSparse(refs, offsets);
  for (const name of DICT_NAMES) {
    const cols = all(name);
    if (cols !== undefined) (out as unknown as Record<string, unknown>)[name] = joinDict<string | null>(cols, rows);
  }
  const ts = all('timestamp_ms');
  if (ts !== undefined) out.timestamp_ms = joinFloats(ts, rows);
  const ing = all('ingested_at_ms');
  if (ing !== undefined) out.ingested_at_ms = joinFloats(ing, rows);
  const q = all('quantity');
  if (q !== undefined) {
    out.quantity = joinFloats(q, rows);
    out.bigQuantities = joinSparse(
      parts.map((p) => p.bigQuantities ?? new Map<number, bigint>()),
      offsets,
    );
  }
  const dims = all('dimensions');
  if (dims !== undefined) out.dimensions = joinDimensions(dims, rows);
  return out;
}
