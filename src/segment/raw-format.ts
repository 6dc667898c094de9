/**
 * Raw segment (`.useg`) formats v1 and v2: constants, column ids and the decoded column types.
 * Segments are persisted forever: never change how v1 or v2 bytes are written or read; a change
 * is a new version. Readers read both; v2 is written only for lean segments and row groups (below).
 *
 * Layout (fixed ints little-endian, varints unsigned LEB128, zigzag for signed values):
 *
 *   "USEG"  magic (4 bytes)
 *   u8      format version = 1
 *   u32     header length: bytes from offset 0 to the first column byte
 *   varint  row count
 *   varint  column count (14 in v1: every column below, each exactly once)
 *   per column, in body order: varint column id, varint offset (from the end of the header),
 *           varint stored length, varint raw length, u8 codec: 0 none, 1 deflate (raw DEFLATE,
 *           RFC 1951), 2 deflated head + stored tail (varint head raw length, varint head stored
 *           length, deflated head, then the tail bytes as they are: for random bytes such as ULID
 *           randomness). Offsets are contiguous; the smallest of the three is stored.
 *   column bodies
 *   u32     CRC-32 (IEEE) of every byte before it — the manifest's `checksum` (8 hex digits)
 *   "GESU"  end magic
 *
 * Rows are sorted by (account_id, product_id, meter_id, model_id with null first, timestamp_ms,
 * event_id); string order is JavaScript's (UTF-16 code units, `a < b`). Raw column bodies:
 *
 *   0  event_id        u8 encoding. 0: a string block of `rows` strings. 1 (packed ULIDs):
 *                      varint count of verbatim ids, each as varint gap (row - previous verbatim
 *                      row - 1; the first counts from row -1) + length-prefixed UTF-8 string;
 *                      then for every other row, in row order, a zigzag varint of (ULID time -
 *                      the row's timestamp_ms); then 10 bytes of ULID randomness per such row.
 *                      Only canonical ULIDs are packed (26 upper-case Crockford base32 chars,
 *                      first char 0-7), so re-encoding gives the exact same string.
 *   1  kind            varint run count, then per run: u8 kind (0 Usage, 1 Correction,
 *                      2 Retraction), varint run length; runs sum to `rows`
 *   2  correction_ref  varint entry count, then per entry in row order: varint gap (as above),
 *                      original_event_id and reason as length-prefixed UTF-8 strings
 *   3..9 id columns    account_id, subscription_id, product_id, meter_id, model_id, source, unit:
 *                      varint dictionary size (including null), u8 has-null, string block of the
 *                      non-null values in strictly ascending order, then a code stream. With
 *                      has-null, code 0 is null and code k > 0 is string k-1: codes compare like
 *                      the values.
 *   10 timestamp_ms    a delta column (below)
 *   11 ingested_at_ms  a delta column
 *   12 quantity        `rows` zigzag varints of the signed 128-bit values (at most 19 bytes)
 *   13 dimensions      varint dictionary size, string block of the distinct canonical
 *                      `dimensionsKey` strings (JSON, keys sorted) ascending, then a code stream
 *
 * String block of n strings: n varint UTF-16 lengths, varint UTF-8 byte length, the UTF-8 bytes
 * of all n strings concatenated (one TextDecoder call decodes the whole block).
 * Code stream: u8 mode, then `rows` varints: 0 the codes; 1 zigzag deltas from the previous
 * row's code (the first from 0) — chosen for sorted or correlated columns such as account_id.
 * Delta column: u8 mode. 0: `rows` zigzag varints, the first value then deltas from the previous
 * row. 1 (byte planes): zigzag varint first value, u8 width w (0..6), then w planes of rows-1
 * bytes, most significant first: plane w-1-k holds byte k of each zigzag delta.
 *
 * Format v2 (RAW_VERSION_LEAN): lean segments only — rows all past the dedupe window, entries
 * `hashes: 'none'` (docs/dedupe.md, "Lean hashes"), written by compaction's lean outputs and by
 * the strip step; ingest always writes v1. Everything is as in v1 (container, version byte 2,
 * the same 14 columns, row order, every other body) except seven column bodies, which have a mode
 * v1 does not; the encoder writes, of the modes that apply, the one that deflates smallest
 * (raw-lean.ts). A v2 segment decodes to exactly the columns its v1 twin does.
 *
 *   4, 5, 6            product_id, meter_id, model_id: v1's dictionary column, whose code stream
 *                      may also have mode 2 (grouped): `rows` unsigned varints, the code itself
 *                      where the row starts a group of the columns before it in the row order
 *                      (account_id; account_id, product_id; account_id, product_id, meter_id),
 *                      else the code minus the previous row's (a group is sorted by this column:
 *                      never negative). Group starts as defined for timestamp_ms below. Decoding
 *                      one decodes the columns of its group. Other dictionary columns: v1 only.
 *
 *   10 timestamp_ms    mode 0 or 1: the v1 delta column (this byte is its mode). 2 (grouped):
 *                      zigzag varint m = the minimum timestamp, u8 width w (0..6), then w planes
 *                      of `rows` bytes, most significant first, of an unsigned value per row:
 *                      timestamp - m where the row starts a group, else timestamp - the previous
 *                      row's. Row i starts a group when i = 0 or its (account_id, product_id,
 *                      meter_id, model_id) codes differ from row i-1's (within a group rows are
 *                      sorted by timestamp, so nothing is negative: no sign bit). Decoding it
 *                      decodes those four columns.
 *   11 ingested_at_ms  mode 0 or 1: the v1 delta column. 2 (stamps): varint k (1..rows), the k
 *                      distinct values ascending as zigzag varints (the first, then the gaps,
 *                      each > 0), then a v1 code stream of each row's index in them.
 *   12 quantity        mode 0: the v1 zigzag stream. 1 (no value negative): `rows` unsigned
 *                      varints (canonical: no trailing zero byte; values up to 2^127 - 1). 2
 *                      (buckets; every value a safe non-negative integer): `rows` symbol bytes,
 *                      the value itself below 8, else 4 x b + the two bits below the leading one
 *                      (b = the value's bit length, 4..53); then the b - 3 low bits of each such
 *                      value in row order, packed least significant bit first (unused bits of the
 *                      last byte zero).
 *   13 dimensions      mode 0: the v1 body. 1 (per key; keys and values well-formed UTF-16):
 *                      varint key count K, string block of the K keys (strictly ascending), then
 *                      per key: varint size s, string block of the s-1 values (strictly
 *                      ascending), a code stream: 0 the key is absent from the row's map, k the
 *                      (k-1)-th value. A row's map is its present keys in ascending order; the
 *                      decoded column (canonical `dimensionsKey` strings, maps, codes) is the one
 *                      v1 gives: the distinct maps, ascending by key string.
 *
 * Compatibility: builds before v2 refuse a v2 segment as corrupt (unsupported version), so a v2
 * container is only ever listed by a `hashes: 'none'` entry, and a manifest listing one is stored
 * as format 5 (`needsLeanV2Format`, STORED_MANIFEST_FORMAT_LEAN_V2 in manifest/parts.ts), which
 * those builds (format 4 readers included) refuse by name before reading any segment — or as a
 * row group of an entry with `directory_bytes` (below), which format 6 covers.
 *
 * Row groups: a compacted object of many rows may be several v2 containers followed by a group
 * directory (raw-groups.ts, row-groups.ts); each container is exactly as above. A lean object is
 * exactly that; one compacted inside the dedupe window has its key filter and hashes block after
 * the directory (ingest's dedupe reads only those, never the containers). Its entry carries
 * `directory_bytes`, and a manifest listing one is stored as format 6, which builds before v2
 * refuse by name too.
 */
import type { CorrectionRef } from '../model/event.ts';

export const RAW_MAGIC = 'USEG';
export const RAW_END_MAGIC = 'GESU';
export const RAW_VERSION = 1;
/** Format v2: lean segments only (see the header). */
export const RAW_VERSION_LEAN = 2;

/** Above this many distinct values a stats set is `null` ("any"), never truncated. */
export const SET_CAP = 64;

/** The dictionary-coded id columns (see NULLABLE_ID_COLUMNS for which may be null). */
export const ID_COLUMNS = ['account_id', 'subscription_id', 'product_id', 'meter_id', 'model_id', 'source', 'unit'] as const;
export type IdColumnName = (typeof ID_COLUMNS)[number];
export const NULLABLE_ID_COLUMNS: ReadonlySet<IdColumnName> = new Set(['subscription_id', 'model_id']);

/** Column names in column-id order (the id is the index). */
export const RAW_COLUMN_NAMES = [
  'event_id',
  'kind',
  'correction_ref',
  // Column ids 3..9: the id columns, in ID_COLUMNS order (persisted: never reorder).
  ...ID_COLUMNS,
  'timestamp_ms',
  'ingested_at_ms',
  'quantity',
  'dimensions',
] as const;
export type RawColumnName = (typeof RAW_COLUMN_NAMES)[number];

export const RAW_COLUMN_IDS: readonly number[] = RAW_COLUMN_NAMES.map((_, i) => i);

export function rawColumnId(name: RawColumnName): number {
  return RAW_COLUMN_NAMES.indexOf(name);
}

/** Kind codes in the `kind` column: the index in EVENT_KINDS. */
export const KIND_USAGE = 0;
export const KIND_CORRECTION = 1;
export const KIND_RETRACTION = 2;

/** A dictionary-coded column: row i's value is `dict[codes[i]]`; `dict` is ascending (null first). */
export interface DictColumn<T extends string | null = string> {
  readonly dict: readonly T[];
  readonly codes: Uint32Array;
}

export interface DimensionsColumn {
  /** Distinct canonical dimension maps (frozen), ascending by `keys`. */
  readonly dict: readonly Readonly<Record<string, string>>[];
  /** `dimensionsKey` of each dict entry (the group key queries use). */
  readonly keys: readonly string[];
  readonly codes: Uint32Array;
}

/**
 * A decoded raw segment, columnar. Columns not requested are undefined (and were not
 * decompressed). `quantity[i]` is exact when |q| <= Number.MAX_SAFE_INTEGER, else NaN and the
 * exact value is `bigQuantities.get(i)`; both are present whenever `quantity` was requested.
 */
export interface RawColumns {
  readonly rows: number;
  event_id?: string[];
  /** 0 Usage, 1 Correction, 2 Retraction. */
  kind?: Uint8Array;
  /** Sparse: row → ref, only rows that have one. */
  correction_ref?: Map<number, CorrectionRef>;
  account_id?: DictColumn<string>;
  subscription_id?: DictColumn<string | null>;
  product_id?: DictColumn<string>;
  meter_id?: DictColumn<string>;
  model_id?: DictColumn<string | null>;
  source?: DictColumn<string>;
  unit?: DictColumn<string>;
  timestamp_ms?: Float64Array;
  ingested_at_ms?: Float64Array;
  quantity?: Float64Array;
  bigQuantities?: Map<number, bigint>;
  dimensions?: DimensionsColumn;
}

export interface RawSegmentStats {
  rows: number;
  min_ts: number;
  max_ts: number;
  min_ingested: number;
  max_ingested: number;
  /** Sorted distinct buckets of the accounts. */
  buckets: number[];
  min_account: string;
  max_account: string;
  /** Sorted distinct; null when more than SET_CAP distinct (never truncated). */
  products: string[] | null;
  meters: string[] | null;
  /** As above; excludes a null model_id. */
  models: string[] | null;
  /** Exact sum of every quantity, as a decimal string. */
  quantity_sum: string;
  /** CRC-32 hex (8 digits) stored in the trailer: of every segment byte before it. */
  checksum: string;
  bytes: number;
}

export interface EncodedRawSegment {
  /** The `.useg` object. */
  bytes: Uint8Array;
  /** The hashes block (see hashes.ts; appended to the segment object), rows in the same order. */
  hashes: Uint8Array;
  stats: RawSegmentStats;
}
