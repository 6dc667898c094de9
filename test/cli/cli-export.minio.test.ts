/**
 * export-parquet and export-ndjson against MinIO, read back with independent code: Parquet
 * with `hyparquet` (a reader, not our code nor the writer), NDJSON with JSON.parse. Every event
 * and the exact total quantity (beyond 2^64) must survive; filters select exactly the rows
 * queries would count.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, parquetReadObjects, type FileMetaData } from 'hyparquet';
import { beforeAll, describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../src/model/event.ts';
import { asJson, BIG_QUANTITIES, buildDb, cli, sumOf, type Built } from './cli-support.ts';

let b: Built;
const dir = mkdtempSync(join(tmpdir(), 'usagedb-cli-export-'));

beforeAll(async () => {
  b = await buildDb('cli-export');
}, 120_000);

/** 16-byte big-endian two's complement, as the Parquet spec stores DECIMAL in FIXED_LEN_BYTE_ARRAY. */
function int128(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const x of bytes) v = (v << 8n) | BigInt(x);
  return v >= 1n << 127n ? v - (1n << 128n) : v;
}

interface ReadBack {
  meta: FileMetaData;
  rows: Record<string, any>[];
}

/** Reads a file with hyparquet; the quantity column raw (hyparquet turns DECIMAL into a lossy float). */
async function readParquet(path: string): Promise<ReadBack> {
  const buf = readFileSync(path);
  const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const meta = parquetMetadata(file);
  const raw = {
    ...meta,
    schema: meta.schema.map((e) =>
      e.name === 'quantity' && e.type === 'FIXED_LEN_BYTE_ARRAY'
        ? { name: e.name, type: e.type, type_length: e.type_length, repetition_type: e.repetition_type }
        : e,
    ),
  };
  return { meta, rows: await parquetReadObjects({ file, metadata: raw }) };
}

/** A read-back row in the event's shape. */
function toEvent(r: Record<string, any>): UsageEvent {
  return {
    event_id: r.event_id,
    kind: r.kind,
    correction_ref: r.correction_original_event_id === null ? null : { original_event_id: r.correction_original_event_id, reason: r.correction_reason },
    account_id: r.account_id,
    subscription_id: r.subscription_id,
    product_id: r.product_id,
    meter_id: r.meter_id,
    model_id: r.model_id,
    source: r.source,
    unit: r.unit,
    timestamp_ms: (r.timestamp_ms as Date).getTime(),
    quantity: r.quantity instanceof Uint8Array ? int128(r.quantity) : BigInt(r.quantity),
    dimensions: r.dimensions,
    ingested_at_ms: (r.ingested_at_ms as Date).getTime(),
  };
}

const byId = (events: readonly UsageEvent[]) => [...events].sort((x, y) => (x.event_id < y.event_id ? -1 : 1));

describe('usagedb export-parquet', () => {
  it('writes every live event with the documented schema; hyparquet reads them back exactly', async () => {
    const file = join(dir, 'all.parquet');
    const r = await cli(b.prefix, 'export-parquet', file, '--row-group-rows', '64', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ file, format: 'parquet', quantity_encoding: 'decimal', rows: b.events.length, quantity_sum: sumOf(b.events).toString() });
    const { meta, rows } = await readParquet(file);
    expect(Number(meta.num_rows)).toBe(b.events.length);
    expect(meta.row_groups).toHaveLength(Math.ceil(b.events.length / 64));
    const el = (name: string) => meta.schema.find((e) => e.name === name)!;
    expect(el('quantity')).toMatchObject({
      type: 'FIXED_LEN_BYTE_ARRAY',
      type_length: 16,
      converted_type: 'DECIMAL',
      precision: 38,
      scale: 0,
      repetition_type: 'REQUIRED',
      logical_type: { type: 'DECIMAL', precision: 38, scale: 0 },
    });
    expect(el('timestamp_ms')).toMatchObject({
      type: 'INT64',
      repetition_type: 'REQUIRED',
      logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
    });
    expect(el('model_id')).toMatchObject({ type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL', logical_type: { type: 'STRING' } });
    expect(el('dimensions')).toMatchObject({ type: 'BYTE_ARRAY', repetition_type: 'REQUIRED', converted_type: 'JSON' });
    expect(meta.schema.slice(1).map((e) => e.name)).toEqual([
      'event_id',
      'kind',
      'correction_original_event_id',
      'correction_reason',
      'account_id',
      'subscription_id',
      'product_id',
      'meter_id',
      'model_id',
      'source',
      'unit',
      'timestamp_ms',
      'ingested_at_ms',
      'quantity',
      'dimensions',
    ]);
    const back = rows.map(toEvent);
    expect(byId(back)).toEqual(byId(b.events));
    expect(sumOf(back)).toBe(sumOf(b.events));
    for (const q of BIG_QUANTITIES)
      expect(
        back.some((e) => e.quantity === BigInt(q)),
        q,
      ).toBe(true);
    expect(back.find((e) => e.kind === 'Correction')!.correction_ref!.reason).toBe('over-counted "tokens"\n');
    expect(JSON.parse(meta.key_value_metadata!.find((k) => k.key === 'usagedb.export')!.value!)).toMatchObject({
      db_id: b.inst.db.info.db_id,
      account_id: null,
    });
    expect(readdirSync(dir).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('--account, --from and --to select exactly those events', async () => {
    const file = join(dir, 'acct3.parquet');
    const from = Date.UTC(2026, 0, 1, 12);
    const to = Date.UTC(2026, 0, 2, 6);
    const r = await cli(b.prefix, 'export-parquet', file, '--account', 'acct-3', '--from', '2026-01-01T12:00:00Z', '--to', '2026-01-02T06:00:00Z', '--json');
    expect(r.code, r.stderr).toBe(0);
    const want = b.events.filter((e) => e.account_id === 'acct-3' && e.timestamp_ms >= from && e.timestamp_ms < to);
    expect(want.length).toBeGreaterThan(5);
    expect(r.json).toMatchObject({
      rows: want.length,
      quantity_sum: sumOf(want).toString(),
      filter: { account_id: 'acct-3', from: '2026-01-01T12:00:00.000Z', to: '2026-01-02T06:00:00.000Z' },
    });
    expect(Object.keys(r.json.generations)).toEqual([String(b.inst.db.shardOf('acct-3').shard)]);
    expect(byId((await readParquet(file)).rows.map(toEvent))).toEqual(byId(want));
  });

  it('stops on a quantity DECIMAL(38,0) cannot hold, leaving no file; --quantity-as string exports it exactly', async () => {
    const i128max = ((1n << 127n) - 1n).toString();
    const big = await buildDb('cli-export-i128', {
      events: 20,
      batches: 2,
      extra: [
        {
          event_id: 'huge',
          account_id: 'acct-9',
          product_id: 'p',
          meter_id: 'm',
          source: 's',
          unit: 'u',
          timestamp_ms: Date.UTC(2026, 0, 3),
          quantity: i128max,
        },
      ],
    });
    const file = join(dir, 'i128.parquet');
    const r = await cli(big.prefix, 'export-parquet', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`event huge in segment`);
    expect(r.stderr).toContain('--quantity-as string');
    expect(readdirSync(dir).filter((f) => f.startsWith('i128'))).toEqual([]);

    const s = await cli(big.prefix, 'export-parquet', file, '--quantity-as', 'string', '--json');
    expect(s.code, s.stderr).toBe(0);
    const { meta, rows } = await readParquet(file);
    expect(meta.schema.find((e) => e.name === 'quantity')).toMatchObject({ type: 'BYTE_ARRAY', logical_type: { type: 'STRING' } });
    const back = rows.map(toEvent);
    expect(byId(back)).toEqual(byId(big.events));
    expect(back.find((e) => e.event_id === 'huge')!.quantity.toString()).toBe(i128max);
    expect(s.json.quantity_sum).toBe(sumOf(big.events).toString());
  });
});

describe('usagedb export-ndjson', () => {
  it('writes the same events to a file and to stdout, one API-shaped event per line', async () => {
    const file = join(dir, 'all.ndjson');
    const r = await cli(b.prefix, 'export-ndjson', file, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ format: 'ndjson', rows: b.events.length, quantity_sum: sumOf(b.events).toString() });
    const lines = readFileSync(file, 'utf8').split('\n');
    expect(lines.pop()).toBe('');
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const sort = (xs: Record<string, unknown>[]) => [...xs].sort((x, y) => (String(x.event_id) < String(y.event_id) ? -1 : 1));
    expect(sort(parsed)).toEqual(sort(b.events.map(asJson)));
    expect(parsed.reduce((s, e) => s + BigInt(e.quantity as string), 0n)).toBe(sumOf(b.events));

    const out = await cli(b.prefix, 'export-ndjson', '-', '--account', 'acct-1');
    expect(out.code, out.stderr).toBe(0);
    const want = b.events.filter((e) => e.account_id === 'acct-1');
    expect(
      sort(
        out.stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l)),
      ),
    ).toEqual(sort(want.map(asJson)));
    expect(out.stderr).toBe(
      `exported ${want.length} event(s), quantity sum ${sumOf(want)}, from ${out.stderr.match(/from (\d+) segment/)![1]} segment(s) to stdout (${Buffer.byteLength(out.stdout)} bytes)\n`,
    );
  });

  it('re-ingests: every exported line is a valid event the API classifies as a duplicate', async () => {
    const out = await cli(b.prefix, 'export-ndjson', '-', '--account', 'acct-2');
    const events = out.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const { postBatch } = await import('../support/instance.ts');
    const res = await postBatch(b.inst.app, events);
    expect(res.body).toMatchObject({ accepted: 0, duplicates: events.length, conflicts: 0, rejected: 0 });
  });
});
