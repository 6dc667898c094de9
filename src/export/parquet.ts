/**
 * Parquet export with hyparquet-writer: rows are buffered up to `rowGroupRows` and written as
 * one row group, which is flushed to the sink before more rows are taken, so memory is bounded
 * by one row group plus one segment. Schema (README "export-parquet"): strings as STRING,
 * timestamps as TIMESTAMP(MILLIS, UTC), quantity as DECIMAL(38,0) in FIXED_LEN_BYTE_ARRAY(16)
 * (or a decimal STRING), dimensions as JSON. Runtime-neutral.
 */
import { ByteWriter } from 'hyparquet-writer/src/bytewriter.js';
import { ParquetWriter } from 'hyparquet-writer/src/parquet-writer.js';
import { EVENT_KINDS } from '../model/event.ts';
import { rawQuantity } from '../segment/raw.ts';
import type { ExportBatch } from './source.ts';

type WriterOptions = ConstructorParameters<typeof ParquetWriter>[0];
type SchemaElement = WriterOptions['schema'][number];
type ColumnSource = Parameters<ParquetWriter['write']>[0]['columnData'][number];

/** Receives the file's bytes in order; the writer waits for each chunk before encoding more. */
export type ByteSink = (chunk: Uint8Array) => Promise<void>;

/** `decimal`: DECIMAL(38,0) as FIXED_LEN_BYTE_ARRAY(16); `string`: a decimal STRING. */
export type QuantityEncoding = 'decimal' | 'string';

export interface ParquetExportOptions {
  readonly quantity?: QuantityEncoding;
  /** Rows per row group (default 100,000). */
  readonly rowGroupRows?: number;
  /** Extra key-value metadata stored in the file footer. */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** The largest magnitude DECIMAL(38,0) admits; a signed 128-bit quantity can be larger. */
export const DECIMAL38_MAX = 10n ** 38n - 1n;

export class QuantityOutOfRangeError extends RangeError {}

const STRING_COLUMNS = [
  ['event_id', false],
  ['kind', false],
  ['correction_original_event_id', true],
  ['correction_reason', true],
  ['account_id', false],
  ['subscription_id', true],
  ['product_id', false],
  ['meter_id', false],
  ['model_id', true],
  ['source', false],
  ['unit', false],
] as const;
type StringColumn = (typeof STRING_COLUMNS)[number][0];

/** The export's Parquet schema (root first), as hyparquet-writer takes it. */
export function exportSchema(quantity: QuantityEncoding = 'decimal'): SchemaElement[] {
  const str = (name: string, nullable: boolean): SchemaElement => ({
    name,
    type: 'BYTE_ARRAY',
    converted_type: 'UTF8',
    logical_type: { type: 'STRING' },
    repetition_type: nullable ? 'OPTIONAL' : 'REQUIRED',
  });
  const ts = (name: string): SchemaElement => ({
    name,
    type: 'INT64',
    converted_type: 'TIMESTAMP_MILLIS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
    repetition_type: 'REQUIRED',
  });
  const leaves: SchemaElement[] = [
    ...STRING_COLUMNS.map(([name, nullable]) => str(name, nullable)),
    ts('timestamp_ms'),
    ts('ingested_at_ms'),
    quantity === 'decimal'
      ? {
          name: 'quantity',
          type: 'FIXED_LEN_BYTE_ARRAY',
          type_length: 16,
          converted_type: 'DECIMAL',
          precision: 38,
          scale: 0,
          logical_type: { type: 'DECIMAL', precision: 38, scale: 0 },
          repetition_type: 'REQUIRED',
        }
      : str('quantity', false),
    { name: 'dimensions', type: 'BYTE_ARRAY', converted_type: 'JSON', logical_type: { type: 'JSON' }, repetition_type: 'REQUIRED' },
  ];
  return [{ name: 'schema', num_children: leaves.length }, ...leaves];
}

/** A hyparquet Writer that hands each flushed row group to an async sink and reuses its buffer. */
class SinkWriter extends ByteWriter {
  private readonly sink: ByteSink;
  constructor(sink: ByteSink) {
    super(1 << 20);
    this.sink = sink;
  }
  flush(): Promise<void> {
    const chunk = new Uint8Array(this.buffer, 0, this.index).slice();
    this.index = 0;
    return chunk.length === 0 ? Promise.resolve() : this.sink(chunk);
  }
  override finish(): Promise<void> {
    return this.flush();
  }
}

interface Buffered {
  strings: Record<StringColumn, (string | null)[]>;
  timestamp_ms: number[];
  ingested_at_ms: number[];
  quantity: (bigint | string)[];
  dimensions: Readonly<Record<string, string>>[];
}

function emptyBuffer(): Buffered {
  return {
    strings: Object.fromEntries(STRING_COLUMNS.map(([n]) => [n, []])) as unknown as Record<StringColumn, (string | null)[]>,
    timestamp_ms: [],
    ingested_at_ms: [],
    quantity: [],
    dimensions: [],
  };
}

export class ParquetExportWriter {
  readonly quantityEncoding: QuantityEncoding;
  private readonly writer: ParquetWriter;
  private readonly rowGroupRows: number;
  private buf: Buffered = emptyBuffer();
  private buffered = 0;
  private total = 0;
  private sum = 0n;

  constructor(sink: ByteSink, opts: ParquetExportOptions = {}) {
    this.quantityEncoding = opts.quantity ?? 'decimal';
    this.rowGroupRows = Math.max(1, opts.rowGroupRows ?? 100_000);
    this.writer = new ParquetWriter({
      writer: new SinkWriter(sink),
      schema: exportSchema(this.quantityEncoding),
      codec: 'SNAPPY',
      createdBy: 'usagedb export-parquet (hyparquet-writer)',
      kvMetadata: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
  }

  get rows(): number {
    return this.total;
  }

  /** Exact sum of every quantity added so far. */
  get quantitySum(): bigint {
    return this.sum;
  }

  /** Buffers a batch's rows; writes (and awaits) full row groups. */
  async add(b: ExportBatch): Promise<void> {
    const c = b.cols;
    const dict = (name: 'account_id' | 'subscription_id' | 'product_id' | 'meter_id' | 'model_id' | 'source' | 'unit', r: number) =>
      c[name]!.dict[c[name]!.codes[r]!]!;
    for (const r of b.rows) {
      const q = rawQuantity(c, r);
      if (this.quantityEncoding === 'decimal' && (q > DECIMAL38_MAX || q < -DECIMAL38_MAX)) {
        throw new QuantityOutOfRangeError(
          `event ${c.event_id![r]} in segment ${b.segment.id}: quantity ${q} has 39 digits, more than DECIMAL(38,0) holds; export with --quantity-as string`,
        );
      }
      const ref = c.correction_ref!.get(r);
      const s = this.buf.strings; // a fresh buffer after each flushed row group
      s.event_id.push(c.event_id![r]!);
      s.kind.push(EVENT_KINDS[c.kind![r]!]!);
      s.correction_original_event_id.push(ref?.original_event_id ?? null);
      s.correction_reason.push(ref?.reason ?? null);
      s.account_id.push(dict('account_id', r));
      s.subscription_id.push(dict('subscription_id', r));
      s.product_id.push(dict('product_id', r));
      s.meter_id.push(dict('meter_id', r));
      s.model_id.push(dict('model_id', r));
      s.source.push(dict('source', r));
      s.unit.push(dict('unit', r));
      this.buf.timestamp_ms.push(c.timestamp_ms![r]!);
      this.buf.ingested_at_ms.push(c.ingested_at_ms![r]!);
      this.buf.quantity.push(this.quantityEncoding === 'decimal' ? q : q.toString());
      this.buf.dimensions.push(c.dimensions!.dict[c.dimensions!.codes[r]!]!);
      this.sum += q;
      this.total++;
      if (++this.buffered >= this.rowGroupRows) await this.flushGroup();
    }
  }

  /** Writes the buffered rows, then the footer; the sink has every byte when this resolves. */
  async finish(): Promise<void> {
    await this.flushGroup();
    await this.writer.finish();
  }

  private async flushGroup(): Promise<void> {
    if (this.buffered === 0) return;
    const b = this.buf;
    const columnData: ColumnSource[] = [
      ...STRING_COLUMNS.map(([name]) => ({ name, data: b.strings[name] })),
      { name: 'timestamp_ms', data: b.timestamp_ms },
      { name: 'ingested_at_ms', data: b.ingested_at_ms },
      { name: 'quantity', data: b.quantity },
      { name: 'dimensions', data: b.dimensions },
    ];
    this.buf = emptyBuffer();
    this.buffered = 0;
    await this.writer.write({ columnData, rowGroupSize: this.rowGroupRows });
  }
}

/** Writes every batch to a Parquet file through `sink`. */
export async function writeParquet(
  batches: AsyncIterable<ExportBatch>,
  sink: ByteSink,
  opts: ParquetExportOptions = {},
): Promise<{ rows: number; quantity_sum: string; quantity_encoding: QuantityEncoding }> {
  const w = new ParquetExportWriter(sink, opts);
  for await (const b of batches) await w.add(b);
  await w.finish();
  return { rows: w.rows, quantity_sum: w.quantitySum.toString(), quantity_encoding: w.quantityEncoding };
}
