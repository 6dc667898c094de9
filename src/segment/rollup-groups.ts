/**
 * Grouped rollup segments (row-groups.ts): rollup rows cut into consecutive row groups in
 * account order, each a complete v1 rollup container (rollup-format.ts) of at most about
 * `groupRows` rows, followed by the group directory. An account's rows stay in one group unless
 * they alone exceed `groupRows`; then they get groups of their own, cut between hours (a group
 * key includes the hour, so no key is ever split and the segment still holds each key once),
 * and the directory's time ranges narrow a read to the hours asked for. The entry's stats are
 * those of the whole segment; its checksum is the directory's CRC-32 (which lists every
 * group's). Decoders verify each group and the directory; nothing unverified is returned.
 */
import { containerLength } from './container.ts';
import { SegmentCorruptError } from './errors.ts';
import { decodeRollupSegment, type DecodeRollupOptions } from './rollup-decode.ts';
import { encodeRollupSegment, type EncodeRollupOptions } from './rollup-encode.ts';
import { ROLLUP_MAGIC, type EncodedRollupSegment, type RollupColumns, type RollupRow, type RollupSegmentStats } from './rollup-format.ts';
import { GROUP_DIR_MAGIC, assembleGroups, cutInAccountOrder, directoryOfObject, splitGroups, unionOfSets, type GroupDirectory } from './row-groups.ts';

export interface EncodeGroupedRollupOptions extends EncodeRollupOptions {
  /** Rows per group (about: an account's rows of one hour are never split). */
  readonly groupRows: number;
}

export interface EncodedGroupedRollupSegment extends EncodedRollupSegment {
  /** Bytes of the group directory at the end of `bytes`: the entry's `directory_bytes`. */
  readonly directoryBytes: number;
}

/** Cuts rows (any order) into groups in account order; see the module comment. */
export function cutRollupGroups(rows: readonly RollupRow[], groupRows: number): RollupRow[][] {
  if (!Number.isInteger(groupRows) || groupRows < 1) throw new RangeError(`groupRows must be a positive integer, got ${groupRows}`);
  const sorted = [...rows].sort((a, b) => (a.account_id < b.account_id ? -1 : a.account_id > b.account_id ? 1 : a.hour_ms - b.hour_ms));
  // An account alone over groupRows is cut between its hours (a group key includes the hour), so
  // each of its groups spans only its own hours and a query for some of them skips the rest.
  return cutInAccountOrder(
    sorted,
    groupRows,
    (r) => r.account_id,
    (prev, next) => prev.hour_ms !== next.hour_ms,
  );
}

/** Encodes rows as a grouped rollup segment (at least one row). */
export function encodeGroupedRollupSegment(
  rows: readonly RollupRow[],
  bucketOf: (accountId: string) => number,
  opts: EncodeGroupedRollupOptions,
): EncodedGroupedRollupSegment {
  if (rows.length === 0) throw new RangeError('a grouped rollup segment needs at least one row');
  const parts = cutRollupGroups(rows, opts.groupRows).map((g) => encodeRollupSegment(g, bucketOf, opts.level === undefined ? {} : { level: opts.level }));
  const grouped = assembleGroups(parts.map((p) => ({ bytes: p.bytes, stats: p.stats, minTime: p.stats.min_hour_ms, maxTime: p.stats.max_hour_ms })));
  return {
    bytes: grouped.bytes,
    stats: { ...mergeStats(parts.map((p) => p.stats)), checksum: grouped.checksum, bytes: grouped.bytes.length },
    directoryBytes: grouped.directoryBytes,
  };
}

function mergeStats(s: readonly RollupSegmentStats[]): Omit<RollupSegmentStats, 'checksum' | 'bytes'> {
  return {
    rows: s.reduce((n, x) => n + x.rows, 0),
    min_hour_ms: Math.min(...s.map((x) => x.min_hour_ms)),
    max_hour_ms: Math.max(...s.map((x) => x.max_hour_ms)),
    buckets: [...new Set(s.flatMap((x) => x.buckets))].sort((a, b) => a - b),
    min_account: s[0]!.min_account,
    max_account: s[s.length - 1]!.max_account,
    quantity_sum: s.reduce((n, x) => n + BigInt(x.quantity_sum), 0n).toString(),
    event_count: s.reduce((n, x) => n + x.event_count, 0),
    products: unionOfSets(s.map((x) => x.products)),
    meters: unionOfSets(s.map((x) => x.meters)),
    models: unionOfSets(s.map((x) => x.models)),
  };
}

/** The directory of a grouped rollup object (its last `directoryBytes` bytes). */
export function rollupDirectoryOf(object: Uint8Array, directoryBytes: number): GroupDirectory {
  return directoryOfObject('rollup', object, directoryBytes);
}

/**
 * Decodes groups [from, to) of a grouped rollup segment from their bytes (read as one range),
 * each verified against the directory and as a rollup container; one column set per group.
 */
export function decodeRollupGroups(dir: GroupDirectory, from: number, to: number, bytes: Uint8Array, opts: DecodeRollupOptions = {}): RollupColumns[] {
  return splitGroups(dir, from, to, bytes).map((b, k) => {
    const cols = decodeRollupSegment(b, opts);
    if (cols.rows !== dir.groups[from + k]!.rows)
      throw new SegmentCorruptError(`rollup segment group ${from + k}: ${cols.rows} rows, the directory says ${dir.groups[from + k]!.rows}`);
    return cols;
  });
}

/**
 * Every group of a rollup object, in order: a grouped object (directoryBytes given) or a single
 * container (undefined: the format before row groups), decoded.
 */
export function decodeRollupObject(object: Uint8Array, directoryBytes: number | undefined, opts: DecodeRollupOptions = {}): RollupColumns[] {
  if (directoryBytes === undefined) return [decodeRollupSegment(object, opts)];
  const dir = rollupDirectoryOf(object, directoryBytes);
  return decodeRollupGroups(dir, 0, dir.groups.length, object.subarray(0, object.length - directoryBytes), opts);
}

/**
 * The directory length of a rollup object read without its entry (a replaced rollup: replacement
 * records keep only id and key): the groups are walked from the start by their headers; undefined
 * when the object is one container.
 */
export function rollupDirectoryBytesOf(object: Uint8Array): number | undefined {
  let at = 0;
  while (at < object.length) {
    const rest = object.subarray(at);
    if (rest.length >= 4 && String.fromCharCode(rest[0]!, rest[1]!, rest[2]!, rest[3]!) === GROUP_DIR_MAGIC) return rest.length;
    const n = containerLength(rest, ROLLUP_MAGIC);
    if (at === 0 && n >= object.length) return undefined;
    at += n;
  }
  throw new SegmentCorruptError('rollup segment: groups without a directory');
}
