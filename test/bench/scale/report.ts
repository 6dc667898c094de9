/** bench:scale's table and issue 15's goals, evaluated as numbers (no asserts). */
import type { FirstIngest, StoredFigures } from './run.ts';

export interface SizeResult {
  readonly store: string;
  readonly size: string;
  readonly days: number;
  readonly events: number;
  readonly events_in_window: number;
  readonly build_seconds: { ingest: number; jobs: number; catch_up: number };
  readonly job_runs: number;
  readonly catch_up_runs: number;
  readonly job_errors: Record<string, number>;
  readonly ingest_retries: Record<string, number>;
  readonly manifest_bytes_per_shard: { max: number; mean: number; shards: number };
  readonly commit_ms: { n: number; events_per_commit: number; p50: number; p99: number };
  readonly fresh_process: FirstIngest;
  readonly dedupe_bytes_per_window_event: number | null;
  readonly monthly_total_ms: {
    month: { from: string; to: string };
    accounts: number;
    cold_p50: number;
    cold_p95: number;
    warm_p50: number;
    warm_p95: number;
    exact: boolean;
    mismatches: string[];
  };
  readonly segments: StoredFigures['segments'];
  readonly objects: number;
  readonly stored_bytes: number;
  readonly stored_by_kind: Record<string, { objects: number; bytes: number }>;
  readonly bytes_per_event: number;
  readonly gzip_ndjson_bytes_per_event: number;
  readonly stored_vs_gzip: number;
  readonly older_than_window: { rows: number; bytes_per_event: number | null; vs_gzip: number | null };
  /** The same database 25 simulated hours after its last jobs, once the scheduler's jobs and GC ran again. */
  readonly a_day_later?: { bytes_per_event: number; stored_vs_gzip: number; stored_by_kind: Record<string, { objects: number; bytes: number }> };
  readonly truth: { events: number; quantity: number; month_totals: Record<string, number> };
}

export interface Goal {
  readonly goal: string;
  readonly store: string;
  readonly value: number | null;
  readonly limit: number;
  readonly pass: boolean | null;
  readonly note?: string;
}

const mb = (b: number | null) => (b === null ? 'n/a' : `${(b / 1e6).toFixed(1)} MB`);
const kb = (b: number) => `${(b / 1024).toFixed(1)} KB`;

export function evaluateGoals(results: readonly SizeResult[]): Goal[] {
  const goals: Goal[] = [];
  const le = (goal: string, store: string, value: number | null, limit: number, note?: string) =>
    goals.push({ goal, store, value, limit, pass: value === null || Number.isNaN(value) ? null : value <= limit, ...(note === undefined ? {} : { note }) });
  for (const store of [...new Set(results.map((r) => r.store))]) {
    const rs = results.filter((r) => r.store === store).sort((a, b) => a.days - b.days);
    const small = rs[0];
    const large = rs[rs.length - 1];
    if (small === undefined || large === undefined) continue;
    const sizes = `${small.size} -> ${large.size}`;
    le('commit p50 growth, smallest -> largest history (x)', store, Math.round((large.commit_ms.p50 / small.commit_ms.p50) * 100) / 100, 1.5, sizes);
    le('manifest bytes per shard, max over sizes', store, Math.max(...rs.map((r) => r.manifest_bytes_per_shard.max)), 256 * 1024);
    // The fresh-process goals are stated for a full window ("5M events within the window"): judged
    // on the size with the most events in it, not on the longest history.
    const full = [...rs].sort((a, b) => a.events_in_window - b.events_in_window || a.days - b.days)[rs.length - 1]!;
    const windowNote = `${full.size}: ${full.events_in_window} events in the ${full.events_in_window === full.events ? 'whole history' : 'dedupe window'} (goal is stated for 5M)`;
    if (store !== 'memory') {
      le('fresh process first ingest (ms)', store, full.fresh_process.first_ingest_ms, store === 'minio' ? 2000 : 1000, windowNote);
      le('dedupe memory per event in window (bytes, RSS delta)', store, full.dedupe_bytes_per_window_event, 8, windowNote);
      le(
        'RSS after first ingest (MB)',
        store,
        full.fresh_process.rss_after_first_bytes === null ? null : Math.round(full.fresh_process.rss_after_first_bytes / 1e5) / 10,
        200,
        windowNote,
      );
    }
    le('all stored bytes per event vs gzip NDJSON (x)', store, large.stored_vs_gzip, 0.6, large.size);
    le(
      'all stored bytes per event vs gzip NDJSON, a day after the last jobs (x)',
      store,
      large.a_day_later?.stored_vs_gzip ?? null,
      0.6,
      `${large.size}: jobs and GC 25 h later`,
    );
    le('bytes per event older than the window vs gzip NDJSON (x)', store, large.older_than_window.vs_gzip, 0.5, large.size);
    if (store === 'minio') le('cold monthly account total p95 (ms)', store, large.monthly_total_ms.cold_p95, 300, large.size);
    le('warm monthly account total p50 (ms)', store, large.monthly_total_ms.warm_p50, 10, large.size);
  }
  return goals;
}

export function printTable(results: readonly SizeResult[]): void {
  const cols = results.map((r) => `${r.store} ${r.size}`);
  const rows: [string, (r: SizeResult) => string][] = [
    ['events', (r) => r.events.toLocaleString('en-US')],
    ['events in dedupe window', (r) => r.events_in_window.toLocaleString('en-US')],
    ['build s (ingest / jobs / catch-up)', (r) => `${r.build_seconds.ingest} / ${r.build_seconds.jobs} / ${r.build_seconds.catch_up}`],
    ['manifest bytes per shard (max)', (r) => kb(r.manifest_bytes_per_shard.max)],
    ['commit p50 / p99 ms (small ingest)', (r) => `${r.commit_ms.p50} / ${r.commit_ms.p99}`],
    ['fresh process: startup ms', (r) => String(r.fresh_process.startup_ms)],
    ['fresh process: first ingest ms', (r) => String(r.fresh_process.first_ingest_ms)],
    ['fresh process: second ingest ms', (r) => String(r.fresh_process.second_ingest_ms)],
    ['RSS after first ingest', (r) => mb(r.fresh_process.rss_after_first_bytes)],
    ['dedupe bytes / window event (RSS delta)', (r) => (r.dedupe_bytes_per_window_event === null ? 'n/a' : String(r.dedupe_bytes_per_window_event))],
    ['monthly total cold p50 / p95 ms', (r) => `${r.monthly_total_ms.cold_p50} / ${r.monthly_total_ms.cold_p95}`],
    ['monthly total warm p50 / p95 ms', (r) => `${r.monthly_total_ms.warm_p50} / ${r.monthly_total_ms.warm_p95}`],
    ['totals exact', (r) => String(r.monthly_total_ms.exact)],
    ['job runs failed (scheduler would log)', (r) => String(Object.values(r.job_errors).reduce((a, x) => a + x, 0))],
    [
      'raw segments (compacted / rolled / sparse)',
      (r) => `${r.segments.raw} (${r.segments.raw_compacted} / ${r.segments.raw_rolled} / ${r.segments.raw_sparse ?? 'n/a'})`,
    ],
    ['rollup segments', (r) => String(r.segments.rollup)],
    ['objects', (r) => r.objects.toLocaleString('en-US')],
    ['stored bytes / event', (r) => String(r.bytes_per_event)],
    [
      '  raw data / hashes / manifests / history',
      (r) => {
        const k = (x: string) => ((r.stored_by_kind[x]?.bytes ?? 0) / Math.max(1, r.events)).toFixed(2);
        return `${k('raw_data')} / ${k('raw_hashes')} / ${k('manifest_current')} / ${k('manifest_history')}`;
      },
    ],
    [
      '  rollups / raw not in current manifest',
      (r) =>
        `${((r.stored_by_kind.rollup?.bytes ?? 0) / Math.max(1, r.events)).toFixed(2)} / ${((r.stored_by_kind.raw_unreferenced?.bytes ?? 0) / Math.max(1, r.events)).toFixed(2)}`,
    ],
    ['gzip NDJSON bytes / event', (r) => String(r.gzip_ndjson_bytes_per_event)],
    ['stored / gzip', (r) => String(r.stored_vs_gzip)],
    [
      'a day later: stored bytes / event, / gzip',
      (r) => (r.a_day_later === undefined ? 'n/a' : `${r.a_day_later.bytes_per_event}, ${r.a_day_later.stored_vs_gzip}`),
    ],
    ['older than window: bytes/event, / gzip', (r) => `${r.older_than_window.bytes_per_event ?? 'n/a'}, ${r.older_than_window.vs_gzip ?? 'n/a'}`],
  ];
  const w0 = Math.max(...rows.map(([n]) => n.length));
  const cells = rows.map(([, f]) => results.map(f));
  const ws = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (name: string, vals: readonly string[]) => `${name.padEnd(w0)} | ${vals.map((v, i) => v.padStart(ws[i]!)).join(' | ')}`;
  console.log(line('', cols));
  console.log('-'.repeat(line('', cols).length));
  for (const [i, [n]] of rows.entries()) console.log(line(n, cells[i]!));
}

export function printGoals(goals: readonly Goal[]): void {
  console.log('\nissue 15 goals:');
  for (const g of goals) {
    const verdict = g.pass === null ? 'n/a ' : g.pass ? 'PASS' : 'FAIL';
    console.log(`  ${verdict} [${g.store}] ${g.goal}: ${g.value ?? 'n/a'} (<= ${g.limit})${g.note === undefined ? '' : ` — ${g.note}`}`);
  }
}
