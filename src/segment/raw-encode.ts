/**
 * Encodes validated usage events into one raw segment (`.useg`), its hashes sidecar and the
 * exact stats the manifest lists. It never writes bytes it could not read back identically:
 * input it cannot store exactly (bad kind, unsafe timestamp, out-of-range quantity) throws.
 */
import { EVENT_KINDS, type UsageEvent } from '../model/event.ts';
import { writeContainer, type DeflateLevel } from './container.ts';
import { crc32Hex } from './crc32.ts';
import { writeEventIds } from './event-ids.ts';
import { encodeSegmentHashes } from './hashes.ts';
import { jsonBytes, type PayloadParts } from './payload.ts';
import { writeCodes, writeCorrections, writeDictColumn, writeKinds } from './raw-columns.ts';
import { groupStarts, writeLeanDictColumn, writeLeanDimensions, writeLeanQuantityColumn, writeLeanStamps, writeLeanTimestamps } from './raw-lean.ts';
import { RAW_END_MAGIC, RAW_MAGIC, RAW_VERSION, RAW_VERSION_LEAN, type EncodedRawSegment, type RawSegmentStats } from './raw-format.ts';
import { writeDeltaColumn, writeQuantities } from './raw-numbers.ts';
import { collectRows, sortOrder, type Rows } from './raw-rows.ts';
import { cappedSet, column } from './encode-util.ts';
import { writeStringBlock } from './strings.ts';

export interface EncodeRawOptions {
  /** Deflate level per column, 0 (store) to 9; default 5 (6 is ~1% smaller and ~1.5x slower to deflate). */
  readonly level?: DeflateLevel;
  /** Hashes the caller already computed: HASH_WORDS words per input row, as `EventHasher` writes them. */
  readonly hashes?: Uint32Array;
  /**
   * Write format v2 (raw-format.ts): for lean segments only (rows past the dedupe window, no
   * hashes block), never for ingest. The result's `hashes` is then empty (not computed).
   */
  readonly lean?: boolean;
}

function gather(values: Float64Array, order: Uint32Array): Float64Array {
  const out = new Float64Array(order.length);
  for (let i = 0; i < order.length; i++) out[i] = values[order[i]!]!;
  return out;
}

/** v2: the id columns (ID_COLUMNS index) whose codes may be grouped, and the columns of their group. */
const GROUPED_PREFIX: Readonly<Record<number, readonly number[]>> = { 2: [0], 3: [0, 2], 4: [0, 2, 3] };

function gatherCodes(codes: Uint32Array, order: Uint32Array): Uint32Array {
  const out = new Uint32Array(order.length);
  for (let i = 0; i < order.length; i++) out[i] = codes[order[i]!]!;
  return out;
}

function minMax(values: Float64Array): [number, number] {
  if (values.length === 0) return [0, 0];
  let lo = values[0]!,
    hi = lo;
  for (let i = 1; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

/** The interned values the payload hash needs, so the sidecar is built by array index. */
function payloadParts(rows: Rows): PayloadParts {
  const utf8 = new TextEncoder();
  return {
    columns: [
      { codes: rows.kinds, json: EVENT_KINDS.map(jsonBytes) },
      ...rows.ids.map((it) => ({ codes: it.codes, json: [...(it.hasNull ? [null] : []), ...it.sorted].map(jsonBytes) })),
    ],
    dims: { codes: rows.rawDimsCodes, json: rows.rawDimsJson.map((j) => utf8.encode(j)) },
  };
}

/**
 * Sorts `events` by (account, product, meter, model null first, timestamp, event_id; ties keep
 * input order) and encodes them. `bucketOf` gives the bucket of an account for the stats.
 * An empty input gives an empty segment whose numeric stats are 0 and account bounds ''.
 */
export function encodeRawSegment(events: readonly UsageEvent[], bucketOf: (accountId: string) => number, opts: EncodeRawOptions = {}): EncodedRawSegment {
  const rows = collectRows(events);
  const n = rows.n;
  const order = sortOrder(rows);
  const ts = gather(rows.ts, order);
  const ing = gather(rows.ing, order);
  const dims = rows.dims;

  let quantitySum = 0n;
  const lean = opts.lean === true;
  const level = opts.level ?? 5;
  const tails = new Array<number>(14).fill(0); // incompressible bytes at the end of each column
  const byRow = new Map<number, Uint32Array>();
  /** Codes of id column `c` (ID_COLUMNS index) in segment order. */
  const sorted = (c: number): Uint32Array => {
    let out = byRow.get(c);
    if (out === undefined) byRow.set(c, (out = gatherCodes(rows.ids[c]!.codes, order)));
    return out;
  };
  const columns: Uint8Array[] = [
    column(n * 12 + 64, (w) => {
      tails[0] = writeEventIds(w, rows.eventIds, order, ts);
    }),
    column(16, (w) => writeKinds(w, rows.kinds, order)),
    column(16, (w) => writeCorrections(w, rows.refs, order)),
    ...rows.ids.map((it, c) => {
      const prefix = GROUPED_PREFIX[c];
      if (lean && prefix !== undefined) {
        const starts = groupStarts(
          prefix.map((p) => sorted(p)),
          n,
        );
        return leanColumn(3 + c, writeLeanDictColumn(it.sorted, it.hasNull, it.codes, order, starts, level));
      }
      return column(n * 2 + 64, (w) => writeDictColumn(w, it.sorted, it.hasNull, it.codes, order));
    }),
    lean
      ? leanColumn(10, writeLeanTimestamps(ts, groupStarts([0, 2, 3, 4].map(sorted), n), level))
      : column(n * 3 + 16, (w) => {
          tails[10] = writeDeltaColumn(w, ts);
        }),
    lean
      ? leanColumn(11, writeLeanStamps(ing, level))
      : column(n + 16, (w) => {
          tails[11] = writeDeltaColumn(w, ing);
        }),
    lean
      ? leanQuantities()
      : column(n * 2 + 16, (w) => {
          quantitySum = writeQuantities(w, rows.quantities, rows.qn, order);
        }),
    lean
      ? leanColumn(13, writeLeanDimensions(dims.sorted, dims.codes, order, level))
      : column(n * 2 + 64, (w) => {
          w.varUint(dims.sorted.length);
          writeStringBlock(w, dims.sorted);
          writeCodes(w, dims.codes, order, dims.sorted.length);
        }),
  ];
  function leanQuantities(): Uint8Array {
    const c = writeLeanQuantityColumn(rows.quantities, rows.qn, order, level);
    quantitySum = c.sum;
    return leanColumn(12, c);
  }
  function leanColumn(id: number, c: { raw: Uint8Array; tail: number }): Uint8Array {
    tails[id] = c.tail;
    return c.raw;
  }
  const { bytes, crc } = writeContainer(
    RAW_MAGIC,
    RAW_END_MAGIC,
    lean ? RAW_VERSION_LEAN : RAW_VERSION,
    n,
    columns.map((raw, id) => ({ id, raw, incompressibleTail: tails[id]! })),
    level,
  );

  const [minTs, maxTs] = minMax(ts);
  const [minIng, maxIng] = minMax(ing);
  const accounts = rows.ids[0]!.sorted;
  const stats: RawSegmentStats = {
    rows: n,
    min_ts: minTs,
    max_ts: maxTs,
    min_ingested: minIng,
    max_ingested: maxIng,
    buckets: [...new Set(accounts.map((a) => bucketOf(a)))].sort((a, b) => a - b),
    min_account: accounts[0] ?? '',
    max_account: accounts[accounts.length - 1] ?? '',
    products: cappedSet(rows.ids[2]!.sorted),
    meters: cappedSet(rows.ids[3]!.sorted),
    models: cappedSet(rows.ids[4]!.sorted),
    quantity_sum: quantitySum.toString(),
    checksum: crc32Hex(crc),
    bytes: bytes.length,
  };
  const hashes = lean
    ? new Uint8Array(0)
    : opts.hashes === undefined
      ? encodeSegmentHashes(events, payloadParts(rows), rows.ing)
      : encodeSegmentHashes(events, undefined, rows.ing, opts.hashes);
  return { bytes, hashes, stats };
}
