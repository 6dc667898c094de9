/**
 * GET /v1/admin/status: per-shard facts from freshly revalidated manifests (generation, segment
 * counts, manifest size, compaction and rollup watermarks) and this instance's counters (commits,
 * retries, contention, cache, requests, job runs). A shard whose manifest cannot be read is
 * reported with its error; it never hides the others.
 */
import type { Metrics } from '../metrics.ts';
import type { Database } from '../../manifest/database.ts';
import type { CommittedManifest } from '../../manifest/manifest-store.ts';
import type { QueryEngine } from '../../query/engine.ts';
import { awaitsRollup } from '../../rollup/rollup-job.ts';
import { parsePrometheus } from './prom.ts';
import type { AdminStatus } from './schemas.ts';

type ShardOk = Extract<AdminStatus['shards'][number], { generation: number }>;
type Totals = AdminStatus['totals'];

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** Whole-manifest sizes by shard (current.json and its parts), recomputed only when the generation moves. */
const sizes = new WeakMap<CommittedManifest['manifest'], number>();
const encoder = new TextEncoder();

function manifestBytes(m: CommittedManifest['manifest']): number {
  let n = sizes.get(m);
  if (n === undefined) sizes.set(m, (n = encoder.encode(JSON.stringify(m)).length));
  return n;
}

function shardStatus(snap: CommittedManifest, stats: { commits: number; conflicts: number; contentionErrors: number; ambiguous: number }): ShardOk {
  const m = snap.manifest;
  return {
    shard: m.shard,
    generation: m.generation,
    updated_at: new Date(m.updated_at_ms).toISOString(),
    raw_segments: m.segments.length,
    uncompacted_segments: m.segments.filter((s) => s.compacted !== true).length,
    unrolled_segments: m.segments.filter(awaitsRollup).length,
    raw_rows: m.segments.reduce((n, s) => n + s.rows, 0),
    rollup_segments: m.rollups.length,
    replacements: m.replacements.length,
    periods_closed: m.periods.filter((p) => p.state !== 'open').length,
    conflicts: m.conflicts.length,
    manifest_bytes: manifestBytes(m),
    last_compaction_at: iso(m.watermarks.last_compaction_ms),
    last_rollup_at: iso(m.watermarks.last_rollup_ms),
    commits: stats.commits,
    commit_retries: stats.conflicts,
    contention_errors: stats.contentionErrors,
    ambiguous_writes: stats.ambiguous,
  };
}

const SUMMED = [
  'generation',
  'raw_segments',
  'uncompacted_segments',
  'unrolled_segments',
  'raw_rows',
  'rollup_segments',
  'replacements',
  'periods_closed',
  'conflicts',
  'manifest_bytes',
  'commits',
  'commit_retries',
  'contention_errors',
  'ambiguous_writes',
] as const;

function latest(values: (string | null)[]): string | null {
  return values.reduce<string | null>((best, v) => (v !== null && (best === null || v > best) ? v : best), null);
}

function totalsOf(shards: readonly ShardOk[]): Totals {
  const t = Object.fromEntries(SUMMED.map((k) => [k, shards.reduce((n, s) => n + s[k], 0)])) as Record<(typeof SUMMED)[number], number>;
  return { ...t, last_compaction_at: latest(shards.map((s) => s.last_compaction_at)), last_rollup_at: latest(shards.map((s) => s.last_rollup_at)) };
}

export async function adminStatus(db: Database, engine: QueryEngine, metrics: Metrics): Promise<AdminStatus> {
  const shards = await Promise.all(
    db.shards.map(async (s) => {
      try {
        return shardStatus(await s.revalidate(), s.stats);
      } catch (err) {
        return { shard: s.shard, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
  const cache = engine.cache.stats();
  const samples = parsePrometheus(metrics.render({ shards: db.shards, cache }));
  const requests = samples
    .filter((s) => s.name === 'usagedb_http_requests_total')
    .map((s) => ({ method: s.labels.method ?? '', route: s.labels.route ?? '', status: Number(s.labels.status), count: s.value }));
  const lastRun = new Map(
    samples.filter((s) => s.name === 'usagedb_job_last_run_timestamp_seconds').map((s) => [`${s.labels.job}/${s.labels.outcome}`, s.value]),
  );
  const jobs = samples
    .filter((s) => s.name === 'usagedb_job_runs_total')
    .map((s) => {
      const at = lastRun.get(`${s.labels.job}/${s.labels.outcome}`);
      return {
        job: s.labels.job ?? '',
        outcome: s.labels.outcome ?? '',
        runs: s.value,
        last_run_at: at === undefined ? null : new Date(Math.round(at * 1000)).toISOString(),
      };
    });
  const lookups = cache.hits + cache.misses;
  const now = db.deps.clock.now();
  return {
    now: new Date(now).toISOString(),
    now_ms: now,
    database: { db_id: db.info.db_id, shards: db.info.shard_count, buckets: db.info.bucket_count, store: db.store.kind },
    totals: totalsOf(shards.filter((s): s is ShardOk => 'generation' in s)),
    shards,
    requests,
    cache: { ...cache, hit_rate: lookups === 0 ? null : cache.hits / lookups },
    jobs,
  };
}
