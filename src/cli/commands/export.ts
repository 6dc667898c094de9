/**
 * `usagedb export-parquet <file>` and `usagedb export-ndjson <file|->`: the raw events the live
 * manifests list (what queries count), optionally one account and a [from, to) range, streamed
 * segment by segment. A file is written as `<file>.partial` and renamed when complete.
 */
import { open, rename, rm } from 'node:fs/promises';
import { QuantityOutOfRangeError, writeParquet, type QuantityEncoding } from '../../export/parquet.ts';
import { writeNdjson } from '../../export/ndjson.ts';
import { planExport, readExport, type ExportFilter } from '../../export/source.ts';
import { noMorePositionals, rangeFlags, stringFlag, intFlag, type Command, type Parsed } from '../args.ts';
import { CliUsageError, EXIT, iso, jsonReplacer, type CliStream, type Context } from '../context.ts';

const FILTER_HELP = `  --account ID         only this account (reads one shard)
  --from TIME          only events with timestamp_ms >= TIME (RFC 3339 or YYYY-MM-DD)
  --to TIME            only events with timestamp_ms < TIME`;

const filterOptions = { account: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } } as const;

function filterOf(args: Parsed): ExportFilter {
  const { from, to } = rangeFlags(args.values, false);
  return { accountId: stringFlag(args.values, 'account'), from, to };
}

/** Writes to `<path>.partial`, renamed to `path` by `commit`; `abort` removes it. */
async function fileSink(path: string) {
  const tmp = `${path}.partial`;
  const fh = await open(tmp, 'w');
  let bytes = 0;
  return {
    write: async (chunk: Uint8Array | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
      bytes += buf.length;
      await fh.write(buf);
    },
    bytes: () => bytes,
    commit: async () => {
      await fh.close();
      await rename(tmp, path);
    },
    abort: async () => {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
    },
  };
}

/** A sink on a stream (stdout) that waits for 'drain' when the stream asks it to. */
function streamSink(out: CliStream) {
  let bytes = 0;
  return {
    write: async (chunk: Uint8Array | string) => {
      bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
      if (out.write(chunk) === false && out.once !== undefined) await new Promise<void>((r) => out.once!('drain', r));
    },
    bytes: () => bytes,
    commit: async () => undefined,
    abort: async () => undefined,
  };
}

async function runExport(ctx: Context, args: Parsed, format: 'parquet' | 'ndjson'): Promise<number> {
  const target = args.positionals[0];
  if (target === undefined) throw new CliUsageError(`export-${format} needs an output file${format === 'ndjson' ? " (or '-' for stdout)" : ''}`);
  noMorePositionals(args, 1);
  if (format === 'parquet' && target === '-') throw new CliUsageError('export-parquet writes a file, not stdout');
  const filter = filterOf(args);
  const quantityAs = stringFlag(args.values, 'quantity-as') ?? 'decimal';
  if (quantityAs !== 'decimal' && quantityAs !== 'string') throw new CliUsageError('--quantity-as: decimal or string');
  const rowGroupRows = intFlag(args.values, 'row-group-rows', 100_000, 1, 10_000_000);
  const db = await ctx.open({ probe: false });
  const plan = await planExport(db, filter);
  const bar = ctx.progress(`export-${format}`, plan.segments.length);
  const batches = readExport(db.store, plan, (n) => bar.set(n));
  const sink = target === '-' ? streamSink(ctx.io.stdout) : await fileSink(target);
  let result: { rows: number; quantity_sum: string; quantity_encoding?: QuantityEncoding };
  try {
    result =
      format === 'ndjson'
        ? await writeNdjson(batches, sink.write)
        : await writeParquet(batches, sink.write, {
            quantity: quantityAs,
            rowGroupRows,
            metadata: {
              'usagedb.export': JSON.stringify({
                db_id: db.info.db_id,
                generations: plan.generations,
                account_id: filter.accountId ?? null,
                from: filter.from ?? null,
                to: filter.to ?? null,
              }),
            },
          });
    await sink.commit();
  } catch (err) {
    await sink.abort();
    throw err;
  } finally {
    bar.end();
  }
  const summary = {
    file: target,
    format,
    ...(format === 'parquet' ? { quantity_encoding: result.quantity_encoding } : {}),
    rows: result.rows,
    quantity_sum: result.quantity_sum,
    segments_read: plan.segments.length,
    bytes: sink.bytes(),
    generations: plan.generations,
    filter: {
      account_id: filter.accountId ?? null,
      from: filter.from === undefined ? null : iso(filter.from),
      to: filter.to === undefined ? null : iso(filter.to),
    },
  };
  const human = `exported ${summary.rows} event(s), quantity sum ${summary.quantity_sum}, from ${summary.segments_read} segment(s) to ${target === '-' ? 'stdout' : target} (${summary.bytes} bytes)`;
  if (target === '-') ctx.note(ctx.json ? JSON.stringify(summary, jsonReplacer) : human);
  else ctx.emit(summary, () => human);
  return EXIT.ok;
}

export const exportParquetCommand: Command = {
  name: 'export-parquet',
  summary: 'raw events to a Parquet file (streamed, exact decimal quantities)',
  help: `usagedb export-parquet <file> [--account ID] [--from TIME] [--to TIME] [--quantity-as decimal|string] [--row-group-rows N]

  Schema (README "export-parquet"): event_id, kind, correction_original_event_id?, correction_reason?,
  account_id, subscription_id?, product_id, meter_id, model_id?, source, unit (STRING; ? = nullable),
  timestamp_ms, ingested_at_ms (INT64 TIMESTAMP(MILLIS, UTC)), quantity (DECIMAL(38,0) in
  FIXED_LEN_BYTE_ARRAY(16); with --quantity-as string a decimal STRING), dimensions (JSON).
  A quantity with 39 digits does not fit DECIMAL(38,0): the export stops and names it; use
  --quantity-as string for such data.
${FILTER_HELP}
  --row-group-rows N   rows per row group (default 100000; bounds memory)`,
  options: { ...filterOptions, 'quantity-as': { type: 'string' }, 'row-group-rows': { type: 'string' } },
  run: (ctx, args) => runExport(ctx, args, 'parquet'),
};

export const exportNdjsonCommand: Command = {
  name: 'export-ndjson',
  summary: "raw events as NDJSON to a file or '-' (stdout)",
  help: `usagedb export-ndjson <file|-> [--account ID] [--from TIME] [--to TIME]

  One event per line in the API's shape (quantity a decimal string, dimensions an object);
  every line is a valid event for POST /v1/usage/batch. With '-' the summary goes to stderr.
${FILTER_HELP}`,
  options: { ...filterOptions },
  run: (ctx, args) => runExport(ctx, args, 'ndjson'),
};

export { QuantityOutOfRangeError };
