/**
 * Rollup segment (`.rseg`) format v1: hourly aggregates of raw events. Constants, column ids, the
 * input row type and the decoded column types. Segments are persisted forever: never change how
 * v1 bytes are written or read; a change is a new version.
 *
 * Container: the same checksummed column container as raw segments (container.ts) with magic
 * "URSG", end magic "GSRU", version 1 and exactly the 14 columns below, each once. The trailer
 * CRC-32 is the manifest's `checksum`. Encoding conventions (varints, zigzag, string blocks,
 * code streams, delta columns) are those of raw-format.ts.
 *
 * Rows. One row per group key (account_id, subscription_id, product_id, meter_id, model_id,
 * source, unit, kind, dimensions, hour_ms): a segment never holds two rows with the same key —
 * the encoder merges such input rows (quantity sums and event counts added, first_event_ms the
 * minimum, last_event_ms the maximum). Rows are sorted by (account_id, product_id, meter_id,
 * model_id null first, hour_ms, subscription_id null first, source, unit, kind code,
 * dimensionsKey); strings in JavaScript order (UTF-16 code units). Every dictionary is ascending,
 * so the account_id codes are non-decreasing in row order (readers binary-search them; a decoder
 * refuses a segment where they are not).
 *
 * Column bodies (id: name):
 *
 *   0  kind            as raw: varint run count, then per run u8 kind (0 Usage, 1 Correction,
 *                      2 Retraction) and varint run length; runs sum to `rows`
 *   1..7 id columns    account_id, subscription_id, product_id, meter_id, model_id, source, unit:
 *                      as raw (varint dictionary size including null, u8 has-null, string block
 *                      of the non-null values strictly ascending, code stream; null is code 0).
 *                      Only subscription_id and model_id may hold null.
 *   8  timestamp_ms    the hour of each row as a delta column (raw-format.ts) of hour numbers
 *                      (hour_ms / 3_600_000); readers multiply back
 *   9  quantity        `rows` zigzag varints of the signed quantity sums, any size up to
 *                      |q| < 2^256 (at most 37 bytes each). Sums of many signed 128-bit
 *                      quantities leave the 128-bit range; with event_count < 2^53 an exact sum
 *                      of i128 values is below 2^180 in magnitude, so the limit never binds.
 *                      A value that is a safe integer takes at most 8 bytes (canonical).
 *   10 dimensions      as raw: varint dictionary size, string block of the distinct canonical
 *                      `dimensionsKey` strings ascending, code stream
 *   11 event_count     `rows` unsigned varints, each >= 1 and a safe integer
 *   12 first_event_ms  `rows` zigzag varints of first_event_ms - hour_ms (same row)
 *   13 last_event_ms   `rows` zigzag varints of last_event_ms - first_event_ms (same row), >= 0
 *
 * Timestamps (hour_ms, first_event_ms, last_event_ms) are safe integers; hour_ms is a multiple of
 * 3_600_000; first_event_ms <= last_event_ms. Nothing requires first/last to lie inside the hour.
 */
import type { EventKind } from '../model/event.ts';
import { ID_COLUMNS, NULLABLE_ID_COLUMNS, type IdColumnName, type RawColumns } from './raw-format.ts';

export const ROLLUP_MAGIC = 'URSG';
export const ROLLUP_END_MAGIC = 'GSRU';
export const ROLLUP_VERSION = 1;

export { HOUR_MS } from '../model/time.ts';

/** Quantity sums must satisfy |q| < ROLLUP_QUANTITY_LIMIT (2^256); the encoder refuses others. */
export const ROLLUP_QUANTITY_LIMIT = 1n << 256n;
/** Longest quantity varint v1 readers accept: zigzag(q) < 2^257 takes at most 37 bytes. */
export const ROLLUP_QUANTITY_MAX_BYTES = 37;

/** Column names in column-id order (the id is the index). */
export const ROLLUP_COLUMN_NAMES = [
  'kind',
  // Column ids 1..7: the id columns, in ID_COLUMNS order (persisted: never reorder).
  ...ID_COLUMNS,
  'timestamp_ms',
  'quantity',
  'dimensions',
  'event_count',
  'first_event_ms',
  'last_event_ms',
] as const;
export type RollupColumnName = (typeof ROLLUP_COLUMN_NAMES)[number];

export const ROLLUP_COLUMN_IDS: readonly number[] = ROLLUP_COLUMN_NAMES.map((_, i) => i);

export function rollupColumnId(name: RollupColumnName): number {
  return ROLLUP_COLUMN_NAMES.indexOf(name);
}

/** The dictionary-coded id columns (ids 1..7, in this order): the raw segments' own list. */
export const ROLLUP_ID_COLUMNS = ID_COLUMNS;
export type RollupIdColumnName = IdColumnName;
export const ROLLUP_NULLABLE_ID_COLUMNS = NULLABLE_ID_COLUMNS;

/** One hourly aggregate: the input of encodeRollupSegment and the output of rollupColumnsToRows. */
export interface RollupRow {
  account_id: string;
  subscription_id: string | null;
  product_id: string;
  meter_id: string;
  model_id: string | null;
  source: string;
  unit: string;
  kind: EventKind;
  /** Canonical (keys sorted); any key order is accepted on input and canonicalized. */
  dimensions: Readonly<Record<string, string>>;
  /** Start of the UTC hour: a safe integer multiple of 3_600_000. */
  hour_ms: number;
  /** Exact signed sum of the events' quantities, |q| < 2^256. */
  quantity_sum: bigint;
  /** Events aggregated, >= 1, a safe integer. */
  event_count: number;
  /** Safe integers, first_event_ms <= last_event_ms. */
  first_event_ms: number;
  last_event_ms: number;
}

/**
 * A decoded rollup segment, columnar. Shares the names and types of RawColumns for every common
 * field (assignable to RawColumns), so one aggregator reads either; `timestamp_ms` is the hour.
 * Columns not requested are undefined. `quantity[i]` is exact when |q| <= MAX_SAFE_INTEGER,
 * else NaN and the exact value is `bigQuantities.get(i)`; both are present when `quantity` was
 * requested.
 */
export type RollupColumns = Omit<RawColumns, 'event_id' | 'correction_ref' | 'ingested_at_ms'> & {
  event_count?: Float64Array;
  first_event_ms?: Float64Array;
  last_event_ms?: Float64Array;
};

export interface RollupSegmentStats {
  /** Rows after merging duplicate group keys. */
  rows: number;
  /** Smallest and largest hour_ms; 0 for an empty segment. */
  min_hour_ms: number;
  max_hour_ms: number;
  /** Sorted distinct buckets of the accounts. */
  buckets: number[];
  /** '' for an empty segment. */
  min_account: string;
  max_account: string;
  /** Exact sum of every quantity_sum, as a decimal string. */
  quantity_sum: string;
  /** Sum of every event_count. */
  event_count: number;
  /** CRC-32 hex (8 digits) stored in the trailer: of every segment byte before it. */
  checksum: string;
  bytes: number;
  /** Sorted distinct; null when more than SET_CAP distinct (never truncated). */
  products: string[] | null;
  meters: string[] | null;
  /** As above; excludes a null model_id. */
  models: string[] | null;
}

export interface EncodedRollupSegment {
  /** The `.rseg` object. */
  bytes: Uint8Array;
  stats: RollupSegmentStats;
}
