/**
 * `npm run bench:query`: 1,000,000 events over 10,000 accounts and 3 months in MinIO, ingested
 * in timestamp order as live traffic arrives; then monthly account totals (cold and warm cache),
 * the same grouped by product/meter/model, a raw audit page, top-100 accounts for a month, and
 * raw scan rate. Queries go through the Hono app in-process. Writes test/bench/results/query.json.
 * BENCH_EVENTS overrides the event count.
 */
import { S3Store } from '../../src/store/s3.ts';
import { openInstance, type Instance } from '../support/instance.ts';
import { writeResult } from './results.ts';
import { startTestS3 } from '../support/minio.ts';
import { Workload } from './workload.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const START = Date.UTC(2026, 7, 1);
const SPAN = 92 * 86_400_000;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (s: number[], p: number) => [...s].sort((a, b) => a - b)[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
const iso = (ms: number) => new Date(ms).toISOString();

async function timed(inst: Instance, path: string, init?: RequestInit): Promise<{ ms: number; body: any }> {
  const t0 = performance.now();
  const res = await inst.app.request(path, init);
  const body = await res.json();
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(body)}`);
  return { ms, body };
}

async function main(): Promise<void> {
  const running = await startTestS3('usagedb-bench');
  console.log(`S3 endpoint: ${running.s3.via}`);
  const store = new S3Store({ ...running.s3, forcePathStyle: true });
  const prefix = `bench/query-${Date.now().toString(36)}`;
  const open = (seed: number) => openInstance(store, prefix, { seed, shards: 16, buckets: 64 });
  try {
    const writer = await open(1);
    const wl = new Workload({ accounts: 10_000, seed: 11, startMs: START, spanMs: SPAN });
    const events = wl.events(EVENTS).sort((a, b) => (a.timestamp_ms as number) - (b.timestamp_ms as number));
    const t0 = performance.now();
    const chunk = 10_000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < events.length) {
          const at = next;
          next += chunk;
          const r = await writer.ingestor.ingest(events.slice(at, at + chunk));
          if (r.accepted !== Math.min(chunk, events.length - at)) throw new Error(`accepted ${r.accepted}`);
        }
      }),
    );
    const ingestSeconds = (performance.now() - t0) / 1000;
    const segments = writer.db.shards.reduce((s, sh) => s + (sh.peek()?.manifest.segments.length ?? 0), 0);
    console.log(`ingested ${EVENTS} events in ${round(ingestSeconds)} s (${Math.round(EVENTS / ingestSeconds)} events/s); ${segments} segments`);

    // Accounts from heavy to tail (Zipf ranks), and the middle month.
    const accounts = [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 9000].map((i) => `acct_${String(i).padStart(6, '0')}`);
    const from = iso(Date.UTC(2026, 8, 1));
    const to = iso(Date.UTC(2026, 9, 1));
    const total = (a: string) => `/v1/accounts/${a}/usage?from=${from}&to=${to}`;
    const grouped = (a: string) => `${total(a)}&group_by=product_id,meter_id,model_id`;

    const cold: number[] = [];
    const coldGrouped: number[] = [];
    for (const a of accounts) {
      cold.push((await timed(await open(100 + cold.length), total(a))).ms);
      coldGrouped.push((await timed(await open(200 + coldGrouped.length), grouped(a))).ms);
    }
    const warmInst = await open(2);
    for (const a of accounts) await timed(warmInst, grouped(a)); // fill the cache
    const warm: number[] = [];
    const warmGrouped: number[] = [];
    for (let rep = 0; rep < 5; rep++) {
      for (const a of accounts) {
        warm.push((await timed(warmInst, total(a))).ms);
        warmGrouped.push((await timed(warmInst, grouped(a))).ms);
      }
    }
    const audit: number[] = [];
    for (const a of accounts.slice(0, 8)) audit.push((await timed(warmInst, `/v1/accounts/${a}/usage/events?from=${from}&to=${to}&limit=100`)).ms);

    const topBody = { from, to, group_by: ['account_id'], metrics: ['sum', 'count'], order_by: [{ key: 'sum', direction: 'desc' }], limit: 100 };
    const topInit = () => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(topBody) });
    const topCold = (await timed(await open(300), '/v1/query/json', topInit())).ms;
    const topWarm: number[] = [];
    for (let i = 0; i < 5; i++) topWarm.push((await timed(warmInst, '/v1/query/json', topInit())).ms);

    // Raw scan rate: a warm whole-range cross-account aggregate over every row.
    const scanSpec = {
      accountId: undefined,
      from: START,
      to: START + SPAN,
      groupBy: [],
      filters: [],
      metrics: ['sum', 'count'] as const,
      source: 'raw' as const,
      orderBy: [],
      limit: undefined,
    };
    await warmInst.engine.aggregate({ ...scanSpec, metrics: ['sum', 'count'] });
    const ts = performance.now();
    const scan = await warmInst.engine.aggregate({ ...scanSpec, metrics: ['sum', 'count'] });
    const scanMs = performance.now() - ts;
    const rowsPerS = Math.round(scan.rowsScanned / (scanMs / 1000));

    const result = writeResult('query', running.s3.via, {
      data: {
        events: EVENTS,
        accounts: 10_000,
        days: 92,
        shards: 16,
        segments,
        ingest_seconds: round(ingestSeconds),
        ingest_events_per_s: Math.round(EVENTS / ingestSeconds),
      },
      monthly_total_ms: { cold_p50: round(pct(cold, 50)), cold_p95: round(pct(cold, 95)), warm_p50: round(pct(warm, 50)), warm_p95: round(pct(warm, 95)) },
      monthly_grouped_ms: {
        cold_p50: round(pct(coldGrouped, 50)),
        cold_p95: round(pct(coldGrouped, 95)),
        warm_p50: round(pct(warmGrouped, 50)),
        warm_p95: round(pct(warmGrouped, 95)),
      },
      audit_page_ms: { warm_p50: round(pct(audit, 50)), warm_p95: round(pct(audit, 95)) },
      top100_accounts_month_ms: { cold: round(topCold), warm_p50: round(pct(topWarm, 50)) },
      raw_scan: { rows: scan.rowsScanned, ms: round(scanMs), rows_per_s: rowsPerS },
      cache: warmInst.engine.cache.stats(),
      note: 'cold = a new instance (manifest and segment caches empty); warm = repeated on one instance; in-process Hono app.request',
    });
    console.log(JSON.stringify(result, null, 2));
  } finally {
    store.destroy();
    await running.stop();
  }
}

await main();
