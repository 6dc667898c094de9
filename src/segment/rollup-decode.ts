/**
 * Decodes rollup segments into columns (only the columns asked for, and those they are stored
 * relative to, are decompressed) and columns into rows. The checksum of the whole object is
 * verified on every decode; nothing unverified is ever returned.
 */
import { rawQuantity } from './raw-decode.ts';
import { EVENT_KINDS } from '../model/event.ts';
import { columnBytes, readContainer, type Container } from './container.ts';
import { SegmentCorruptError } from './errors.ts';
import { readDictColumn, readDimensions, readKinds } from './raw-columns.ts';
import type { DictColumn } from './raw-format.ts';
import { readDeltaColumn } from './raw-numbers.ts';
import {
  HOUR_MS,
  ROLLUP_COLUMN_IDS,
  ROLLUP_COLUMN_NAMES,
  ROLLUP_END_MAGIC,
  ROLLUP_MAGIC,
  ROLLUP_NULLABLE_ID_COLUMNS,
  ROLLUP_VERSION,
  rollupColumnId,
  type RollupColumnName,
  type RollupColumns,
  type RollupIdColumnName,
  type RollupRow,
} from './rollup-format.ts';
import { readCounts, readOffsets, readRollupQuantities } from './rollup-numbers.ts';
import { ByteReader } from './varint.ts';

export interface DecodeRollupOptions {
  /** Columns to decode (default: all). `quantity` also yields `bigQuantities`. */
  readonly columns?: readonly RollupColumnName[];
}

/** Runs one column decoder over the column's bytes, which it must consume exactly. */
function readColumn<T>(c: Container, name: RollupColumnName, read: (r: ByteReader) => T): T {
  const r = new ByteReader(columnBytes(c, rollupColumnId(name)));
  try {
    const v = read(r);
    r.expectEnd('end of column');
    return v;
  } catch (err) {
    // The shared column readers name raw segments in their messages: say which object this was.
    if (err instanceof SegmentCorruptError)
      throw new SegmentCorruptError(`rollup segment column ${name}: ${err.message.replace(/^(raw|rollup) segment: /, '')}`, { cause: err });
    throw err;
  }
}

function checkAccountOrder(codes: Uint32Array): void {
  for (let i = 1; i < codes.length; i++) {
    if (codes[i]! < codes[i - 1]!) throw new SegmentCorruptError('rollup segment: account_id codes are not sorted');
  }
}

/** Verifies the segment (magic, version, CRC, layout) and decodes the requested columns. */
export function decodeRollupSegment(bytes: Uint8Array, opts: DecodeRollupOptions = {}): RollupColumns {
  const c = readContainer(bytes, ROLLUP_MAGIC, ROLLUP_END_MAGIC, ROLLUP_VERSION, ROLLUP_COLUMN_IDS);
  const rows = c.rows;
  // Every row takes at least one raw byte of event_count: bounds every allocation below.
  if (rows > c.columns.get(rollupColumnId('event_count'))!.raw) throw new SegmentCorruptError('rollup segment: row count exceeds its columns');
  const out: RollupColumns = { rows };
  const wanted = opts.columns ?? ROLLUP_COLUMN_NAMES;
  // first_event_ms is stored relative to the hour, last_event_ms relative to first_event_ms.
  let hours: Float64Array | undefined;
  let firsts: Float64Array | undefined;
  const hourMs = (): Float64Array => (hours ??= readColumn(c, 'timestamp_ms', (r) => readHours(r, rows)));
  const firstMs = (): Float64Array => (firsts ??= readColumn(c, 'first_event_ms', (r) => readOffsets(r, hourMs(), 'first_event_ms', false)));
  for (const name of new Set(wanted)) {
    const id = rollupColumnId(name);
    if (id < 0) throw new TypeError(`unknown rollup column ${String(name)}`);
    switch (name) {
      case 'timestamp_ms':
        out.timestamp_ms = hourMs();
        break;
      case 'first_event_ms':
        out.first_event_ms = firstMs();
        break;
      case 'last_event_ms': {
        const f = firstMs();
        out.last_event_ms = readColumn(c, name, (r) => readOffsets(r, f, 'last_event_ms', true));
        break;
      }
      case 'kind':
        out.kind = readColumn(c, name, (r) => readKinds(r, rows));
        break;
      case 'quantity': {
        const q = readColumn(c, name, (r) => readRollupQuantities(r, rows));
        out.quantity = q.quantity;
        out.bigQuantities = q.big;
        break;
      }
      case 'dimensions':
        out.dimensions = readColumn(c, name, (r) => readDimensions(r, rows));
        break;
      case 'event_count':
        out.event_count = readColumn(c, name, (r) => readCounts(r, rows));
        break;
      default: {
        const col = readColumn(c, name, (r) => readDictColumn(r, rows, ROLLUP_NULLABLE_ID_COLUMNS.has(name), name));
        if (name === 'account_id') checkAccountOrder(col.codes);
        (out as Record<RollupIdColumnName, DictColumn<string | null>>)[name] = col;
      }
    }
  }
  return out;
}

/** The hour column: a delta column of hour numbers, returned as hour_ms. */
function readHours(r: ByteReader, rows: number): Float64Array {
  const h = readDeltaColumn(r, rows, 'timestamp_ms');
  for (let i = 0; i < rows; i++) {
    const ms = h[i]! * HOUR_MS;
    if (!Number.isSafeInteger(ms)) throw new SegmentCorruptError('rollup segment: hour out of range');
    h[i] = ms;
  }
  return h;
}

/** The exact quantity sum of `row` (needs the `quantity` column): rollup columns read like raw ones. */
export function rollupQuantity(cols: RollupColumns, row: number): bigint {
  return rawQuantity(cols, row);
}

function need<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new TypeError(`rollupColumnsToRows needs the ${name} column`);
  return v;
}

/**
 * Every row as a RollupRow, in segment order. Needs every column. Rows with the same dimensions
 * share one frozen dimensions object.
 */
export function rollupColumnsToRows(cols: RollupColumns): RollupRow[] {
  const n = cols.rows;
  const kind = need(cols.kind, 'kind');
  const account = need(cols.account_id, 'account_id');
  const sub = need(cols.subscription_id, 'subscription_id');
  const product = need(cols.product_id, 'product_id');
  const meter = need(cols.meter_id, 'meter_id');
  const model = need(cols.model_id, 'model_id');
  const source = need(cols.source, 'source');
  const unit = need(cols.unit, 'unit');
  const hour = need(cols.timestamp_ms, 'timestamp_ms');
  need(cols.quantity, 'quantity');
  const dims = need(cols.dimensions, 'dimensions');
  const count = need(cols.event_count, 'event_count');
  const first = need(cols.first_event_ms, 'first_event_ms');
  const last = need(cols.last_event_ms, 'last_event_ms');
  const out = new Array<RollupRow>(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      account_id: account.dict[account.codes[i]!]!,
      subscription_id: sub.dict[sub.codes[i]!]!,
      product_id: product.dict[product.codes[i]!]!,
      meter_id: meter.dict[meter.codes[i]!]!,
      model_id: model.dict[model.codes[i]!]!,
      source: source.dict[source.codes[i]!]!,
      unit: unit.dict[unit.codes[i]!]!,
      kind: EVENT_KINDS[kind[i]!]!,
      dimensions: dims.dict[dims.codes[i]!]!,
      hour_ms: hour[i]!,
      quantity_sum: rollupQuantity(cols, i),
      event_count: count[i]!,
      first_event_ms: first[i]!,
      last_event_ms: last[i]!,
    };
  }
  return out;
}
