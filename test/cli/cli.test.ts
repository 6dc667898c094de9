/**
 * Unit tests of the CLI without an S3 endpoint: argument and configuration errors and their
 * exit codes, a whole command on the memory store, the Parquet writer's streaming and its
 * DECIMAL(38,0) bound (read back with hyparquet), the export row filter, progress output.
 */
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/cli.ts';
import { Progress } from '../../src/cli/progress.ts';
import { DECIMAL38_MAX, exportSchema, ParquetExportWriter, QuantityOutOfRangeError } from '../../src/export/parquet.ts';
import { writeNdjson } from '../../src/export/ndjson.ts';
import { matchingRows, planExport, readExport, type ExportBatch } from '../../src/export/source.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { rollupOverlaps } from '../../src/manifest/edits.ts';
import { decodeRawSegment, encodeRawSegment } from '../../src/segment/raw.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { openInstance, postBatch, usage } from '../support/instance.ts';
import { Capture } from './cli-support.ts';

async function run(argv: string[], opts: { env?: Record<string, string>; store?: MemoryStore } = {}) {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await runCli(argv, { stdout, stderr, env: opts.env ?? {}, ...(opts.store === undefined ? {} : { store: opts.store }) });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

function event(i: number, quantity: bigint, account = 'acct-a'): UsageEvent {
  return {
    event_id: `e${i}`,
    kind: 'Usage',
    correction_ref: null,
    account_id: account,
    subscription_id: null,
    product_id: 'p',
    meter_id: 'm',
    model_id: i % 2 === 0 ? null : 'model',
    source: 's',
    unit: 'u',
    timestamp_ms: 1_767_225_600_000 + i,
    quantity,
    dimensions: { k: `v${i % 3}` },
    ingested_at_ms: 1_767_225_700_000,
  };
}

function batch(events: UsageEvent[]): ExportBatch {
  const enc = encodeRawSegment(events, () => 0);
  const cols = decodeRawSegment(enc.bytes);
  return { shard: 0, segment: { id: `seg-${events[0]!.event_id}` } as ExportBatch['segment'], cols, rows: matchingRows(cols, {}) };
}

describe('usagedb command line', () => {
  it('usage: no command exits 2, --help exits 0, unknown commands and flags exit 2', async () => {
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('usage: usagedb <command> [flags]');
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('export-parquet');
    expect((await run(['frobnicate'])).stderr).toContain('unknown command "frobnicate"');
    expect((await run(['check', '--nope'])).code).toBe(2);
    const cmdHelp = await run(['verify-period', '--help']);
    expect(cmdHelp.code).toBe(0);
    expect(cmdHelp.stdout).toContain('usagedb verify-period --account ID --from TIME --to TIME');
    expect((await run(['inspect-segment', 'a', 'b'])).stderr).toContain('unexpected argument "b"');
    expect((await run(['inspect-segment', 'a', '--rows', '-1'])).code).toBe(2);
    expect((await run(['verify-period', '--account', 'a', '--from', 'yesterday', '--to', '2026-01-01'])).stderr).toContain(
      '--from: "yesterday" is not an RFC 3339 timestamp',
    );
    expect((await run(['export-parquet', '-'])).code).toBe(2);
    expect((await run(['manifest', 'show', 'x', '--shard', '0'])).code).toBe(2);
  });

  it('configuration and store errors exit 3 and name the flag or variable', async () => {
    const bad = await run(['check', '--store', 'ftp']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('USAGEDB_STORE');
    expect(bad.stderr).toContain('--store');
    const s3 = await run(['check', '--store', 's3']);
    expect(s3.code).toBe(3);
    expect(s3.stderr).toContain('USAGEDB_S3_BUCKET: required when USAGEDB_STORE=s3');
    const empty = await run(['check'], { store: new MemoryStore() });
    expect(empty.code).toBe(3);
    expect(empty.stderr).toContain('no usageDb database at memory prefix "usagedb"');
  });

  it('runs a command on an injected store: check --deep and export-ndjson to stdout', async () => {
    const store = new MemoryStore();
    const inst = await openInstance(store, 'db1', { shards: 2, buckets: 4 });
    expect((await postBatch(inst.app, [usage(1), usage(2, { quantity: '-170141183460469231731687303715884105728' })])).body.accepted).toBe(2);
    const env = { USAGEDB_PREFIX: 'db1' };
    const check = await run(['check', '--deep', '--json'], { env, store });
    expect(check.code, check.stderr).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, objects_checked: 4, shard_count: 2 });
    const out = await run(['export-ndjson', '-'], { env, store });
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event_id: string; quantity: string });
    expect(lines.map((l) => [l.event_id, l.quantity]).sort()).toEqual([
      ['evt-1', '101'],
      ['evt-2', '-170141183460469231731687303715884105728'],
    ]);
  });
});

describe('Parquet export writer', () => {
  it('flushes each full row group to the sink before taking more rows; hyparquet reads every row back', async () => {
    const chunks: Uint8Array[] = [];
    const w = new ParquetExportWriter(async (c) => void chunks.push(c), { rowGroupRows: 4 });
    const events = Array.from({ length: 11 }, (_, i) => event(i, (1n << 100n) * BigInt(i % 2 === 0 ? 1 : -1) + BigInt(i)));
    await w.add(batch(events.slice(0, 3)));
    expect(chunks).toHaveLength(0);
    await w.add(batch(events.slice(3, 9)));
    expect(chunks).toHaveLength(2); // rows 0-3 and 4-7 written; 8 buffered
    await w.add(batch(events.slice(9)));
    await w.finish();
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      bytes.set(c, at);
      at += c.length;
    }
    const meta = parquetMetadata(bytes.buffer);
    expect(meta.row_groups.map((g) => Number(g.num_rows))).toEqual([4, 4, 3]);
    const rows = await parquetReadObjects({ file: bytes.buffer, columns: ['event_id', 'model_id', 'dimensions', 'timestamp_ms'] });
    // Rows come in segment order (account, product, meter, model, timestamp): compare as sets.
    const sorted = (xs: unknown[][]) => xs.sort((a, b) => String(a[0]).localeCompare(String(b[0])));
    expect(sorted(rows.map((r) => [r.event_id, r.model_id, r.dimensions, (r.timestamp_ms as Date).getTime()]))).toEqual(
      sorted(events.map((e) => [e.event_id, e.model_id, e.dimensions, e.timestamp_ms])),
    );
    expect(w.quantitySum).toBe(events.reduce((s, e) => s + e.quantity, 0n));
  });

  it('admits exactly the DECIMAL(38,0) range; a decimal STRING column holds any 128-bit quantity', async () => {
    const ok = new ParquetExportWriter(async () => undefined);
    await ok.add(batch([event(1, DECIMAL38_MAX), event(2, -DECIMAL38_MAX)]));
    const over = new ParquetExportWriter(async () => undefined);
    await expect(over.add(batch([event(3, DECIMAL38_MAX + 1n)]))).rejects.toBeInstanceOf(QuantityOutOfRangeError);
    const asString = new ParquetExportWriter(async () => undefined, { quantity: 'string' });
    await asString.add(batch([event(4, (1n << 127n) - 1n)]));
    expect(asString.quantitySum).toBe((1n << 127n) - 1n);
    expect(exportSchema('string').find((e) => e.name === 'quantity')).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' });
    expect(exportSchema()[0]).toEqual({ name: 'schema', num_children: 15 });
  });
});

describe('export and rebuild helpers', () => {
  it('an export reads each planned live segment exactly once, and only those', async () => {
    const store = new MemoryStore();
    const inst = await openInstance(store, 'db2', { shards: 2, buckets: 4 });
    for (let k = 0; k < 4; k++)
      await postBatch(
        inst.app,
        Array.from({ length: 10 }, (_, i) => usage(k * 10 + i)),
      );
    const gets: string[] = [];
    const counting: ObjectStore = {
      kind: 'memory',
      get: (key, o) => {
        gets.push(key);
        return store.get(key, o);
      },
      put: store.put.bind(store),
      head: store.head.bind(store),
      delete: store.delete.bind(store),
      list: store.list.bind(store),
    };
    const all = await planExport(inst.db, {});
    const lines: string[] = [];
    const res = await writeNdjson(readExport(counting, all), async (t) => void lines.push(t));
    expect(res.rows).toBe(40);
    expect(gets.sort()).toEqual(all.segments.map((s) => s.entry.key).sort());
    gets.length = 0;
    const one = await planExport(inst.db, { accountId: 'acct-3' });
    expect(Object.keys(one.generations)).toEqual([String(inst.db.shardOf('acct-3').shard)]);
    const r = await writeNdjson(readExport(counting, one), async () => undefined);
    expect(r.rows).toBe(Array.from({ length: 40 }, (_, i) => i).filter((i) => i % 7 === 3).length);
    expect(gets.sort()).toEqual(one.segments.map((s) => s.entry.key).sort());
    expect(new Set(gets).size).toBe(gets.length);
  });

  it('matchingRows keeps the account and [from, to) only', () => {
    const b = batch([event(0, 1n, 'a'), event(1, 1n, 'b'), event(2, 1n, 'a'), event(3, 1n, 'a')]);
    const ids = (rows: Uint32Array) => [...rows].map((r) => b.cols.event_id![r]);
    expect(ids(matchingRows(b.cols, { accountId: 'a', from: 1_767_225_600_001, to: 1_767_225_600_003 }))).toEqual(['e2']);
    expect(ids(matchingRows(b.cols, { accountId: 'zzz' }))).toEqual([]);
    expect(ids(matchingRows(b.cols, { to: 1_767_225_600_002 })).sort()).toEqual(['e0', 'e1']);
  });

  it('rollupOverlaps treats a rollup as covering [min_hour, max_hour + 1h)', () => {
    const H = 3_600_000;
    const r = { min_hour_ms: 10 * H, max_hour_ms: 12 * H };
    expect(rollupOverlaps(r, 13 * H - 1, 20 * H)).toBe(true);
    expect(rollupOverlaps(r, 13 * H, 20 * H)).toBe(false);
    expect(rollupOverlaps(r, 0, 10 * H)).toBe(false);
    expect(rollupOverlaps(r, 0, 10 * H + 1)).toBe(true);
  });

  it('progress bars draw only on a terminal', () => {
    const tty = Object.assign(new Capture(), { isTTY: true });
    const pipe = new Capture();
    for (const [out, on] of [
      [tty, true],
      [pipe, false],
    ] as const) {
      const p = new Progress(out, 'x', 2, on);
      p.tick();
      p.tick();
      p.end();
    }
    expect(tty.text).toContain('] 2/2');
    expect(pipe.text).toBe('');
  });
});
