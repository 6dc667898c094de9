/**
 * NDJSON export: one JSON object per event per line, in the API's event shape (quantity as a
 * decimal string, dimensions as an object with sorted keys), written batch by batch to a sink.
 * Every line is also a valid `POST /v1/usage/batch` event. Runtime-neutral.
 */
import { EVENT_KINDS } from '../model/event.ts';
import { rawQuantity } from '../segment/raw.ts';
import type { ExportBatch } from './source.ts';

/** Receives encoded output in order; the next chunk is produced only after it resolves. */
export type TextSink = (chunk: string) => Promise<void>;

export interface NdjsonResult {
  readonly rows: number;
  readonly segments: number;
  /** Exact sum of every exported quantity (a decimal string). */
  readonly quantity_sum: string;
}

const str = (v: string | null | undefined): string => (v === null || v === undefined ? 'null' : JSON.stringify(v));

/** The lines of one batch (each ending in `\n`), and the batch's quantity sum. */
export function ndjsonLines(b: ExportBatch): { text: string; sum: bigint } {
  const c = b.cols;
  const ids = c.event_id!;
  const kind = c.kind!;
  const refs = c.correction_ref!;
  const col = (name: 'account_id' | 'subscription_id' | 'product_id' | 'meter_id' | 'model_id' | 'source' | 'unit') => {
    const d = c[name]!;
    return (r: number) => d.dict[d.codes[r]!];
  };
  const account = col('account_id');
  const sub = col('subscription_id');
  const product = col('product_id');
  const meter = col('meter_id');
  const model = col('model_id');
  const source = col('source');
  const unit = col('unit');
  const ts = c.timestamp_ms!;
  const ing = c.ingested_at_ms!;
  const dims = c.dimensions!;
  const parts: string[] = [];
  let sum = 0n;
  for (const r of b.rows) {
    const q = rawQuantity(c, r);
    sum += q;
    const ref = refs.get(r);
    parts.push(
      `{"event_id":${str(ids[r])},"kind":"${EVENT_KINDS[kind[r]!]}","correction_ref":${
        ref === undefined ? 'null' : `{"original_event_id":${str(ref.original_event_id)},"reason":${str(ref.reason)}}`
      },"account_id":${str(account(r))},"subscription_id":${str(sub(r))},"product_id":${str(product(r))},"meter_id":${str(meter(r))},"model_id":${str(model(r))},"source":${str(source(r))},"unit":${str(unit(r))},"timestamp_ms":${ts[r]},"quantity":"${q}","dimensions":${dims.keys[dims.codes[r]!]},"ingested_at_ms":${ing[r]}}\n`,
    );
  }
  return { text: parts.join(''), sum };
}

/** Writes every batch as NDJSON to `sink`; one sink call per segment. */
export async function writeNdjson(batches: AsyncIterable<ExportBatch>, sink: TextSink): Promise<NdjsonResult> {
  let rows = 0;
  let segments = 0;
  let sum = 0n;
  for await (const b of batches) {
    const { text, sum: s } = ndjsonLines(b);
    await sink(text);
    rows += b.rows.length;
    segments++;
    sum += s;
  }
  return { rows, segments, quantity_sum: sum.toString() };
}
