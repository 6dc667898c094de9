/**
 * Decodes raw segments into columns (only the columns asked for are decompressed) and columns
 * into events. The checksum of the whole object is verified on every decode; nothing unverified
 * is ever returned.
 */
import { EVENT_KINDS, type UsageEvent } from '../model/event.ts';
import { columnBytes, readContainer, type Container } from './container.ts';
import { SegmentCorruptError } from './errors.ts';
import { readEventIds } from './event-ids.ts';
import { readCorrections, readDictColumn, readDimensions, readKinds } from './raw-columns.ts';
import { groupStarts, readLeanDictColumn, readLeanDimensions, readLeanQuantities, readLeanStamps, readLeanTimestamps } from './raw-lean.ts';
import { readDeltaColumn, readQuantities } from './raw-numbers.ts';
import {
  NULLABLE_ID_COLUMNS,
  RAW_COLUMN_IDS,
  RAW_COLUMN_NAMES,
  RAW_END_MAGIC,
  RAW_MAGIC,
  RAW_VERSION,
  RAW_VERSION_LEAN,
  rawColumnId,
  type DictColumn,
  type IdColumnName,
  type RawColumnName,
  type RawColumns,
} from './raw-format.ts';
import { ByteReader } from './varint.ts';

export interface DecodeRawOptions {
  /** Columns to decode (default: all). `quantity` also yields `bigQuantities`. */
  readonly columns?: readonly RawColumnName[];
}

/** v2: id columns whose codes may be grouped by the columns before them in the sort order. */
const GROUPED_PREFIX: Partial<Record<IdColumnName, readonly IdColumnName[]>> = {
  product_id: ['account_id'],
  meter_id: ['account_id', 'product_id'],
  model_id: ['account_id', 'product_id', 'meter_id'],
};

/** Verifies the segment (magic, version, CRC, layout) and decodes the requested columns. */
export function decodeRawSegment(bytes: Uint8Array, opts: DecodeRawOptions = {}): RawColumns {
  // Version 2 (lean segments) has the same columns; the checksum covers the version byte.
  const version = bytes instanceof Uint8Array && bytes.length > 4 && bytes[4] === RAW_VERSION_LEAN ? RAW_VERSION_LEAN : RAW_VERSION;
  const c = readContainer(bytes, RAW_MAGIC, RAW_END_MAGIC, version, RAW_COLUMN_IDS);
  const lean = version === RAW_VERSION_LEAN;
  const rows = c.rows;
  // Every row takes at least one raw byte of account_id codes: bounds every allocation below.
  if (rows > c.columns.get(rawColumnId('account_id'))!.raw) throw new SegmentCorruptError('raw segment: row count exceeds its columns');
  const out: RawColumns = { rows };
  const wanted = opts.columns ?? RAW_COLUMN_NAMES;
  // Dictionary columns are decoded once: v2 timestamps need four of them for the group starts.
  const dicts = new Map<IdColumnName, DictColumn<string | null>>();
  const dictColumn = (name: IdColumnName): DictColumn<string | null> => {
    let col = dicts.get(name);
    if (col === undefined) {
      const r = new ByteReader(columnBytes(c, rawColumnId(name)));
      const prefix = lean ? GROUPED_PREFIX[name] : undefined;
      col =
        prefix === undefined
          ? readDictColumn(r, rows, NULLABLE_ID_COLUMNS.has(name), name)
          : readLeanDictColumn(r, rows, NULLABLE_ID_COLUMNS.has(name), name, () =>
              groupStarts(
                prefix.map((p) => dictColumn(p).codes),
                rows,
              ),
            );
      r.expectEnd(`raw segment column ${name}`);
      dicts.set(name, col);
    }
    return col;
  };
  const starts = (): Uint8Array =>
    groupStarts(
      (['account_id', 'product_id', 'meter_id', 'model_id'] as const).map((name) => dictColumn(name).codes),
      rows,
    );
  let ts: Float64Array | undefined;
  const timestamps = (): Float64Array => (ts ??= decodeTimestamps(c, rows, lean ? starts : undefined));
  for (const name of new Set(wanted)) {
    const id = rawColumnId(name);
    if (id < 0) throw new TypeError(`unknown raw column ${String(name)}`);
    if (name === 'timestamp_ms') {
      out.timestamp_ms = timestamps(); // event_id may have needed it already
      continue;
    }
    if (name !== 'event_id' && name !== 'kind' && name !== 'correction_ref' && name !== 'ingested_at_ms' && name !== 'quantity' && name !== 'dimensions') {
      (out as Record<IdColumnName, DictColumn<string | null>>)[name] = dictColumn(name);
      continue;
    }
    const r = new ByteReader(columnBytes(c, id));
    switch (name) {
      case 'event_id':
        out.event_id = readEventIds(r, rows, timestamps);
        break;
      case 'kind':
        out.kind = readKinds(r, rows);
        break;
      case 'correction_ref':
        out.correction_ref = readCorrections(r, rows);
        break;
      case 'ingested_at_ms':
        out.ingested_at_ms = lean ? readLeanStamps(r, rows) : readDeltaColumn(r, rows, name);
        break;
      case 'quantity': {
        const q = lean ? readLeanQuantities(r, rows) : readQuantities(r, rows);
        out.quantity = q.quantity;
        out.bigQuantities = q.big;
        break;
      }
      case 'dimensions':
        out.dimensions = lean ? readLeanDimensions(r, rows) : readDimensions(r, rows);
        break;
    }
    r.expectEnd(`raw segment column ${name}`);
  }
  return out;
}

function decodeTimestamps(c: Container, rows: number, starts: (() => Uint8Array) | undefined): Float64Array {
  const r = new ByteReader(columnBytes(c, rawColumnId('timestamp_ms')));
  const ts = starts === undefined ? readDeltaColumn(r, rows, 'timestamp_ms') : readLeanTimestamps(r, rows, starts);
  r.expectEnd('raw segment column timestamp_ms');
  return ts;
}

/** The exact quantity of `row` (needs the `quantity` column). */
export function rawQuantity(cols: RawColumns, row: number): bigint {
  const q = cols.quantity;
  if (q === undefined) throw new TypeError('the quantity column was not decoded');
  const v = q[row]!;
  return Number.isNaN(v) ? cols.bigQuantities!.get(row)! : BigInt(v);
}

/** The descriptive fields of `row` (ids, kind, dimensions); needs those columns decoded. */
export function rowFields(
  c: RawColumns,
  row: number,
): Pick<UsageEvent, 'kind' | 'account_id' | 'subscription_id' | 'product_id' | 'meter_id' | 'model_id' | 'source' | 'unit' | 'dimensions'> {
  return {
    kind: EVENT_KINDS[c.kind![row]!]!,
    account_id: c.account_id!.dict[c.account_id!.codes[row]!]!,
    subscription_id: c.subscription_id!.dict[c.subscription_id!.codes[row]!] ?? null,
    product_id: c.product_id!.dict[c.product_id!.codes[row]!]!,
    meter_id: c.meter_id!.dict[c.meter_id!.codes[row]!]!,
    model_id: c.model_id!.dict[c.model_id!.codes[row]!] ?? null,
    source: c.source!.dict[c.source!.codes[row]!]!,
    unit: c.unit!.dict[c.unit!.codes[row]!]!,
    dimensions: c.dimensions!.dict[c.dimensions!.codes[row]!]!,
  };
}

function need<T>(v: T | undefined, name: string): T {
  if (v === undefined) throw new TypeError(`rawColumnsToEvents needs the ${name} column`);
  return v;
}

/**
 * Every row as a UsageEvent, in segment order. Needs every column. Rows with the same
 * dimensions share one frozen dimensions object.
 */
export function rawColumnsToEvents(cols: RawColumns): UsageEvent[] {
  const n = cols.rows;
  const eventId = need(cols.event_id, 'event_id');
  const kind = need(cols.kind, 'kind');
  const refs = need(cols.correction_ref, 'correction_ref');
  const account = need(cols.account_id, 'account_id');
  const sub = need(cols.subscription_id, 'subscription_id');
  const product = need(cols.product_id, 'product_id');
  const meter = need(cols.meter_id, 'meter_id');
  const model = need(cols.model_id, 'model_id');
  const source = need(cols.source, 'source');
  const unit = need(cols.unit, 'unit');
  const ts = need(cols.timestamp_ms, 'timestamp_ms');
  const ing = need(cols.ingested_at_ms, 'ingested_at_ms');
  need(cols.quantity, 'quantity');
  const dims = need(cols.dimensions, 'dimensions');
  const out = new Array<UsageEvent>(n);
  for (let i = 0; i < n; i++) {
    out[i] = {
      event_id: eventId[i]!,
      kind: EVENT_KINDS[kind[i]!]!,
      correction_ref: refs.get(i) ?? null,
      account_id: account.dict[account.codes[i]!]!,
      subscription_id: sub.dict[sub.codes[i]!]!,
      product_id: product.dict[product.codes[i]!]!,
      meter_id: meter.dict[meter.codes[i]!]!,
      model_id: model.dict[model.codes[i]!]!,
      source: source.dict[source.codes[i]!]!,
      unit: unit.dict[unit.codes[i]!]!,
      timestamp_ms: ts[i]!,
      quantity: rawQuantity(cols, i),
      dimensions: dims.dict[dims.codes[i]!]!,
      ingested_at_ms: ing[i]!,
    };
  }
  return out;
}
