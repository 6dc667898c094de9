/**
 * Counters and latency histograms for GET /metrics in Prometheus text format. Commit, retry,
 * contention and cache figures are read from the live objects at scrape time.
 */

const BUCKETS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

interface Histogram {
  readonly counts: number[];
  sum: number;
  count: number;
}

export interface ScrapeSources {
  readonly shards: readonly {
    readonly shard: number;
    readonly stats: { commits: number; conflicts: number; contentionErrors: number; ambiguous: number; skipped: number };
  }[];
  readonly cache: { hits: number; misses: number; bytes: number; entries: number };
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private readonly jobs = new Map<string, number>();
  private readonly jobLastRun = new Map<string, number>();

  observeRequest(method: string, route: string, status: number, ms: number): void {
    const k = `method="${esc(method)}",route="${esc(route)}",status="${status}"`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
    const hk = `method="${esc(method)}",route="${esc(route)}"`;
    let h = this.latency.get(hk);
    if (h === undefined) this.latency.set(hk, (h = { counts: BUCKETS_MS.map(() => 0), sum: 0, count: 0 }));
    BUCKETS_MS.forEach((b, i) => {
      if (ms <= b) h.counts[i]!++;
    });
    h.sum += ms / 1000;
    h.count++;
  }

  observeJob(job: string, outcome: 'ok' | 'error', atMs: number = Date.now()): void {
    const k = `job="${esc(job)}",outcome="${outcome}"`;
    this.jobs.set(k, (this.jobs.get(k) ?? 0) + 1);
    this.jobLastRun.set(k, atMs);
  }

  render(src: ScrapeSources): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string) => out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    family('usagedb_http_requests_total', 'counter', 'HTTP requests by route and status.');
    for (const [k, v] of this.requests) out.push(`usagedb_http_requests_total{${k}} ${v}`);
    family('usagedb_http_request_duration_seconds', 'histogram', 'HTTP request latency.');
    for (const [k, h] of this.latency) {
      for (const [i, b] of BUCKETS_MS.entries()) out.push(`usagedb_http_request_duration_seconds_bucket{${k},le="${b / 1000}"} ${h.counts[i]}`);
      out.push(`usagedb_http_request_duration_seconds_bucket{${k},le="+Inf"} ${h.count}`);
      out.push(`usagedb_http_request_duration_seconds_sum{${k}} ${h.sum}`, `usagedb_http_request_duration_seconds_count{${k}} ${h.count}`);
    }
    const perShard = (name: string, help: string, pick: (s: ScrapeSources['shards'][number]['stats']) => number) => {
      family(name, 'counter', help);
      for (const s of src.shards) out.push(`${name}{shard="${s.shard}"} ${pick(s.stats)}`);
    };
    perShard('usagedb_manifest_commits_total', 'Manifest commits that succeeded.', (s) => s.commits);
    perShard('usagedb_manifest_commit_retries_total', 'Commit attempts that lost a race and re-ran their mutation.', (s) => s.conflicts);
    perShard('usagedb_manifest_contention_errors_total', 'Commits that gave up after their attempt or time bound.', (s) => s.contentionErrors);
    perShard('usagedb_manifest_ambiguous_writes_total', 'Manifest PUTs with an unknown outcome, decided by read-back.', (s) => s.ambiguous);
    family('usagedb_segment_cache_hits_total', 'counter', 'Segment cache hits.');
    out.push(`usagedb_segment_cache_hits_total ${src.cache.hits}`);
    family('usagedb_segment_cache_misses_total', 'counter', 'Segment cache misses.');
    out.push(`usagedb_segment_cache_misses_total ${src.cache.misses}`);
    family('usagedb_segment_cache_bytes', 'gauge', 'Bytes held by the segment cache.');
    out.push(`usagedb_segment_cache_bytes ${src.cache.bytes}`);
    family('usagedb_job_runs_total', 'counter', 'Background job runs by outcome.');
    for (const [k, v] of this.jobs) out.push(`usagedb_job_runs_total{${k}} ${v}`);
    family(
      'usagedb_job_last_run_timestamp_seconds',
      'gauge',
      'When a job run by this instance last ended, by outcome (GC keeps no watermark in the manifest).',
    );
    for (const [k, v] of this.jobLastRun) out.push(`usagedb_job_last_run_timestamp_seconds{${k}} ${v / 1000}`);
    return `${out.join('\n')}\n`;
  }
}
