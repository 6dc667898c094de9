/**
 * `npm run bench:commit`: manifest commit latency against manifest size, and commit throughput
 * by concurrency on one shard and spread over shards, against MinIO (or USAGEDB_TEST_S3_ENDPOINT).
 * Prints a table and writes test/bench/results/commit.json. Each scenario is bounded in time.
 */
import { ShardKeys } from '../../src/manifest/keys.ts';
import { ManifestStore } from '../../src/manifest/manifest-store.ts';
import type { EditOf } from '../../src/manifest/edits.ts';
import type { RawSegmentEntry } from '../../src/manifest/schema.ts';
import { S3Store } from '../../src/store/s3.ts';
import { realTimeDeps } from '../support/deps.ts';
import { benchSegment } from '../support/fixtures.ts';
import { writeResult } from './results.ts';
import { startTestS3, type S3Endpoint } from '../support/minio.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);

const segment = (i: number): RawSegmentEntry => benchSegment(i, 1_767_225_600_000 + i * 1000, true);

const added = (segments: RawSegmentEntry[]): EditOf<'addRawSegments'> => ({ op: 'addRawSegments', segments, usage_months: [], adjustments: [], at_ms: 1 });

/**
 * One commit that swaps segment `from` for `to` and forgets the previous swap's replacement
 * record, so that the manifest keeps its size from one commit to the next.
 */
const swapped = (from: string, to: RawSegmentEntry, n: number): EditOf<'expireReplacements' | 'replaceSegments'>[] => [
  { op: 'expireReplacements', now_ms: n },
  { op: 'replaceSegments', replacement_id: `swap-${n}`, at_ms: n, delete_after_ms: n, inputs: [from], outputs: [to], justified_by: [], conflicts: [] },
];

function s3Store(s3: S3Endpoint): S3Store {
  return new S3Store({ ...s3, forcePathStyle: true });
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const round = (x: number) => Math.round(x * 10) / 10;

async function latencyBySize(s3: S3Endpoint, prefix: string, entries: number) {
  const ms = new ManifestStore({ store: s3Store(s3), keys: new ShardKeys(prefix, 0, 1), shard: 0, deps: realTimeDeps(entries) });
  await ms.commit(added(Array.from({ length: entries }, (_, i) => segment(i))));
  const manifestBytes = JSON.stringify(ms.peek()!.manifest).length;
  const times: number[] = [];
  const end = Date.now() + SECONDS * 1000;
  let next = entries;
  while (Date.now() < end || times.length < 10) {
    const t0 = performance.now();
    const oldest = ms.peek()!.manifest.segments[0]!.id;
    await ms.commitAll(swapped(oldest, segment(next), next));
    next++;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { entries, manifest_bytes: manifestBytes, commits: times.length, p50_ms: round(pct(times, 50)), p99_ms: round(pct(times, 99)) };
}

async function throughput(s3: S3Endpoint, prefix: string, committers: number, shards: number) {
  const stores = Array.from({ length: committers }, (_, i) => {
    const shard = i % shards;
    return new ManifestStore({
      store: s3Store(s3),
      keys: new ShardKeys(prefix, shard, shards),
      shard,
      deps: realTimeDeps(1000 + i),
      policy: { maxAttempts: 10_000, maxDurationMs: 60_000 },
    });
  });
  // Each committer owns one segment entry and swaps it for a new one on every commit.
  let n = 1_000_000;
  const own = stores.map(() => segment(n++));
  await Promise.all(stores.map((ms, i) => ms.commit(added([own[i]!]))));
  const setup = { commits: stores.length, conflicts: stores.reduce((s, m) => s + m.stats.conflicts, 0) };
  const started = performance.now();
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(
    stores.map(async (ms, i) => {
      while (Date.now() < end) {
        const next = segment(n++);
        await ms.commitAll(swapped(own[i]!.id, next, n));
        own[i] = next;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const commits = stores.reduce((s, m) => s + m.stats.commits, 0) - setup.commits;
  const retries = stores.reduce((s, m) => s + m.stats.conflicts, 0) - setup.conflicts;
  return {
    committers,
    shards,
    commits,
    retries,
    seconds: round(seconds),
    commits_per_s: round(commits / seconds),
    retries_per_commit: round(retries / Math.max(1, commits)),
  };
}

async function main(): Promise<void> {
  const running = await startTestS3('usagedb-bench');
  console.log(`S3 endpoint: ${running.s3.via}`);
  const run = `bench/commit-${Date.now().toString(36)}`;
  try {
    const bySize = [];
    for (const n of [100, 1000, 5000]) {
      const r = await latencyBySize(running.s3, `${run}/size-${n}`, n);
      bySize.push(r);
      console.log(
        `latency  entries=${n.toString().padStart(5)}  manifest=${(r.manifest_bytes / 1024).toFixed(0).padStart(5)} KiB  p50=${r.p50_ms} ms  p99=${r.p99_ms} ms  (${r.commits} commits)`,
      );
    }
    const byConcurrency = [];
    for (const c of [1, 4, 16]) {
      const r = await throughput(running.s3, `${run}/conc-${c}`, c, 1);
      byConcurrency.push(r);
      console.log(`one shard   committers=${String(c).padStart(2)}  ${r.commits_per_s} commits/s  retries/commit=${r.retries_per_commit}`);
    }
    const byShards = [];
    for (const s of [1, 4, 16]) {
      const r = await throughput(running.s3, `${run}/shards-${s}`, 16, s);
      byShards.push(r);
      console.log(`16 committers over shards=${String(s).padStart(2)}  ${r.commits_per_s} commits/s  retries/commit=${r.retries_per_commit}`);
    }
    writeResult('commit', running.s3.via, {
      seconds_per_scenario: SECONDS,
      latency_by_manifest_size: bySize,
      throughput_one_shard: byConcurrency,
      throughput_by_shards: byShards,
    });
    console.table(bySize);
    console.table([...byConcurrency, ...byShards]);
  } finally {
    await running.stop();
  }
}

await main();
