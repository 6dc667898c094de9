/**
 * `npm run bench:http`: the real servers as OS processes, driven over HTTP by concurrent
 * keep-alive clients with a deterministic AI-usage workload (test/bench/http/workload.ts).
 *
 *   main    batch x clients 10 x 32, 100 x 8, 1,000 x 8 on the reference (when
 *           USAGEDB_REFERENCE_BIN is set), ours on the directory store, ours on MinIO — in that
 *           order for each shape, every repetition (interleaved), medians and ratios reported;
 *   multi   1, 2 and 4 of our processes on one MinIO bucket at 100 x 8, round-robin, with
 *           commits and lost races scraped from each process's /metrics;
 *   worker  the Worker in workerd (`wrangler dev`) on MinIO at 100 x 8 and 1,000 x 8, without
 *           (worker-direct) and with (worker) the shard sequencers' Durable Object binding.
 *
 * Every scenario starts fresh processes on a fresh database (temp directory or MinIO prefix),
 * re-sends failed batches afterwards like a client, then checks that accepted == distinct events
 * sent and that sampled account-month totals equal the workload's truth. Writes
 * test/bench/results/http.json. `--help` lists the flags.
 */
import { startTestS3, type RunningS3 } from '../support/minio.ts';
import { GROUPS, HELP, parseArgs, parseShape, type Options, type Shape } from './http/args.ts';
import { ratios, summarize, tables } from './http/report.ts';
import { compileServer } from './http/processes.ts';
import { runScenario, type Context, type Plan, type RunRecord } from './http/scenario.ts';
import { writeResult } from './results.ts';

const MAIN_SHAPES = ['10x32', '100x8', '1000x8'].map(parseShape);
const MULTI_SHAPES = ['100x8'].map(parseShape);
const WORKER_SHAPES = ['100x8', '1000x8'].map(parseShape);

/** Events per scenario by shape: about 5-10 s of our MinIO path on this 2-core machine. */
/** 4,000 / 1,000 / 250 requests: the first 20% warm up (--warmup), the rest are timed. */
const DEFAULT_EVENTS: Readonly<Record<string, number>> = { '10x32': 40_000, '100x8': 100_000, '1000x8': 250_000 };
/** The Worker's failed batches are re-sent one by one afterwards: keep its runs shorter. */
const WORKER_EVENTS: Readonly<Record<string, number>> = { '100x8': 20_000, '1000x8': 50_000 };

const shapeKey = (s: Shape) => `${s.batch}x${s.concurrency}`;

function plans(o: Options): Plan[][] {
  const events = (s: Shape, table: Plan['table']) =>
    o.events ?? (table === 'worker' ? WORKER_EVENTS[shapeKey(s)] : undefined) ?? DEFAULT_EVENTS[shapeKey(s)] ?? s.batch * s.concurrency * 40;
  // Shapes given on the command line run in every group; otherwise each group's defaults.
  const shapes = (defaults: readonly Shape[]) => o.shapes ?? defaults;
  const rep: Plan[] = [];
  for (const shape of shapes(MAIN_SHAPES)) {
    const e = events(shape, 'main');
    if (o.only.has('ref')) rep.push({ system: 'reference', processes: 1, shape, events: e, table: 'main' });
    if (o.only.has('fs')) rep.push({ system: 'ours-fs', processes: 1, shape, events: e, table: 'main' });
    if (o.only.has('minio')) rep.push({ system: 'ours-minio', processes: 1, shape, events: e, table: 'main' });
  }
  if (o.only.has('multi')) {
    for (const shape of shapes(MULTI_SHAPES)) {
      for (const n of o.processes) rep.push({ system: 'ours-minio', processes: n, shape, events: events(shape, 'multi'), table: 'multi' });
    }
  }
  if (o.only.has('worker')) {
    for (const shape of shapes(WORKER_SHAPES)) {
      for (const system of o.workerPaths.map((p) => (p === 'direct' ? 'worker-direct' : 'worker')))
        rep.push({ system, processes: 1, shape, events: events(shape, 'worker'), table: 'worker' });
    }
  }
  return Array.from({ length: o.reps }, () => rep);
}

function line(r: RunRecord): string {
  const what = `rep ${r.rep} ${r.table.padEnd(6)} ${r.system.padEnd(10)} ${r.processes}p ${`${r.batch}x${r.concurrency}`.padStart(7)}`;
  if (r.error !== undefined || r.drive === undefined) return `${what}  FAILED: ${r.error?.split('\n')[0] ?? 'no result'}`;
  const d = r.drive;
  const parts = [
    `${String(d.events_per_s).padStart(7)} ev/s`,
    `p50 ${d.p50_ms} ms p99 ${d.p99_ms} ms`,
    `${d.requests} req`,
    ...(r.server_cpu_ms_per_kev === undefined ? [] : [`server CPU ${r.server_cpu_ms_per_kev.user}+${r.server_cpu_ms_per_kev.system} ms/1k ev`]),
    `acc ${d.answers.accepted} dup ${d.answers.duplicates} conf ${d.answers.conflicts} rej ${d.answers.rejected}`,
  ];
  if (d.http_errors > 0)
    parts.push(`HTTP errors ${d.http_errors} ${JSON.stringify(d.by_status)} first: ${(d.first_error ?? '').replace(/\s+/g, ' ').slice(0, 200)}`);
  if (r.retry !== undefined) {
    const t = r.retry;
    const failing =
      t.still_failed + t.not_retried > 0
        ? `, still failing ${t.still_failed} (+${t.not_retried} given up) first: ${(t.first_error ?? '').replace(/\s+/g, ' ').slice(0, 160)}`
        : '';
    parts.push(`retry pass: acc ${t.answers.accepted} dup ${t.answers.duplicates}, stored despite error ${t.stored_despite_error ?? 'unknown'}${failing}`);
  }
  if (r.commits !== undefined)
    parts.push(
      `commits ${r.commits.commits} lost ${r.commits.lost_races} (${r.commits.lost_races_per_commit}/commit) ${r.commits.events_per_commit} ev/commit`,
    );
  const x = r.exact;
  if (x !== undefined) {
    const stored = x.stored === undefined ? '' : x.stored.error !== undefined ? `, stored: ${x.stored.error}` : `, stored ${x.stored.count} of ${x.unique}`;
    parts.push(`exact ${x.ok ? 'yes' : 'NO'} (accepted ${x.accepted} of ${x.unique}${stored})`);
  }
  const t = r.totals;
  if (t !== undefined) {
    const late =
      t.settled_after_s === undefined
        ? ''
        : ` (first read ${t.matched_first_read}/${t.checked}, ${t.settled_after_s === null ? 'never settled' : `settled after ${t.settled_after_s} s`})`;
    parts.push(`totals ${t.matched}/${t.checked}${late}${t.errors ? ` (${t.errors} errors: ${t.first_error})` : ''}`);
  }
  if (r.worker_log !== undefined) parts.push(`worker log ${JSON.stringify(r.worker_log)}`);
  if (r.notes !== undefined) parts.push(`NOTE: ${r.notes.join('; ')}`);
  if (r.phases_s !== undefined)
    parts.push(
      `phases ${Object.entries(r.phases_s)
        .map(([k, v]) => `${k} ${v}s`)
        .join(' ')}`,
    );
  return `${what}  ${parts.join(' | ')}`;
}

async function main(): Promise<void> {
  let o: Options;
  try {
    const parsed = parseArgs(process.argv.slice(2), process.env);
    if (parsed === 'help') {
      console.log(HELP);
      return;
    }
    o = parsed;
  } catch (err) {
    console.error((err as Error).message);
    process.exitCode = 2;
    return;
  }
  const schedule = plans(o);
  const usesOurs = schedule.some((rep) => rep.some((p) => p.system === 'ours-fs' || p.system === 'ours-minio'));
  // Our server as the container image runs it: compiled, not the sources through the type stripper.
  const serverEntry = usesOurs ? compileServer() : null;
  const needsMinio = schedule.some((rep) => rep.some((p) => p.system === 'ours-minio' || p.system === 'worker' || p.system === 'worker-direct'));
  let s3: RunningS3 | undefined;
  if (needsMinio) {
    s3 = await startTestS3('usagedb-bench-http');
    console.log(`S3: ${s3.s3.via}`);
  }
  const ctx: Context = {
    runId: `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}`,
    seed: o.seed,
    sample: o.sample,
    logLevel: o.logLevel,
    cpuProfDir: o.cpuProfDir,
    serverEnv: o.serverEnv,
    peerToken: o.peers ? `bench-peer-token-${process.pid}-${Date.now()}-0123456789` : undefined,
    minio: s3?.s3,
    referenceBin: o.referenceBin,
    warmup: o.warmup,
  };
  if (o.referenceBin !== undefined) console.log(`reference: ${o.referenceBin}`);
  const records: RunRecord[] = [];
  const started = Date.now();
  try {
    for (const [i, rep] of schedule.entries()) {
      for (const plan of rep) {
        const r = await runScenario(ctx, plan, i + 1);
        records.push(r);
        console.log(line(r));
      }
    }
  } finally {
    await s3?.stop();
  }
  const summaries = summarize(records);
  console.log(`\n${tables(summaries)}\n`);
  // A partial run (--only) gets its own file, so it never overwrites the full run's figures.
  const name = o.out ?? (GROUPS.every((g) => o.only.has(g) || (g === 'ref' && o.referenceBin === undefined)) ? 'http' : `http-${[...o.only].sort().join('-')}`);
  const out = writeResult(name, [o.only.has('fs') ? 'fs' : undefined, s3?.s3.via].filter((x) => x !== undefined).join(' + '), {
    note: 'real server processes over HTTP (keep-alive fetch); fresh database per scenario; medians over repetitions; ratios are ours / reference',
    config: {
      reps: o.reps,
      warmup_share: o.warmup,
      seed: o.seed,
      groups: [...o.only],
      processes: o.processes,
      sample_account_months: o.sample,
      log_level: o.logLevel,
      server_env: o.serverEnv,
      server_entry: serverEntry,
      multi_peers: o.peers,
      reference: o.referenceBin ?? null,
      workload: { accounts: 10_000, zipf_s: 1.1, meters: 10, models: 100, retry_rate: 0.02, months: 3 },
      minutes: Math.round((Date.now() - started) / 6000) / 10,
    },
    ratios: ratios(summaries),
    summaries,
    runs: records,
  });
  console.log(`wrote test/bench/results/${name}.json (${out.date})`);
}

await main();
