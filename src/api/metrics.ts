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
  /** Several Node processes on one bucket (USAGEDB_PEER_URL): forwarding and lease counters. */
  readonly peers?: PeerScrape;
}

/** Counters of peering (runtime/peer-forwarder.ts, ingest/shard-lease.ts), summed over shards. */
export interface PeerScrape {
  readonly forwardedRequests: number;
  readonly forwardedEvents: number;
  readonly forwardUnknown: number;
  readonly selfRequests: number;
  readonly selfEvents: number;
  readonly directRequests: number;
  readonly directEvents: number;
  readonly receivedRequests: number;
  readonly receivedEvents: number;
  readonly acquisitions: number;
  readonly renewals: number;
  readonly followed: number;
  readonly directFallbacks: number;
  readonly releases: number;
}

const PEER_METRICS: readonly [string, keyof PeerScrape, string][] = [
  ['usagedb_peer_forwarded_requests_total', 'forwardedRequests', 'Shard submissions sent to the process holding the shard lease.'],
  ['usagedb_peer_forwarded_events_total', 'forwardedEvents', 'Events in shard submissions sent to the lease holder.'],
  ['usagedb_peer_forward_unknown_total', 'forwardUnknown', 'Forwarded submissions whose outcome is unknown (answered 503 commit_outcome_unknown).'],
  ['usagedb_peer_received_requests_total', 'receivedRequests', 'Shard submissions other processes forwarded to this one.'],
  ['usagedb_peer_received_events_total', 'receivedEvents', 'Events other processes forwarded to this one.'],
  ['usagedb_peer_self_requests_total', 'selfRequests', "Shard submissions of this process's clients committed here as the lease holder."],
  ['usagedb_peer_self_events_total', 'selfEvents', "Events of this process's clients committed here as the lease holder."],
  ['usagedb_peer_direct_requests_total', 'directRequests', 'Shard submissions committed here without the lease (holder unreachable, lease unreadable).'],
  ['usagedb_peer_direct_events_total', 'directEvents', 'Events committed here without the lease.'],
  [
    'usagedb_peer_direct_fallbacks_total',
    'directFallbacks',
    'Times a shard was switched to direct commits (holder refused the connection, lease store trouble).',
  ],
  ['usagedb_shard_lease_acquisitions_total', 'acquisitions', 'Shard leases this process took.'],
  ['usagedb_shard_lease_renewals_total', 'renewals', 'Shard lease renewals.'],
  ['usagedb_shard_lease_followed_total', 'followed', 'Shard leases found held by another process (then followed).'],
  ['usagedb_shard_lease_releases_total', 'releases', 'Shard leases released at shutdown.'],
];

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
    if (src.peers !== undefined) {
      for (const [name, key, help] of PEER_METRICS) {
        family(name, 'counter', help);
        out.push(`${name} ${src.peers[key]}`);
      }
    }
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
