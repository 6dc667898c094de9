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
import { DEFAULT_INGEST_OPTIONS } from '../ingest/limits.ts';
import { forEachLimit } from '../lib/pool.ts';
import type { Database } from '../manifest/database.ts';
import { scratchPrefix } from '../manifest/keys.ts';
import { PeriodService } from '../period/periods.ts';
import { QueryEngine } from '../query/engine.ts';
import { mergeRollups } from '../rollup/merge-rollups.ts';
import { DEFAULT_ROLLUP_OPTIONS, rollupShard, type RollupOptions } from '../rollup/rollup-job.ts';

export const JOB_NAMES = ['rollup', 'compact', 'gc'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export interface JobOptions {
  readonly dryRun?: boolean;
  readonly compact?: Partial<CompactOptions>;
  readonly rollup?: Partial<RollupOptions>;
  readonly gc?: Partial<GcOptions>;
  /** The check for event ids reused across accounts (run with gc). */
  readonly idReuse?: Partial<IdReuseOptions>;
  /** Shards processed at once (default 4). */
  readonly concurrency?: number;
}

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

/** The id-reuse check compares what the dedupe window holds: the same default window as ingest. */
const DEFAULT_ID_REUSE_OPTIONS: IdReuseOptions = { windowMs: DEFAULT_INGEST_OPTIONS.dedupeWindowMs, maxSegments: 2000 };

export async function runJob(db: Database, job: JobName, opts: JobOptions = {}): Promise<JobReport> {
  const { store, deps } = db;
  const buckets = db.info.bucket_count;
  const scratch = scratchPrefix(db.prefix);
  const gcOpts: GcOptions = { ...DEFAULT_GC_OPTIONS, ...opts.gc, dryRun: opts.dryRun ?? false };
  const compactOpts: CompactOptions = { ...DEFAULT_COMPACT_OPTIONS, ...opts.compact };
  // Rollup leaves alone what the next compaction would merge: a small compacted segment rolled
  // first could never merge again (one more segment per compaction run, each with a key filter).
  const rollupOpts: RollupOptions = {
    ...DEFAULT_ROLLUP_OPTIONS,
    ...opts.rollup,
    hold: opts.rollup?.hold ?? ((segments) => new Set(chooseInputs(segments, compactOpts).flatMap((s) => (s.compacted === true ? [s.id] : [])))),
  };
  const results: Record<string, unknown>[] = new Array(db.shards.length);
  // A failing shard is reported in its slot; it never stops the others.
  await forEachLimit(db.shards, opts.concurrency ?? 4, async (shard) => {
    try {
      switch (job) {
        case 'compact':
          results[shard.shard] = { ...(await compactShard(store, shard, deps, buckets, compactOpts)) };
          break;
        case 'rollup': {
          const rolled = await rollupShard(store, shard, deps, buckets, rollupOpts);
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
