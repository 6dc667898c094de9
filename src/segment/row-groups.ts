/**
 * Row groups (issue 15 item 6): a segment object written as consecutive row groups in account
 * order, each a complete checksummed container of its format, followed by a group directory —
 * itself a checksummed container (magic "URGD", end magic "DGRU", version 1) — listing per group
 * its account range, offset, length, rows and container CRC-32. A one-account reader reads the
 * directory (its length is in the manifest entry), then only the groups whose account range
 * holds the account, in one ranged GET (they are adjacent). Pure functions: no I/O.
 *
 * Directory columns (id: body):
 *   0  accounts   string block of 2 x groups strings: first_account, last_account of each group
 *   1  groups     per group: varint offset, varint length, varint rows, u32le CRC-32, zigzag
 *                 min_time, zigzag max_time - min_time (ms: the group's smallest and largest
 *                 timestamp; a rollup's hour_ms), so an account spread over many groups is read
 *                 only for the groups of the time asked for
 *
 * Rules a decoder enforces (anything else is SegmentCorruptError): at least one group; group 0
 * starts at 0, each next one where the previous ended, and the last ends where the directory
 * starts; first_account <= last_account within a group, and no group's first_account is below
 * the previous group's last_account (equal when one account's rows span several groups).
 */
import { columnBytes, readContainer, writeContainer } from './container.ts';
import { crc32Hex } from './crc32.ts';
import { cappedSet } from './encode-util.ts';
import { SegmentCorruptError } from './errors.ts';
import { readStringBlock, writeStringBlock } from './strings.ts';
import { ByteReader, ByteWriter } from './varint.ts';

export const GROUP_DIR_MAGIC = 'URGD';
export const GROUP_DIR_END_MAGIC = 'DGRU';
export const GROUP_DIR_VERSION = 1;
const COLUMN_IDS = [0, 1] as const;

export interface RowGroup {
  readonly firstAccount: string;
  readonly lastAccount: string;
  /** Offset of the group's container in the object. */
  readonly offset: number;
  readonly length: number;
  readonly rows: number;
  /** CRC-32 in the group container's trailer. */
  readonly crc: number;
  /** Smallest and largest timestamp (ms) of the group's rows. */
  readonly minTime: number;
  readonly maxTime: number;
}

export interface GroupDirectory {
  readonly groups: readonly RowGroup[];
  /** CRC-32 of the directory container: the entry's `checksum` for a grouped segment. */
  readonly crc: number;
}

/** Encodes the directory of `groups` (consecutive from offset 0). */
export function encodeGroupDirectory(groups: readonly RowGroup[]): { bytes: Uint8Array; crc: number } {
  const accounts = new ByteWriter(64 + groups.length * 32);
  writeStringBlock(
    accounts,
    groups.flatMap((g) => [g.firstAccount, g.lastAccount]),
  );
  const nums = new ByteWriter(16 + groups.length * 20);
  for (const g of groups) {
    nums.varUint(g.offset);
    nums.varUint(g.length);
    nums.varUint(g.rows);
    nums.u32le(g.crc);
    nums.zigzag(g.minTime);
    nums.zigzag(g.maxTime - g.minTime);
  }
  return writeContainer(
    GROUP_DIR_MAGIC,
    GROUP_DIR_END_MAGIC,
    GROUP_DIR_VERSION,
    groups.length,
    [
      { id: 0, raw: accounts.finish() },
      { id: 1, raw: nums.finish() },
    ],
    5,
  );
}

function corrupt(msg: string): SegmentCorruptError {
  return new SegmentCorruptError(`segment group directory: ${msg}`);
}

/** Verifies and decodes a directory that sits at the end of an object of `objectBytes` bytes. */
export function decodeGroupDirectory(bytes: Uint8Array, objectBytes: number): GroupDirectory {
  const c = readContainer(bytes, GROUP_DIR_MAGIC, GROUP_DIR_END_MAGIC, GROUP_DIR_VERSION, COLUMN_IDS);
  const n = c.rows;
  if (n < 1) throw corrupt('no groups');
  const nums = new ByteReader(columnBytes(c, 1));
  // Every group takes at least 7 bytes of the numbers column: bounds the string block count.
  if (n > nums.remaining()) throw corrupt(`${n} groups exceed its bytes`);
  const ar = new ByteReader(columnBytes(c, 0));
  const accounts = readStringBlock(ar, n * 2);
  ar.expectEnd('group directory accounts');
  const groups: RowGroup[] = [];
  let next = 0;
  for (let i = 0; i < n; i++) {
    const offset = nums.varUint();
    const length = nums.varUint();
    const rows = nums.varUint();
    const crc = nums.u32le();
    const minTime = nums.zigzag();
    const span = nums.zigzag();
    if (span < 0 || !Number.isSafeInteger(minTime + span)) throw corrupt(`group ${i} time range impossible`);
    const g: RowGroup = { firstAccount: accounts[i * 2]!, lastAccount: accounts[i * 2 + 1]!, offset, length, rows, crc, minTime, maxTime: minTime + span };
    if (g.offset !== next || g.length < 1) throw corrupt(`group ${i} out of place`);
    if (g.firstAccount > g.lastAccount) throw corrupt(`group ${i} account range reversed`);
    const prev = groups[i - 1];
    if (prev !== undefined && prev.lastAccount > g.firstAccount) throw corrupt(`group ${i} accounts out of order`);
    next = g.offset + g.length;
    groups.push(g);
  }
  nums.expectEnd('group directory numbers');
  if (next + bytes.length !== objectBytes) throw corrupt(`groups end at ${next}, the directory starts at ${objectBytes - bytes.length}`);
  return { groups, crc: c.crc };
}

/**
 * Indexes [from, to) of the groups that may hold rows of `account` (from = to when none can),
 * narrowed to those whose times pass `overlaps` (the first to the last that do: one range).
 */
export function groupsOfAccount(
  dir: GroupDirectory,
  account: string,
  overlaps: (minTime: number, maxTime: number) => boolean = () => true,
): { from: number; to: number } {
  const g = dir.groups;
  // First group whose last account is >= account.
  let lo = 0,
    hi = g.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (g[mid]!.lastAccount < account) lo = mid + 1;
    else hi = mid;
  }
  let to = lo;
  while (to < g.length && g[to]!.firstAccount <= account) to++;
  while (lo < to && !overlaps(g[lo]!.minTime, g[lo]!.maxTime)) lo++;
  while (to > lo && !overlaps(g[to - 1]!.minTime, g[to - 1]!.maxTime)) to--;
  return { from: lo, to };
}

/** The byte range [offset, offset + length) of groups [from, to). */
export function groupsRange(dir: GroupDirectory, from: number, to: number): { offset: number; length: number } {
  const a = dir.groups[from]!;
  const b = dir.groups[to - 1]!;
  return { offset: a.offset, length: b.offset + b.length - a.offset };
}

/**
 * Splits the bytes of groups [from, to) (read as one range) into each group's container bytes,
 * checking each one's trailer CRC against the directory (a group swapped for another verifies
 * on its own, but not against the directory). The containers themselves are verified by their
 * format's decoder.
 */
export function splitGroups(dir: GroupDirectory, from: number, to: number, bytes: Uint8Array): Uint8Array[] {
  const { offset, length } = groupsRange(dir, from, to);
  if (bytes.length !== length) throw corrupt(`groups ${from}..${to - 1}: read ${bytes.length} bytes, expected ${length}`);
  const out: Uint8Array[] = [];
  for (let i = from; i < to; i++) {
    const g = dir.groups[i]!;
    const part = bytes.subarray(g.offset - offset, g.offset - offset + g.length);
    const stored = part.length >= 8 ? new DataView(part.buffer, part.byteOffset, part.length).getUint32(part.length - 8, true) : -1;
    if (stored !== g.crc) throw corrupt(`group ${i} checksum does not match the directory`);
    out.push(part);
  }
  return out;
}

/** The stats both segment encoders return that the directory lists (same names in raw and rollup stats). */
export interface GroupStats {
  readonly min_account: string;
  readonly max_account: string;
  readonly rows: number;
  /** The group container's CRC-32, hex. */
  readonly checksum: string;
}

/** One encoded group, as a segment encoder returns it, and its time range (raw: timestamps; rollup: hours). */
export interface EncodedGroup {
  readonly bytes: Uint8Array;
  readonly stats: GroupStats;
  readonly minTime: number;
  readonly maxTime: number;
}

/**
 * Lays encoded groups out one after another and appends their directory: the object's bytes, the
 * directory's length, and its CRC-32 as hex (the entry's checksum).
 */
export function assembleGroups(parts: readonly EncodedGroup[]): { bytes: Uint8Array; directoryBytes: number; checksum: string } {
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
      minTime: p.minTime,
      maxTime: p.maxTime,
    });
    offset += p.bytes.length;
  }
  const dir = encodeGroupDirectory(groups);
  const bytes = new Uint8Array(offset + dir.bytes.length);
  for (let i = 0; i < parts.length; i++) bytes.set(parts[i]!.bytes, groups[i]!.offset);
  bytes.set(dir.bytes, offset);
  return { bytes, directoryBytes: dir.bytes.length, checksum: crc32Hex(dir.crc) };
}

/** The union of the groups' capped value sets (null: some group had too many to list). */
export function unionOfSets(sets: readonly (readonly string[] | null)[]): string[] | null {
  if (sets.some((s) => s === null)) return null;
  return cappedSet([...new Set(sets.flatMap((s) => s ?? []))].sort());
}

/** The directory of a grouped object (its last `directoryBytes` bytes); `kind` names it in errors. */
export function directoryOfObject(kind: string, object: Uint8Array, directoryBytes: number): GroupDirectory {
  if (directoryBytes > object.length) throw new SegmentCorruptError(`${kind} segment: directory of ${directoryBytes} bytes in an object of ${object.length}`);
  return decodeGroupDirectory(object.subarray(object.length - directoryBytes), object.length);
}

/**
 * Cuts rows already in account order into groups of at most `groupRows`: an account's rows stay
 * in one group when they fit, else they get groups of their own (cut where `mayCut(previous,
 * next)` allows, so a group may run over to keep what must not be split together), and the last
 * of those is closed too.
 */
export function cutInAccountOrder<T>(
  sorted: readonly T[],
  groupRows: number,
  accountOf: (row: T) => string,
  mayCut: (previous: T, next: T) => boolean = () => true,
): T[][] {
  if (!Number.isInteger(groupRows) || groupRows < 1) throw new RangeError(`groupRows must be a positive integer, got ${groupRows}`);
  const groups: T[][] = [];
  let cur: T[] = [];
  const flush = () => {
    if (cur.length > 0) groups.push(cur);
    cur = [];
  };
  for (let i = 0; i < sorted.length; ) {
    let j = i + 1;
    while (j < sorted.length && accountOf(sorted[j]!) === accountOf(sorted[i]!)) j++;
    // Account rows [i, j): keep them with the group if they fit, else start a new one.
    if (cur.length > 0 && cur.length + (j - i) > groupRows) flush();
    for (let k = i; k < j; k++) {
      const r = sorted[k]!;
      // One account alone over groupRows: cut between its rows where allowed.
      if (cur.length >= groupRows && accountOf(cur[0]!) === accountOf(r) && mayCut(cur[cur.length - 1]!, r)) flush();
      cur.push(r);
    }
    // An account that fills groups of its own ends its last one too: each of its groups then
    // holds only its rows, so a query for another account never reads them.
    if (j - i > groupRows) flush();
    i = j;
  }
  flush();
  return groups;
}
