/**
 * `npm run bench:jobs`: compaction and rollup throughput (events/s) on 1,000,000 events in
 * MinIO, and the manifest segment counts before and after. Runs each job repeatedly (each run
 * bounded per shard, shards 4 at a time) until it has nothing left to do. Writes
 * test/bench/results/jobs.json. BENCH_EVENTS overrides the event count.
 */
import { runJob, type JobName } from '../../src/jobs/run.ts';
import { S3Store } from '../../src/store/s3.ts';
import { openInstance, type Instance } from '../support/instance.ts';
import { writeResult } from './results.ts';
import { startTestS3 } from '../support/minio.ts';
import { Workload } from './workload.ts';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function counts(inst: Instance) {
  const snaps = await Promise.all(inst.db.shards.map((s) => s.revalidate()));
  return {
    raw_segments: snaps.reduce((n, s) => n + s.manifest.segments.length, 0),
    rolled_segments: snaps.reduce((n, s) => n + s.manifest.segments.filter((x) => x.rolled_by !== undefined).length, 0),
    rollup_segments: snaps.reduce((n, s) => n + s.manifest.rollups.length, 0),
    manifest_bytes: snaps.reduce((n, s) => n + JSON.stringify(s.manifest).length, 0),
  };
}

async function untilDone(inst: Instance, job: JobName, field: string) {
  let rows = 0;
  let runs = 0;
  const t0 = performance.now();
  for (;;) {
    const r = await runJob(inst.db, job);
    runs++;
    if (r.failed > 0) throw new Error(`${job} failed: ${JSON.stringify(r.results.filter((x) => 'error' in x))}`);
    const done = r.results.filter((x) => x.committed === true);
    rows += done.reduce((n, x) => n + Number(x[field] ?? 0), 0);
    if (done.length === 0) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { runs, rows, seconds: round(seconds), events_per_s: Math.round(rows / seconds) };
}

async function main(): Promise<void> {
  const running = await startTestS3('usagedb-bench');
  console.log(`S3 endpoint: ${running.s3.via}`);
  const store = new S3Store({ ...running.s3, forcePathStyle: true });
  const prefix = `bench/jobs-${Date.now().toString(36)}`;
  try {
    const inst = await openInstance(store, prefix, { shards: 16, buckets: 64 });
    const events = new Workload({ accounts: 10_000, seed: 5, startMs: Date.UTC(2026, 7, 1), spanMs: 92 * 86_400_000 })
      .events(EVENTS)
      .sort((a, b) => (a.timestamp_ms as number) - (b.timestamp_ms as number));
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < events.length) {
          const at = next;
          next += 10_000;
          await inst.ingestor.ingest(events.slice(at, at + 10_000));
        }
      }),
    );
    console.log(`ingested ${EVENTS} events in ${round((performance.now() - t0) / 1000)} s`);
    const before = await counts(inst);
    const compaction = await untilDone(inst, 'compact', 'rows_in');
    const afterCompaction = await counts(inst);
    console.log(
      `compaction: ${compaction.events_per_s} events/s (${compaction.rows} rows, ${compaction.runs} runs); segments ${before.raw_segments} -> ${afterCompaction.raw_segments}`,
    );
    const rollup = await untilDone(inst, 'rollup', 'rows_in');
    const after = await counts(inst);
    console.log(`rollup: ${rollup.events_per_s} events/s (${rollup.rows} rows, ${rollup.runs} runs); rollup segments ${after.rollup_segments}`);
    const result = writeResult('jobs', running.s3.via, {
      events: EVENTS,
      shards: 16,
      compaction,
      rollup,
      manifest: { before, after_compaction: afterCompaction, after_rollup: after },
    });
    console.log(JSON.stringify(result, null, 2));
  } finally {
    store.destroy();
    await running.stop();
  }
}

await main();
