/**
 * Runs background jobs by name (rollup, compact, gc) over every shard, a few shards at a time,
 * each shard's run bounded; a failing shard is reported and never blocks the others. The same
 * entry serves the Worker's `scheduled` handler, the Node interval scheduler, the admin routes
 * and the CLI. Jobs may run concurrently with themselves, with ingest and with queries on other
 * instances: conflicts are resolved by the manifest commit, never by a lock.
 */
import { chooseInputs, compactShard, DEFAULT_COMPACT_OPTIONS, type CompactOptions } from '../compact/compact-job.ts';
import { DEFAULT_GC_OPTIONS, gcScratch, gcShard, type GcOptions } from '../compact/gc.ts';
import { checkIdReuse, type IdReuseOptions } from '../compact/id-reuse.ts';
import { DEFAULT_STRIP_OPTIONS, stripShard, type StripOptions } from '../compact/strip-hashes.ts';
import { DEFAULT_INGEST_OPTIONS } from '../ingest/limits.ts';
import { forEachLimit } from '../lib/pool.ts';
import type { Database } from '../manifest/database.ts';
import { scratchPrefix } from '../manifest/keys.ts';
import { PeriodService } from '../period/periods.ts';
import { QueryEngine } from '../query/engine.ts';
import { mergeRollups } from '../rollup/merge-rollups.ts';
import { awaitsRollup, DEFAULT_ROLLUP_OPTIONS, rollupShard, type RollupOptions } from '../rollup/rollup-job.ts';

export const JOB_NAMES = ['rollup', 'compact', 'gc'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export interface JobOptions {
  readonly dryRun?: boolean;
  readonly compact?: Partial<CompactOptions>;
  /** The lean-hashes step of the compact job (window and grace: compaction's). */
  readonly strip?: Partial<StripOptions>;
  readonly rollup?: Partial<RollupOptions>;
  readonly gc?: Partial<GcOptions>;
  /** The check for event ids reused across accounts (run with gc). */
  readonly idReuse?: Partial<IdReuseOptions>;
  /** Shards processed at once (default 4). */
  readonly concurrency?: number;
  /**
   * Compaction and rollup repeat a run that committed on a shard while the shard's backlog
   * shrinks, until it is caught up, `ms` have passed since the job started, or `maxRuns` runs
   * (default 60 s, 50 runs). One bounded run per interval falls behind any steady ingest of more
   * segments than it takes.
   */
  readonly catchUp?: CatchUp;
}

export interface CatchUp {
  readonly ms: number;
  readonly maxRuns: number;
}

export const DEFAULT_CATCH_UP: CatchUp = { ms: 60_000, maxRuns: 50 };

export interface JobReport {
  readonly job: JobName;
  readonly shards: number;
  readonly failed: number;
  readonly results: readonly Record<string, unknown>[];
}

/** Closes the periods of a shard whose close was fenced and not finished (none: no reads at all). */
async function finishFencedPeriods(db: Database, shard: number): Promise<number> {
  const m = (await db.shards[shard]!.revalidate()).manifest;
  if (!m.periods.some((p) => p.state === 'closing')) return 0;
  return new PeriodService(db, new QueryEngine(db)).finishShard(shard);
}

/**
 * Runs `run` again while it commits and `progressed` says the backlog shrank, within the budget;
 * answers every report.
 */
async function untilCaughtUp<R extends { readonly committed: boolean }>(
  run: () => Promise<R>,
  progressed: () => Promise<boolean>,
  budget: CatchUp,
  deadline: number,
  now: () => number,
): Promise<R[]> {
  const reports: R[] = [];
  for (;;) {
    reports.push(await run());
    if (!reports[reports.length - 1]!.committed || reports.length >= budget.maxRuns || now() >= deadline) return reports;
    if (!(await progressed())) return reports;
  }
}

/** Progress of a backlog counted after each run: the count went down and is not zero yet. */
function shrinking(count: () => Promise<number>): () => Promise<boolean> {
  let last = Number.POSITIVE_INFINITY;
  return async () => {
    const n = await count();
    const shrank = n > 0 && n < last;
    last = n;
    return shrank;
  };
}

/**
 * One report for a shard's runs: counts summed, `committed` if any run committed, `runs`; the
 * other fields (shard, ids, the reason nothing was done) from the last run that committed, or
 * the last run.
 */
function combined(reports: readonly object[]): Record<string, unknown> {
  const all = reports as readonly Record<string, unknown>[];
  const committed = all.filter((r) => r.committed === true);
  const base: Record<string, unknown> = { ...(committed[committed.length - 1] ?? all[all.length - 1]) };
  if (committed.length > 0) delete base.reason;
  const sums: Record<string, number> = {};
  for (const r of all) for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && k !== 'shard') sums[k] = (sums[k] ?? 0) + v;
  return { ...base, ...sums, committed: committed.length > 0, runs: all.length };
}

/** The id-reuse check compares what the dedupe window holds: the same default window as ingest. */
const DEFAULT_ID_REUSE_OPTIONS: IdReuseOptions = { windowMs: DEFAULT_INGEST_OPTIONS.dedupeWindowMs, maxSegments: 2000 };

export async function runJob(db: Database, job: JobName, opts: JobOptions = {}): Promise<JobReport> {
  const { store, deps } = db;
  const buckets = db.info.bucket_count;
  const scratch = scratchPrefix(db.prefix);
  const gcOpts: GcOptions = { ...DEFAULT_GC_OPTIONS, ...opts.gc, dryRun: opts.dryRun ?? false };
  const compactOpts: CompactOptions = { ...DEFAULT_COMPACT_OPTIONS, ...opts.compact };
  const stripOpts: StripOptions = {
    ...DEFAULT_STRIP_OPTIONS,
    dedupeWindowMs: compactOpts.dedupeWindowMs,
    graceMs: compactOpts.graceMs,
    ...(compactOpts.groupRows === undefined ? {} : { groupRows: compactOpts.groupRows }),
    ...opts.strip,
  };
  // Rollup leaves alone what the next compaction would merge: a small compacted segment rolled
  // first could never merge again (one more segment per compaction run, each with a key filter).
  const rollupOpts: RollupOptions = {
    ...DEFAULT_ROLLUP_OPTIONS,
    ...opts.rollup,
    hold: opts.rollup?.hold ?? ((segments) => new Set(chooseInputs(segments, compactOpts).flatMap((s) => (s.compacted === true ? [s.id] : [])))),
  };
  const results: Record<string, unknown>[] = new Array(db.shards.length);
  const catchUp = opts.catchUp ?? DEFAULT_CATCH_UP;
  const now = () => deps.clock.now();
  const deadline = now() + catchUp.ms;
  // A failing shard is reported in its slot; it never stops the others.
  await forEachLimit(db.shards, opts.concurrency ?? 4, async (shard) => {
    try {
      switch (job) {
        case 'compact': {
          // Backlog: segments not compacted yet (a run may also re-merge small compacted ones).
          const young = shrinking(async () => (await shard.revalidate()).manifest.segments.filter((s) => s.compacted !== true).length);
          const compacted = combined(await untilCaughtUp(() => compactShard(store, shard, deps, buckets, compactOpts), young, catchUp, deadline, now));
          // Then one bounded run of the lean-hashes step: compacted segments past the window lose their hashes.
          results[shard.shard] = { ...compacted, strip: await stripShard(store, shard, deps, stripOpts) };
          break;
        }
        case 'rollup': {
          // Backlog: compacted segments neither rolled up nor marked sparse yet.
          const unrolled = shrinking(async () => (await shard.revalidate()).manifest.segments.filter(awaitsRollup).length);
          const rolled = combined(await untilCaughtUp(() => rollupShard(store, shard, deps, buckets, rollupOpts), unrolled, catchUp, deadline, now));
          const merged = await mergeRollups(store, shard, deps, buckets, rollupOpts);
          results[shard.shard] = { ...rolled, merge: merged, periods_finished: await finishFencedPeriods(db, shard.shard) };
          break;
        }
        case 'gc':
          results[shard.shard] = { ...(await gcShard(store, shard, deps, scratch, gcOpts)) };
          break;
      }
    } catch (err) {
      results[shard.shard] = { shard: shard.shard, error: err instanceof Error ? err.message : String(err) };
    }
  });
  if (job === 'gc') {
    const idReuse = gcOpts.dryRun ? undefined : await checkIdReuse(db, { ...DEFAULT_ID_REUSE_OPTIONS, ...opts.idReuse });
    results.push({ scratch_deleted: await gcScratch(store, scratch, deps, gcOpts), ...(idReuse === undefined ? {} : { id_reuse: idReuse }) });
  }
  return { job, shards: db.shards.length, failed: results.filter((r) => r !== undefined && 'error' in r).length, results };
}
