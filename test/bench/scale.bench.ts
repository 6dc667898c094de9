/**
 * `npm run bench:scale`: costs as history grows (issue 15 item 1). For each size (days of
 * history at a fixed event rate, 10,000 Zipf accounts, test/bench/workload.ts) and store, builds
 * a database in simulated time ending at the real time of the build — library ingest in batches
 * of 10,000 with the clock at each batch's end; compaction and rollup until quiet, then GC,
 * through the scheduler's entry (`runJobsLogged`) every 7 simulated days, with the clock
 * injected and a store view whose LastModified is simulated time so GC's safety age passes —
 * then measures: manifest bytes per shard, commit p50/p99 of a small (10-event) library ingest,
 * a fresh server process's startup, first and second 1,000-event HTTP ingest and RSS
 * (/proc/<pid>/status), dedupe memory per event in the window (RSS delta against an empty
 * database: the code exposes no byte count), monthly account totals over HTTP cold (one fresh
 * process per query) and warm, checked against the workload's truth, segment and object counts,
 * and all stored bytes per event (listed by prefix, by kind) against gzip'd NDJSON. Prints a
 * table and issue 15's goals as numbers, writes test/bench/results/scale.json (or --out). No
 * asserts. Defaults: 16 shards (R2's default, as bench:jobs and bench:query use).
 *
 *   npm run bench:scale -- [--sizes 1d,30d,365d] [--events-per-day 13700] [--store fs,minio]
 *       [--shards 16] [--jobs-every-days 7] [--cold-samples 10] [--quick] [--out FILE]
 *   --quick: sizes 1d,3d, 2,000 events/day, fs only, fewer samples (a smoke run).
 *   --store memory: no server process (in-process app; RSS and process figures n/a).
 */
import '../../src/runtime/native-deflate.ts';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_INGEST_OPTIONS } from '../../src/ingest/limits.ts';
import { FsStore } from '../../src/store/fs.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { S3Store } from '../../src/store/s3.ts';
import { startTestS3, type RunningS3 } from '../support/minio.ts';
import { compileServer } from './http/processes.ts';
import {
  build,
  DAY_MS,
  firstIngest,
  type GzipTally,
  monthlyTotals,
  pct,
  type RunOptions,
  type SizeSpec,
  smallCommits,
  type StoreKind,
  type StoreTarget,
  storedADayLater,
  storedFigures,
} from './scale/run.ts';
import { evaluateGoals, printGoals, printTable, type SizeResult } from './scale/report.ts';

interface Args {
  sizes: SizeSpec[];
  stores: StoreKind[];
  quick: boolean;
  out: string | undefined;
  opts: Omit<RunOptions, 'runId' | 'log'>;
}

function parseSize(s: string): SizeSpec {
  const m = /^(\d+)([dy])$/.exec(s.trim());
  if (m === null) throw new Error(`--sizes: "${s}" is not like 1d, 30d, 365d or 1y`);
  const days = Number(m[1]) * (m[2] === 'y' ? 365 : 1);
  return { label: s.trim(), days };
}

function parseArgs(argv: readonly string[]): Args {
  const flags = new Map<string, string>();
  const bools = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, v] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (k === 'quick') bools.add(k);
    else if (v !== undefined) flags.set(k, v);
    else flags.set(k, argv[++i] ?? '');
  }
  const quick = bools.has('quick');
  const num = (k: string, d: number) => {
    const v = flags.get(k);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${k}: a positive integer, got ${v}`);
    return n;
  };
  const sizes = (flags.get('sizes') ?? (quick ? '1d,3d' : '1d,30d,365d'))
    .split(',')
    .map(parseSize)
    .sort((a, b) => a.days - b.days);
  const stores = (flags.get('store') ?? flags.get('stores') ?? (quick ? 'fs' : 'fs,minio')).split(',').map((s) => {
    if (s !== 'fs' && s !== 'minio' && s !== 'memory') throw new Error(`--store: fs, minio or memory, got ${s}`);
    return s as StoreKind;
  });
  return {
    sizes,
    stores,
    quick,
    out: flags.get('out'),
    opts: {
      eventsPerDay: num('events-per-day', quick ? 2_000 : 13_700),
      accounts: num('accounts', 10_000),
      batch: num('batch', 10_000),
      jobsEveryDays: num('jobs-every-days', 7),
      shards: num('shards', 16),
      smallCommits: num('small-commits', quick ? 10 : 50),
      smallCommitEvents: num('small-commit-events', 10),
      coldSamples: Math.min(14, num('cold-samples', quick ? 3 : 10)),
      warmReps: num('warm-reps', quick ? 2 : 5),
      firstIngestEvents: num('first-ingest-events', 1_000),
    },
  };
}

async function openTarget(kind: StoreKind, minio: () => Promise<RunningS3>): Promise<{ target: StoreTarget; close(): Promise<void> }> {
  if (kind === 'memory') return { target: { kind, store: new MemoryStore(), server: undefined }, close: async () => undefined };
  if (kind === 'fs') {
    const dir = mkdtempSync(join(tmpdir(), 'usagedb-bench-scale-'));
    return {
      target: { kind, store: new FsStore({ root: dir }), server: { kind: 'fs', dataDir: dir } },
      close: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const s3 = (await minio()).s3;
  const store = new S3Store({ ...s3, forcePathStyle: true });
  return { target: { kind, store, server: { kind: 's3', ...s3 } }, close: async () => store.destroy() };
}

const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const runId = Date.now().toString(36);
  const started = performance.now();
  const log = (line: string) => console.log(`[${round((performance.now() - started) / 1000)} s] ${line}`);
  const o: RunOptions = { ...args.opts, runId, log };
  // Server processes as the container image runs them: compiled, not through the type stripper.
  const serverEntry = args.stores.some((st) => st !== 'memory') ? compileServer() : null;
  log(
    `bench:scale sizes ${args.sizes.map((s) => s.label).join(',')}, ${o.eventsPerDay} events/day, ${o.accounts} accounts, stores ${args.stores.join(',')}, dedupe window ${DEFAULT_INGEST_OPTIONS.dedupeWindowMs / DAY_MS} d`,
  );
  let running: RunningS3 | undefined;
  const minio = async () => (running ??= await startTestS3('usagedb-bench'));
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      void (running?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
    });
  }
  const gz = new Map<string, GzipTally>();
  const results: SizeResult[] = [];
  const baselines: Record<string, unknown> = {};
  const write = () => {
    const result = {
      benchmark: 'scale',
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      store: args.stores.join(','),
      args: { sizes: args.sizes.map((s) => s.label), stores: args.stores, quick: args.quick, ...args.opts },
      server_entry: serverEntry,
      wall_seconds: round((performance.now() - started) / 1000),
      dedupe_window_days: DEFAULT_INGEST_OPTIONS.dedupeWindowMs / DAY_MS,
      empty_database: baselines,
      sizes: results,
      goals: evaluateGoals(results),
      notes: [
        'dedupe_bytes_per_window_event: (RSS after the first ingest on this database - RSS after the first ingest on an empty one) / events in the dedupe window; the code exposes no byte count of the dedupe index',
        'gzip: gzip -6 of the NDJSON of each ingest batch (10,000 events), summed',
        'cold: each query on a freshly started server process; warm: repeated on one process after one pass',
        'simulated time ends at the real time the build started, so a real server process sees the same dedupe window',
      ],
    };
    const file = args.out ?? join(import.meta.dirname, 'results', 'scale.json');
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    return result;
  };
  try {
    for (const kind of args.stores) {
      const { target, close } = await openTarget(kind, minio);
      try {
        // Baseline: a fresh process on an empty database, same first ingest.
        const empty = await firstIngest(target, `scale/${runId}-empty`, o, undefined, `${kind}-empty`);
        await empty.face.stop();
        baselines[kind] = empty.figures;
        log(`${kind} empty database: first ingest ${empty.figures.first_ingest_ms} ms, RSS ${empty.figures.rss_after_first_bytes}`);
        for (const size of args.sizes) {
          const fresh = !gz.has(size.label);
          const tally: GzipTally = gz.get(size.label) ?? { events: 0, bytes: 0 };
          gz.set(size.label, tally);
          log(`${kind} ${size.label}: building ${size.days} days x ${o.eventsPerDay} events`);
          const b = await build(target, size, o, fresh ? tally : undefined);
          const eventsBuilt = b.truth.events;
          const windowEvents = b.truth.windowEvents;
          log(
            `${kind} ${size.label}: built ${eventsBuilt} events (${b.seconds.ingest} s ingest, ${b.seconds.jobs} s jobs, ${b.seconds.catch_up} s catch-up in ${b.catchUpRuns} runs)`,
          );
          const stored = await storedFigures(b);
          const commits = await smallCommits(b, o);
          const fi = await firstIngest(target, b.prefix, o, b.truth, `${kind}-${size.label}`);
          let queries: Awaited<ReturnType<typeof monthlyTotals>>;
          try {
            queries = await monthlyTotals(target, b.prefix, b.truth, fi.face, o, `${kind}-${size.label}`);
          } finally {
            await fi.face.stop();
          }
          const later = await storedADayLater(b);
          const baseRss = empty.figures.rss_after_first_bytes;
          const rss = fi.figures.rss_after_first_bytes;
          const gzPerEvent = tally.bytes / Math.max(1, tally.events);
          const r: SizeResult = {
            store: kind,
            size: size.label,
            days: size.days,
            events: eventsBuilt,
            events_in_window: windowEvents,
            build_seconds: b.seconds,
            job_runs: b.jobTicks,
            catch_up_runs: b.catchUpRuns,
            job_errors: b.jobErrors,
            ingest_retries: b.ingestRetries,
            manifest_bytes_per_shard: stored.manifest_bytes_per_shard,
            commit_ms: { n: commits.length, events_per_commit: o.smallCommitEvents, p50: round(pct(commits, 50)), p99: round(pct(commits, 99)) },
            fresh_process: fi.figures,
            dedupe_bytes_per_window_event: rss === null || baseRss === null || windowEvents === 0 ? null : round((rss - baseRss) / windowEvents),
            monthly_total_ms: {
              month: queries.month,
              accounts: b.truth.accounts.length,
              cold_p50: round(pct(queries.cold_ms, 50)),
              cold_p95: round(pct(queries.cold_ms, 95)),
              warm_p50: round(pct(queries.warm_ms, 50), 2),
              warm_p95: round(pct(queries.warm_ms, 95), 2),
              exact: queries.exact,
              mismatches: queries.mismatches,
            },
            segments: stored.segments,
            objects: stored.objects,
            stored_bytes: stored.bytes,
            stored_by_kind: stored.by_kind,
            bytes_per_event: round(stored.bytes / Math.max(1, eventsBuilt), 2),
            gzip_ndjson_bytes_per_event: round(gzPerEvent, 2),
            stored_vs_gzip: round(stored.bytes / Math.max(1, eventsBuilt) / gzPerEvent, 3),
            older_than_window: {
              rows: stored.older_than_window.rows,
              bytes_per_event: stored.older_than_window.rows === 0 ? null : round(stored.older_than_window.bytes / stored.older_than_window.rows, 2),
              vs_gzip: stored.older_than_window.rows === 0 ? null : round(stored.older_than_window.bytes / stored.older_than_window.rows / gzPerEvent, 3),
            },
            a_day_later: {
              bytes_per_event: round(later.bytes / Math.max(1, eventsBuilt), 2),
              stored_vs_gzip: round(later.bytes / Math.max(1, eventsBuilt) / gzPerEvent, 3),
              stored_by_kind: later.by_kind,
            },
            truth: { events: b.truth.events, quantity: b.truth.quantity, month_totals: Object.fromEntries(b.truth.byAccount) },
          };
          results.push(r);
          write();
          log(`${kind} ${size.label}: measured (${queries.exact ? 'totals exact' : `TOTALS WRONG: ${queries.mismatches.join('; ')}`})`);
        }
      } finally {
        await close();
      }
    }
  } finally {
    await running?.stop();
  }
  const result = write();
  printTable(results);
  printGoals(result.goals);
  log(`wall time ${round((performance.now() - started) / 1000)} s; results in ${args.out ?? 'test/bench/results/scale.json'}`);
}

await main();
