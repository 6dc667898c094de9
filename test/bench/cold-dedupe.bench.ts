/**
 * `node test/bench/cold-dedupe.bench.ts [events]`: a fresh process's first ingest into a database
 * whose dedupe window holds many compacted events (issue 15, items 3-4). Builds the database
 * (EVENTS, default 1,000,000, over 10,000 accounts, timestamps spread over 30 days, all ingested
 * now), compacts every shard, then starts a new Node process that opens the database and times
 * one 1,000-event request (500 retries of stored events, 500 new, many accounts), reporting its
 * latency, RSS after it, dedupe memory (exact index + filters) per event in the window, and
 * stored hash + filter bytes per event. Runs on the directory store and on MinIO. Results to
 * test/bench/results/cold-dedupe.json. Child modes: `build <store> <location> <events>`,
 * `probe <store> <location> <events>`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runJob } from '../../src/jobs/run.ts';
import { DAY_MS } from '../../src/model/time.ts';
import { FsStore } from '../../src/store/fs.ts';
import { S3Store } from '../../src/store/s3.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { startTestS3 } from '../support/minio.ts';
import { openInstance, type Instance } from '../support/instance.ts';
import { writeResult } from './results.ts';

const ACCOUNTS = 10_000;
const SHARDS = 16;
const BUCKETS = 64;

/** Timestamps from a base every process of one run agrees on (a retry must be the same payload). */
const BASE = Math.floor(Date.now() / DAY_MS) * DAY_MS - 30 * DAY_MS;

function event(i: number, now: number, tag = 'e'): Record<string, unknown> {
  return {
    event_id: `${tag}-${i}`,
    account_id: `acct-${i % ACCOUNTS}`,
    product_id: 'chat',
    meter_id: i % 2 === 0 ? 'tokens.input' : 'tokens.output',
    model_id: 'model-a',
    source: 'api',
    unit: 'tokens',
    timestamp_ms: tag === 'e' ? BASE + ((i * 7919) % (30 * 86_400)) * 1000 : now - 1000,
    quantity: 100 + (i % 1000),
    dimensions: { region: 'eu' },
  };
}

async function storeOf(kind: string, location: string): Promise<ObjectStore> {
  if (kind === 'fs') return new FsStore({ root: location });
  const running = await startTestS3('usagedb-bench');
  return new S3Store({ ...running.s3, forcePathStyle: true });
}

const prefixOf = (kind: string, location: string) => (kind === 'fs' ? 'cold' : location);

async function build(kind: string, location: string, n: number): Promise<void> {
  const store = await storeOf(kind, location);
  const inst = await openInstance(store, prefixOf(kind, location), { shards: SHARDS, buckets: BUCKETS });
  const now = Date.now();
  const t0 = performance.now();
  const batch = 10_000;
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < n) {
        const from = next;
        next += batch;
        const events = Array.from({ length: Math.min(batch, n - from) }, (_, j) => event(from + j, now));
        const r = await inst.ingestor.ingest(events);
        if (r.accepted !== events.length) throw new Error(`accepted ${r.accepted} of ${events.length}`);
      }
    }),
  );
  const t1 = performance.now();
  for (let i = 0; i < 40; i++) {
    const rep = (await runJob(inst.db, 'compact', { compact: { graceMs: 0 } })) as unknown as { shards?: { committed?: boolean }[] };
    if (!JSON.stringify(rep).includes('"committed":true')) break;
  }
  console.log(`built ${n} events in ${Math.round(t1 - t0)} ms, compacted in ${Math.round(performance.now() - t1)} ms`);
}

interface WriterInternals {
  readonly d: { readonly index: { readonly bytes: number; readonly size: number } };
  readonly cold?: { readonly bytes: number };
}

/** Counts GETs (ranged or not) the probe's first ingest makes. */
function countingGets(store: ObjectStore): { store: ObjectStore; gets: () => number } {
  let n = 0;
  const counted: ObjectStore = {
    kind: store.kind,
    get: (key, opts) => {
      n++;
      return store.get(key, opts);
    },
    put: (key, body, opts) => store.put(key, body, opts),
    head: (key) => store.head(key),
    delete: (key) => store.delete(key),
    list: (prefix, opts) => store.list(prefix, opts),
  };
  return { store: counted, gets: () => n };
}

async function probe(kind: string, location: string, n: number): Promise<void> {
  const counting = countingGets(await storeOf(kind, location));
  const store = counting.store;
  const inst: Instance = await openInstance(store, prefixOf(kind, location), { shards: SHARDS, buckets: BUCKETS, seed: 99 });
  const now = Date.now();
  const events = [
    ...Array.from({ length: 500 }, (_, j) => event(Math.floor((j * n) / 500) + 3, now)),
    ...Array.from({ length: 500 }, (_, j) => event(j, now, `new-${now}`)),
  ];
  const rssBefore = process.memoryUsage().rss;
  const getsBefore = counting.gets();
  const t0 = performance.now();
  const r = await inst.ingestor.ingest(events);
  const ms = performance.now() - t0;
  const firstGets = counting.gets() - getsBefore;
  const rss = process.memoryUsage().rss;
  const t1 = performance.now();
  await inst.ingestor.ingest(Array.from({ length: 1000 }, (_, j) => event(j, now, `second-${now}`)));
  const second = performance.now() - t1;
  let dedupeBytes = 0;
  let exactEntries = 0;
  for (let s = 0; s < SHARDS; s++) {
    const w = inst.ingestor.writer(s) as unknown as WriterInternals;
    dedupeBytes += w.d.index.bytes + (w.cold?.bytes ?? 0);
    exactEntries += w.d.index.size;
  }
  let hashBytes = 0;
  let rows = 0;
  let segments = 0;
  let filtered = 0;
  for (const shard of inst.db.shards) {
    for (const seg of (await shard.load()).manifest.segments) {
      segments++;
      if ((seg as { filter_bytes?: number }).filter_bytes !== undefined) filtered++;
      rows += seg.rows;
      // What follows the container (hashes block, key filter): the row size depends on the block's version.
      hashBytes += ((await inst.db.store.head(seg.key))?.size ?? seg.bytes) - seg.bytes;
    }
  }
  console.log(
    JSON.stringify({
      store: kind,
      events_in_window: n,
      first_ingest_ms: Math.round(ms),
      first_ingest_gets: firstGets,
      segments,
      segments_with_filter: filtered,
      second_ingest_ms: Math.round(second),
      rss_mb_before: Math.round(rssBefore / 1e6),
      rss_mb_after_first: Math.round(rss / 1e6),
      duplicates: r.duplicates,
      accepted: r.accepted,
      exact_entries: exactEntries,
      dedupe_bytes_per_event: Math.round((dedupeBytes / n) * 100) / 100,
      stored_hash_bytes_per_event: Math.round((hashBytes / rows) * 100) / 100,
    }),
  );
}

async function main(): Promise<void> {
  const [mode, kind, location, count] = process.argv.slice(2);
  if (mode === 'build') return build(kind!, location!, Number(count));
  if (mode === 'probe') return probe(kind!, location!, Number(count));
  const n = Number(mode ?? process.env.EVENTS ?? 1_000_000);
  const results: unknown[] = [];
  const running = await startTestS3('usagedb-bench');
  const env = {
    ...process.env,
    USAGEDB_TEST_S3_ENDPOINT: running.s3.endpoint,
    USAGEDB_TEST_S3_ACCESS_KEY: running.s3.accessKeyId,
    USAGEDB_TEST_S3_SECRET_KEY: running.s3.secretAccessKey,
    USAGEDB_TEST_S3_BUCKET: running.s3.bucket,
  };
  try {
    for (const kind of (process.env.STORES ?? 'fs,s3').split(',')) {
      const location = kind === 'fs' ? mkdtempSync(join(tmpdir(), 'usagedb-cold-')) : `run-${Date.now().toString(36)}`;
      const run = (m: string) => {
        const out = spawnSync(process.execPath, [process.argv[1]!, m, kind, location, String(n)], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
        if (out.status !== 0) throw new Error(`${m} failed: ${out.stderr}`);
        return out.stdout.trim();
      };
      console.log(run('build'));
      for (let i = 0; i < 3; i++) {
        const line = run('probe').split('\n').at(-1)!;
        console.log(line);
        results.push(JSON.parse(line));
      }
    }
  } finally {
    await running.stop();
  }
  writeResult('cold-dedupe', 'fs, minio', { events: n, results });
}

await main();
