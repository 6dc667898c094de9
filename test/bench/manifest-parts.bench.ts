/**
 * `npm run bench:parts`: the two-level manifest's cost against history size, against MinIO (or
 * USAGEDB_TEST_S3_ENDPOINT). One shard holds a fixed rate of raw segment entries (5,000 a year,
 * ~13.7 a day) over histories of growing length (7 days to 4 years); each timed commit replaces
 * the newest entry by one ingested now (ingest-like). Also timed:
 * a commit that replaces an entry of a settled month (compaction-like: one part rewritten), and a
 * fresh instance's first load (current.json plus every part). "whole" is the same code with no
 * month ever settled, so current.json holds every entry, as before the split.
 * Prints a table and writes test/bench/results/manifest-parts.json.
 */
import type { EditOf } from '../../src/manifest/edits.ts';
import { ShardKeys } from '../../src/manifest/keys.ts';
import { ManifestStore } from '../../src/manifest/manifest-store.ts';
import type { RawSegmentEntry } from '../../src/manifest/schema.ts';
import { S3Store } from '../../src/store/s3.ts';
import { realTimeDeps } from '../support/deps.ts';
import { benchSegment } from '../support/fixtures.ts';
import { startTestS3, type S3Endpoint } from '../support/minio.ts';
import { writeResult } from './results.ts';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const DAY = 86_400_000;
const NOW = Date.now();

const segment = (i: number, ts: number): RawSegmentEntry => benchSegment(i, ts);

const added = (segments: RawSegmentEntry[]): EditOf<'addRawSegments'> => ({ op: 'addRawSegments', segments, usage_months: [], adjustments: [], at_ms: 1 });
const swapped = (from: string, to: RawSegmentEntry, n: number): EditOf<'expireReplacements' | 'replaceSegments'>[] => [
  { op: 'expireReplacements', now_ms: n },
  { op: 'replaceSegments', replacement_id: `swap-${n}`, at_ms: n, delete_after_ms: n, inputs: [from], outputs: [to], justified_by: [], conflicts: [] },
];

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const round = (x: number) => Math.round(x * 10) / 10;

async function timed(commits: number, seconds: number, one: (n: number) => Promise<void>): Promise<{ commits: number; p50_ms: number; p99_ms: number }> {
  const times: number[] = [];
  const end = Date.now() + seconds * 1000;
  for (let n = 0; Date.now() < end || n < commits; n++) {
    const t0 = performance.now();
    await one(n);
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { commits: times.length, p50_ms: round(pct(times, 50)), p99_ms: round(pct(times, 99)) };
}

const PER_DAY = 5000 / 365;

async function scenario(s3: S3Endpoint, prefix: string, days: number, mode: 'whole' | 'parts') {
  const entries = Math.round(days * PER_DAY);
  const store = new S3Store({ ...s3, forcePathStyle: true });
  const parts = mode === 'whole' ? { settleMs: Number.POSITIVE_INFINITY } : {};
  const open = (seed: number) => new ManifestStore({ store, keys: new ShardKeys(prefix, 0, 1), shard: 0, deps: realTimeDeps(seed), parts });
  const ms = open(entries);
  // Evenly over the last `days` days, oldest first, each ingested when its data happened.
  await ms.commit(added(Array.from({ length: entries }, (_, i) => segment(i, NOW - days * DAY + Math.floor((i * days * DAY) / entries)))));
  let next = entries;
  const newest = () => ms.peek()!.manifest.segments[ms.peek()!.manifest.segments.length - 1]!.id;
  const recent = await timed(10, SECONDS, async (n) => {
    await ms.commitAll(swapped(newest(), segment(next++, Date.now() - 3_600_000), n));
  });
  const head = await store.head(ms.keys.current);
  const wholeBytes = JSON.stringify(ms.peek()!.manifest).length;
  // A settled month's entry replaced: that month's part is rewritten (compaction of old data).
  const oldMonth = await timed(5, SECONDS / 2, async (n) => {
    const m = ms.peek()!.manifest;
    await ms.commitAll(swapped(m.segments[0]!.id, segment(next++, m.segments[0]!.max_ts - 3_600_000), 1_000_000 + n));
  });
  const cold: number[] = [];
  for (let i = 0; i < 5; i++) {
    const fresh = open(100 + i);
    const t0 = performance.now();
    await fresh.load();
    cold.push(performance.now() - t0);
  }
  cold.sort((a, b) => a - b);
  const partObjects = (await store.list(ms.keys.partsPrefix)).items.length;
  return {
    mode,
    history_days: days,
    entries,
    whole_manifest_bytes: wholeBytes,
    current_json_bytes: head?.size ?? 0,
    parts_listed: partObjects,
    recent_commit: recent,
    settled_month_commit: oldMonth,
    cold_load_p50_ms: round(pct(cold, 50)),
  };
}

async function main(): Promise<void> {
  const running = await startTestS3('usagedb-bench');
  console.log(`S3 endpoint: ${running.s3.via}`);
  const run = `bench/parts-${Date.now().toString(36)}`;
  try {
    const rows = [];
    for (const mode of ['whole', 'parts'] as const) {
      for (const days of [7, 90, 365, 1460]) {
        const r = await scenario(running.s3, `${run}/${mode}-${days}`, days, mode);
        rows.push(r);
        console.log(
          `${mode.padEnd(5)} days=${String(days).padStart(5)} entries=${String(r.entries).padStart(6)}  current.json=${(r.current_json_bytes / 1024).toFixed(1).padStart(7)} KiB  recent commit p50=${r.recent_commit.p50_ms} ms p99=${r.recent_commit.p99_ms} ms  settled-month commit p50=${r.settled_month_commit.p50_ms} ms  cold load p50=${r.cold_load_p50_ms} ms`,
        );
      }
    }
    writeResult('manifest-parts', running.s3.via, { seconds_per_scenario: SECONDS, scenarios: rows });
    console.table(
      rows.map((r) => ({
        mode: r.mode,
        days: r.history_days,
        entries: r.entries,
        'current.json KiB': round(r.current_json_bytes / 1024),
        'whole KiB': round(r.whole_manifest_bytes / 1024),
        parts: r.parts_listed,
        'commit p50': r.recent_commit.p50_ms,
        'commit p99': r.recent_commit.p99_ms,
        'old-month commit p50': r.settled_month_commit.p50_ms,
        'cold load p50': r.cold_load_p50_ms,
      })),
    );
  } finally {
    await running.stop();
  }
}

await main();
