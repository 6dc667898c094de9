/**
 * Encodes hourly aggregates into one rollup segment (`.rseg`, see rollup-format.ts) and the exact
 * stats the manifest lists. Input rows with the same group key are merged (sums and counts
 * added, first the minimum, last the maximum), so the bytes depend only on the multiset of input
 * rows, never on their order. Input it cannot store exactly throws TypeError/RangeError; it never
 * writes bytes it could not read back identically.
 */
import { writeContainer, type DeflateLevel } from './container.ts';
import { crc32Hex } from './crc32.ts';
import { writeCodes, writeDictColumn, writeKinds } from './raw-columns.ts';
import { writeDeltaColumn } from './raw-numbers.ts';
import {
  HOUR_MS,
  ROLLUP_COLUMN_NAMES,
  ROLLUP_END_MAGIC,
  ROLLUP_MAGIC,
  ROLLUP_VERSION,
  type EncodedRollupSegment,
  type RollupRow,
  type RollupSegmentStats,
} from './rollup-format.ts';
import { sortAndMergeRollupRows } from './rollup-rows.ts';
import { writeCounts, writeOffsets, writeRollupQuantities } from './rollup-numbers.ts';
import { cappedSet, column } from './encode-util.ts';
import { writeStringBlock } from './strings.ts';

export interface EncodeRollupOptions {
  /** Deflate level per column, 0 (store) to 9; default 5. */
  readonly level?: DeflateLevel;
}

/**
 * Sorts, merges and encodes `rows` (see rollup-format.ts). `bucketOf` gives the bucket of an
 * account for the stats. An empty input gives an empty segment whose numeric stats are 0 and
 * account bounds ''.
 */
export function encodeRollupSegment(rows: readonly RollupRow[], bucketOf: (accountId: string) => number, opts: EncodeRollupOptions = {}): EncodedRollupSegment {
  const merged = sortAndMergeRollupRows(rows);
  const { n, rep, ids, dims, kinds } = merged;
  const hourMs = new Float64Array(n);
  for (let k = 0; k < n; k++) hourMs[k] = merged.hours[k]! * HOUR_MS;

  let eventCount = 0;
  for (let k = 0; k < n; k++) eventCount += merged.counts[k]!;
  if (!Number.isSafeInteger(eventCount)) throw new RangeError('total event_count of the segment is not a safe integer');
  let quantitySum = 0n;
  for (const q of merged.quantities) quantitySum += q;

  const tails = new Array<number>(ROLLUP_COLUMN_NAMES.length).fill(0);
  const columns: Uint8Array[] = [
    column(16, (w) => writeKinds(w, kinds, rep)),
    ...ids.map((it) => column(n * 2 + 64, (w) => writeDictColumn(w, it.sorted, it.hasNull, it.codes, rep))),
    column(n * 2 + 16, (w) => {
      tails[8] = writeDeltaColumn(w, merged.hours);
    }),
    column(n * 3 + 16, (w) => writeRollupQuantities(w, merged.quantities)),
    column(n * 2 + 64, (w) => {
      w.varUint(dims.sorted.length);
      writeStringBlock(w, dims.sorted);
      writeCodes(w, dims.codes, rep, dims.sorted.length);
    }),
    column(n + 16, (w) => writeCounts(w, merged.counts)),
    column(n * 3 + 16, (w) => writeOffsets(w, merged.first, hourMs)),
    column(n * 3 + 16, (w) => writeOffsets(w, merged.last, merged.first)),
  ];
  const { bytes, crc } = writeContainer(
    ROLLUP_MAGIC,
    ROLLUP_END_MAGIC,
    ROLLUP_VERSION,
    n,
    columns.map((raw, id) => ({ id, raw, incompressibleTail: tails[id]! })),
    opts.level ?? 5,
  );

  let minHour = 0,
    maxHour = 0;
  for (let k = 0; k < n; k++) {
    const h = hourMs[k]!;
    if (k === 0 || h < minHour) minHour = h;
    if (k === 0 || h > maxHour) maxHour = h;
  }
  const accounts = ids[0]!.sorted;
  const stats: RollupSegmentStats = {
    rows: n,
    min_hour_ms: minHour,
    max_hour_ms: maxHour,
    buckets: [...new Set(accounts.map((a) => bucketOf(a)))].sort((a, b) => a - b),
    min_account: accounts[0] ?? '',
    max_account: accounts[accounts.length - 1] ?? '',
    quantity_sum: quantitySum.toString(),
    event_count: eventCount,
    checksum: crc32Hex(crc),
    bytes: bytes.length,
    products: cappedSet(ids[2]!.sorted),
    meters: cappedSet(ids[3]!.sorted),
    models: cappedSet(ids[4]!.sorted),
  };
  return { bytes, stats };
}
