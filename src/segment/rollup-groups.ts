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
import { crc32Hex } from './crc32.ts';
import { cappedSet } from './encode-util.ts';
import { SegmentCorruptError } from './errors.ts';
import { decodeRollupSegment, type DecodeRollupOptions } from './rollup-decode.ts';
import { encodeRollupSegment, type EncodeRollupOptions } from './rollup-encode.ts';
import { ROLLUP_MAGIC, type EncodedRollupSegment, type RollupColumns, type RollupRow, type RollupSegmentStats } from './rollup-format.ts';
import { GROUP_DIR_MAGIC, decodeGroupDirectory, encodeGroupDirectory, splitGroups, type GroupDirectory, type RowGroup } from './row-groups.ts';

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
  const groups: RollupRow[][] = [];
  let cur: RollupRow[] = [];
  const flush = () => {
    if (cur.length > 0) groups.push(cur);
    cur = [];
  };
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1;
    while (j < sorted.length && sorted[j]!.account_id === sorted[i]!.account_id) j++;
    // Account rows [i, j): keep them with the group if they fit, else start a new one.
    if (cur.length > 0 && cur.length + (j - i) > groupRows) flush();
    for (let k = i; k < j; k++) {
      const r = sorted[k]!;
      // One account alone over groupRows: cut between its hours.
      if (cur.length >= groupRows && cur[cur.length - 1]!.hour_ms !== r.hour_ms && cur[0]!.account_id === r.account_id) flush();
      cur.push(r);
    }
    // An account that fills groups of its own ends its last one too: each of its groups then
    // spans only its own hours, so a query for some of them skips the rest.
    if (j - i > groupRows) flush();
    i = j;
  }
  flush();
  return groups;
}

/** Encodes rows as a grouped rollup segment (at least one row). */
export function encodeGroupedRollupSegment(
  rows: readonly RollupRow[],
  bucketOf: (accountId: string) => number,
  opts: EncodeGroupedRollupOptions,
): EncodedGroupedRollupSegment {
  if (rows.length === 0) throw new RangeError('a grouped rollup segment needs at least one row');
  const parts = cutRollupGroups(rows, opts.groupRows).map((g) => encodeRollupSegment(g, bucketOf, opts.level === undefined ? {} : { level: opts.level }));
  const groups: RowGroup[] = [];
  let offset = 0;
  for (const p of parts) {
    groups.push({
      firstAccount: p.stats.min_account,
      lastAccount: p.stats.max_account,
      offset,
      length: p.bytes.length,
      rows: p.stats.rows,
      crc: parseInt(p.stats.checksum, 16),
      minTime: p.stats.min_hour_ms,
      maxTime: p.stats.max_hour_ms,
    });
    offset += p.bytes.length;
  }
  const dir = encodeGroupDirectory(groups);
  const bytes = new Uint8Array(offset + dir.bytes.length);
  for (let i = 0; i < parts.length; i++) bytes.set(parts[i]!.bytes, groups[i]!.offset);
  bytes.set(dir.bytes, offset);
  return { bytes, stats: { ...mergeStats(parts.map((p) => p.stats)), checksum: crc32Hex(dir.crc), bytes: bytes.length }, directoryBytes: dir.bytes.length };
}

function union(sets: readonly (readonly string[] | null)[]): string[] | null {
  if (sets.some((s) => s === null)) return null;
  return cappedSet([...new Set(sets.flatMap((s) => s ?? []))].sort());
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
    products: union(s.map((x) => x.products)),
    meters: union(s.map((x) => x.meters)),
    models: union(s.map((x) => x.models)),
  };
}

/** The directory of a grouped rollup object (its last `directoryBytes` bytes). */
export function rollupDirectoryOf(object: Uint8Array, directoryBytes: number): GroupDirectory {
  if (directoryBytes > object.length) throw new SegmentCorruptError(`rollup segment: directory of ${directoryBytes} bytes in an object of ${object.length}`);
  return decodeGroupDirectory(object.subarray(object.length - directoryBytes), object.length);
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
