/**
 * `npm run bench:ingest`: events/s and request latency by batch size, concurrency and instance
 * count against MinIO (plus the goal scenario on the directory and memory stores, to separate the
 * pipeline's own cost from S3's); segment bytes per event vs gzip'd NDJSON; dedupe index bytes per
 * entry and cold load rate (hashes read with ranged GETs of the segment objects). Requests go
 * through the Hono app in-process (JSON parsing, validation, hashing, encoding, segment PUT,
 * manifest commit), bodies serialized before timing. Writes test/bench/results/ingest.json.
 * BENCH_SECONDS (default 3) bounds each scenario.
 */
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { DedupeIndex } from '../../src/ingest/dedupe-index.ts';
import { loadSegmentHashes } from '../../src/ingest/hash-loader.ts';
import { bucketOf } from '../../src/model/bucket.ts';
import { seededRandom } from '../../src/model/deps.ts';
import { validateEvent } from '../../src/model/validate.ts';
import { encodeRawSegment } from '../../src/segment/raw.ts';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { FsStore } from '../../src/store/fs.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { S3Store } from '../../src/store/s3.ts';
import { openInstance, type Instance } from '../support/instance.ts';
import { writeResult } from './results.ts';
import { startTestS3 } from '../support/minio.ts';
import { Workload, type WireEvent } from './workload.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const MAX_EVENTS_PER_SCENARIO = 600_000;
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const pct = (s: number[], p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;

async function scenario(instances: Instance[], pool: WireEvent[], tag: string, batch: number, concurrency: number) {
  const maxRequests = Math.max(concurrency, Math.floor(Math.min(MAX_EVENTS_PER_SCENARIO, pool.length * 4) / batch));
  const bodies: string[] = [];
  for (let r = 0; r < maxRequests; r++) {
    const events = [];
    for (let j = 0; j < batch; j++) {
      const n = r * batch + j;
      events.push({ ...pool[n % pool.length]!, event_id: `${tag}-${n}` });
    }
    bodies.push(JSON.stringify({ events }));
  }
  let next = 0;
  let accepted = 0;
  let failed = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      const inst = instances[w % instances.length]!;
      while (performance.now() < deadline && next < bodies.length) {
        const body = bodies[next++]!;
        const t0 = performance.now();
        const res = await inst.app.request('/v1/usage/batch', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
        const json = (await res.json()) as { accepted?: number };
        latencies.push(performance.now() - t0);
        if (res.status === 200) accepted += json.accepted ?? 0;
        else failed++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    instances: instances.length,
    batch,
    concurrency,
    requests: latencies.length,
    failed_requests: failed,
    events: accepted,
    events_per_s: Math.round(accepted / seconds),
    p50_ms: round(pct(latencies, 50)),
    p99_ms: round(pct(latencies, 99)),
  };
}

async function main(): Promise<void> {
  const running = await startTestS3('usagedb-bench');
  console.log(`S3 endpoint: ${running.s3.via}`);
  const store = new S3Store({ ...running.s3, forcePathStyle: true });
  const run = `bench/ingest-${Date.now().toString(36)}`;
  const pool = new Workload({ seed: 7 }).events(200_000);
  const results = [];
  let loadPrefix = '';
  try {
    let k = 0;
    for (const n of [1, 3]) {
      for (const batch of [1, 100, 1000, 10_000]) {
        for (const conc of [1, 8, 32]) {
          const prefix = `${run}/s${k++}`;
          const instances = await Promise.all(Array.from({ length: n }, (_, i) => openInstance(store, prefix, { seed: i + 1, shards: 16, buckets: 64 })));
          const r = await scenario(instances, pool, `s${k}`, batch, conc);
          if (n === 1 && batch === 1000 && conc === 8) loadPrefix = prefix;
          results.push(r);
          console.log(
            `instances=${n} batch=${String(batch).padStart(5)} conc=${String(conc).padStart(2)}  ${String(r.events_per_s).padStart(7)} events/s  p50=${r.p50_ms} ms  p99=${r.p99_ms} ms  (${r.requests} requests${r.failed_requests ? `, ${r.failed_requests} failed` : ''})`,
          );
        }
      }
    }

    // The goal scenario without MinIO in the way: the embedded directory store and the memory
    // store show how much of the budget the pipeline itself (parse, validate, hash, encode,
    // commit) takes on this machine, and how much the S3 round trips and MinIO's own CPU add.
    const ceilings = [];
    for (const [kind, make] of [
      ['fs', () => new FsStore({ root: mkdtempSync(join(tmpdir(), 'usagedb-bench-')) })],
      ['memory', () => new MemoryStore()],
    ] as const) {
      const inst = await openInstance(make(), `${run}/${kind}`, { seed: 1, shards: 16, buckets: 64 });
      const r = { store: kind, ...(await scenario([inst], pool, `c${kind}`, 1000, 32)) };
      ceilings.push(r);
      console.log(`store=${kind} instances=1 batch= 1000 conc=32  ${String(r.events_per_s).padStart(7)} events/s  p50=${r.p50_ms} ms  p99=${r.p99_ms} ms`);
    }

    // Bytes per event: one segment of 100,000 events vs gzip'd NDJSON of the same events.
    const now = Date.now();
    const sample = pool.slice(0, 100_000);
    const valid = sample.map((e) => {
      const v = validateEvent(e, now);
      if (!v.ok) throw new Error(v.reason);
      return v.event;
    });
    const t0 = performance.now();
    const seg = encodeRawSegment(valid, (a) => bucketOf(a, 64)); // compaction's level (5)
    const encodeMs = performance.now() - t0;
    const ndjson = gzipSync(Buffer.from(sample.map((e) => JSON.stringify(e)).join('\n')));
    const size = {
      events: sample.length,
      segment_bytes_per_event: round(seg.bytes.byteLength / sample.length, 2),
      hashes_bytes_per_event: round(seg.hashes.byteLength / sample.length, 2),
      gzip_ndjson_bytes_per_event: round(ndjson.byteLength / sample.length, 2),
      ratio_segment_to_gzip: round(seg.bytes.byteLength / ndjson.byteLength, 3),
      encode_events_per_s: Math.round(sample.length / (encodeMs / 1000)),
    };
    console.log(
      `segment ${size.segment_bytes_per_event} B/event vs gzip NDJSON ${size.gzip_ndjson_bytes_per_event} B/event (ratio ${size.ratio_segment_to_gzip}); encode ${size.encode_events_per_s} events/s`,
    );

    // Dedupe index: memory per entry at several sizes, and a cold load from sidecars.
    const memory = [];
    const rnd = seededRandom(3);
    for (const n of [100_000, 1_000_000, 3_000_000]) {
      const idx = new DedupeIndex();
      for (let i = 0; i < n; i++) idx.insert((rnd() * 2 ** 32) >>> 0, (rnd() * 2 ** 32) >>> 0, i, i, now);
      memory.push({ entries: n, bytes: idx.bytes, bytes_per_entry: round(idx.bytes / n, 1) });
    }
    const loadInst = await openInstance(store, loadPrefix, { seed: 99 });
    const segs = (await Promise.all(loadInst.db.shards.map((s) => s.load()))).flatMap((s) => [...s.manifest.segments]);
    const cold = new DedupeIndex();
    const tl = performance.now();
    await loadSegmentHashes(store, cold, segs, 8);
    const loadS = (performance.now() - tl) / 1000;
    const dedupe = { memory, cold_load: { segments: segs.length, entries: cold.size, seconds: round(loadS, 2), entries_per_s: Math.round(cold.size / loadS) } };
    console.log(
      `dedupe index: ${memory.map((m) => `${m.entries} entries → ${m.bytes_per_entry} B/entry`).join(', ')}; cold load ${dedupe.cold_load.entries_per_s} entries/s`,
    );

    writeResult('ingest', running.s3.via, {
      seconds_per_scenario: SECONDS,
      note: 'in-process Hono app.request; fresh 16-shard database per scenario; bodies pre-serialized',
      throughput: results,
      throughput_other_stores: ceilings,
      size,
      dedupe,
    });
    console.table(results);
  } finally {
    store.destroy();
    await running.stop();
  }
}

await main();
