/**
 * Medians over repetitions, ratios to the reference, and the tables printed at the end (Markdown,
 * so they paste into the README as they are).
 */
import type { RunRecord, System } from './scenario.ts';

export const median = (xs: readonly number[]): number => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

export interface Summary {
  readonly table: RunRecord['table'];
  readonly system: System;
  readonly processes: number;
  readonly batch: number;
  readonly concurrency: number;
  readonly reps: number;
  /** Runs that could not start or crashed the harness side (their messages in `errors`). */
  readonly failed_runs: number;
  readonly events_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  /** p99 without each client's first request (cold processes, isolates, Durable Objects). */
  readonly p99_warm_ms: number;
  readonly requests: number;
  readonly http_errors: number;
  readonly status_503: number;
  readonly contention_503: number;
  readonly by_status: Record<string, number>;
  readonly first_error?: string;
  /** Every run: accepted (run + retry pass) == distinct events, no conflicts or rejections. */
  readonly exact: boolean;
  readonly totals_matched: number;
  /** Matched on the first read after each run (lower than totals_matched: a read-your-writes gap). */
  readonly totals_matched_first_read: number;
  readonly totals_checked: number;
  readonly commits?: number;
  readonly lost_races_per_commit?: number;
  readonly events_per_commit?: number;
  /** Events of failed requests that the retry pass found stored already (answered an error, yet counted); null when retries failed too. */
  readonly stored_despite_error: number | null;
  /** Failed batches that still failed (or were given up on) in the retry pass. */
  readonly retry_failed: number;
  /** Summed over the repetitions: distinct events sent, answered `accepted`, found in the database. */
  readonly unique_events: number;
  readonly accepted: number;
  readonly stored: number | null;
  readonly worker_log?: Record<string, number>;
  readonly errors: readonly string[];
  readonly notes: readonly string[];
}

const keyOf = (r: RunRecord) => `${r.table}|${r.system}|${r.processes}|${r.batch}x${r.concurrency}`;

export function summarize(records: readonly RunRecord[]): Summary[] {
  const groups = new Map<string, RunRecord[]>();
  for (const r of records) groups.set(keyOf(r), [...(groups.get(keyOf(r)) ?? []), r]);
  return [...groups.values()].map((runs) => {
    const first = runs[0]!;
    const ok = runs.filter((r) => r.drive !== undefined);
    const sum = (f: (r: RunRecord) => number | undefined) => runs.reduce((s, r) => s + (f(r) ?? 0), 0);
    const byStatus: Record<string, number> = {};
    for (const r of ok) for (const [k, v] of Object.entries(r.drive!.by_status)) byStatus[k] = (byStatus[k] ?? 0) + v;
    const withCommits = ok.filter((r) => r.commits !== undefined);
    const workerLog: Record<string, number> = {};
    for (const r of runs) for (const [k, v] of Object.entries(r.worker_log ?? {})) workerLog[k] = (workerLog[k] ?? 0) + v;
    const firstError = ok.map((r) => r.drive?.first_error).find((e) => e !== undefined);
    return {
      table: first.table,
      system: first.system,
      processes: first.processes,
      batch: first.batch,
      concurrency: first.concurrency,
      reps: runs.length,
      failed_runs: runs.length - ok.length,
      events_per_s: Math.round(median(ok.map((r) => r.drive!.events_per_s))),
      p50_ms: median(ok.map((r) => r.drive!.p50_ms)),
      p99_ms: median(ok.map((r) => r.drive!.p99_ms)),
      p99_warm_ms: median(ok.map((r) => r.drive!.p99_warm_ms ?? Number.NaN)),
      requests: sum((r) => r.drive?.requests),
      http_errors: sum((r) => r.drive?.http_errors),
      status_503: sum((r) => r.drive?.status_503),
      contention_503: sum((r) => r.drive?.contention_503),
      by_status: byStatus,
      ...(firstError === undefined ? {} : { first_error: firstError }),
      exact: ok.length === runs.length && ok.every((r) => r.exact?.ok === true),
      totals_matched: sum((r) => r.totals?.matched),
      totals_matched_first_read: sum((r) => r.totals?.matched_first_read),
      totals_checked: sum((r) => r.totals?.checked),
      ...(withCommits.length === 0
        ? {}
        : {
            commits: Math.round(median(withCommits.map((r) => r.commits!.commits))),
            lost_races_per_commit: median(withCommits.map((r) => r.commits!.lost_races_per_commit)),
            events_per_commit: Math.round(median(withCommits.map((r) => r.commits!.events_per_commit))),
          }),
      stored_despite_error: runs.some((r) => r.retry !== undefined && r.retry.stored_despite_error === null)
        ? null
        : sum((r) => r.retry?.stored_despite_error ?? 0),
      retry_failed: sum((r) => (r.retry === undefined ? 0 : r.retry.still_failed + r.retry.not_retried)),
      unique_events: sum((r) => r.unique_events),
      accepted: sum((r) => r.exact?.accepted),
      stored: runs.every((r) => r.exact?.stored !== undefined && r.exact.stored.error === undefined) ? sum((r) => r.exact?.stored?.count) : null,
      ...(first.system === 'worker' || first.system === 'worker-direct' ? { worker_log: workerLog } : {}),
      errors: runs.flatMap((r) => (r.error === undefined ? [] : [r.error.split('\n')[0]!])),
      notes: [...new Set(runs.flatMap((r) => (r.notes ?? []).map((n) => `rep ${r.rep}: ${n}`)))],
    };
  });
}

const int = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '—' : Math.round(n).toLocaleString('en-US'));
const ms = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? '—' : `${n >= 100 ? Math.round(n) : n.toFixed(1)} ms`);
const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '—');
const checks = (s: Summary | undefined) =>
  s === undefined
    ? '—'
    : `${s.exact ? 'exact' : 'NOT EXACT'}, ${s.totals_matched}/${s.totals_checked}${s.totals_matched_first_read < s.totals_matched ? ` (first read ${s.totals_matched_first_read})` : ''}`;

function markdown(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [header, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

export interface Ratio {
  readonly scenario: string;
  readonly fs_over_reference?: number;
  readonly minio_over_reference?: number;
  readonly fs_p50_over_reference?: number;
  readonly minio_p50_over_reference?: number;
}

export function ratios(summaries: readonly Summary[]): Ratio[] {
  const main = summaries.filter((s) => s.table === 'main');
  const shapes = [...new Set(main.map((s) => `${s.batch}x${s.concurrency}`))];
  const r2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : undefined);
  return shapes.flatMap((shape) => {
    const get = (sys: System) => main.find((s) => s.system === sys && `${s.batch}x${s.concurrency}` === shape);
    const ref = get('reference');
    if (ref === undefined) return [];
    const fs = get('ours-fs');
    const minio = get('ours-minio');
    const o = (v: number | undefined) => v;
    return [
      {
        scenario: shape,
        fs_over_reference: o(fs && r2(fs.events_per_s / ref.events_per_s)),
        minio_over_reference: o(minio && r2(minio.events_per_s / ref.events_per_s)),
        fs_p50_over_reference: o(fs && r2(fs.p50_ms / ref.p50_ms)),
        minio_p50_over_reference: o(minio && r2(minio.p50_ms / ref.p50_ms)),
      },
    ];
  });
}

export function tables(summaries: readonly Summary[]): string {
  const out: string[] = [];
  const main = summaries.filter((s) => s.table === 'main');
  if (main.length > 0) {
    const shapes = [...new Set(main.map((s) => `${s.batch}x${s.concurrency}`))];
    const label = (shape: string) => shape.replace('x', ' x ').replace(/\d{4,}/g, (d) => Number(d).toLocaleString('en-US'));
    const rows = shapes.map((shape) => {
      const get = (sys: System) => main.find((s) => s.system === sys && `${s.batch}x${s.concurrency}` === shape);
      const [ref, fs, minio] = [get('reference'), get('ours-fs'), get('ours-minio')];
      const cell = (s: Summary | undefined) => (s === undefined ? '—' : s.failed_runs === s.reps ? 'failed' : `${int(s.events_per_s)} (${ms(s.p50_ms)})`);
      return [
        label(shape),
        cell(ref),
        cell(fs),
        cell(minio),
        ref && fs ? ratio(fs.events_per_s, ref.events_per_s) : '—',
        ref && minio ? ratio(minio.events_per_s, ref.events_per_s) : '—',
        ref && fs ? ratio(fs.p50_ms, ref.p50_ms) : '—',
        ref && minio ? ratio(minio.p50_ms, ref.p50_ms) : '—',
        [fs, minio].map((s) => (s === undefined ? '—' : `${ms(s.p99_ms)}`)).join(' / '),
        [fs, minio].map((s) => (s?.events_per_commit === undefined ? '—' : int(s.events_per_commit))).join(' / '),
        [ref, fs, minio].map((s) => (s === undefined ? '—' : `${s.http_errors}`)).join(' / '),
        [ref, fs, minio].map(checks).join('; '),
      ];
    });
    out.push(
      'Single process, events/s (p50), medians of the repetitions:',
      markdown(
        [
          'batch x clients',
          'reference',
          'ours, directory',
          'ours, MinIO',
          'dir/ref',
          'MinIO/ref',
          'p50 dir/ref',
          'p50 MinIO/ref',
          'p99 dir / MinIO',
          'events per commit dir / MinIO',
          'HTTP errors ref / dir / MinIO',
          'exact, totals matched ref; dir; MinIO',
        ],
        rows,
      ),
    );
  }
  const multi = summaries.filter((s) => s.table === 'multi').sort((a, b) => a.batch - b.batch || a.processes - b.processes);
  if (multi.length > 0) {
    const one = (s: Summary) => multi.find((m) => m.processes === 1 && m.batch === s.batch && m.concurrency === s.concurrency);
    out.push(
      '',
      'Several server processes on one MinIO bucket (requests round-robin):',
      markdown(
        [
          'processes',
          'batch x clients',
          'events/s',
          'vs 1 process',
          'p50',
          'p99',
          'commits',
          'lost races per commit',
          'events per commit',
          '503s (contention)',
          'HTTP errors',
          'events stored by failed requests',
          'exact, totals',
        ],
        multi.map((s) => [
          String(s.processes),
          `${s.batch} x ${s.concurrency}`,
          s.failed_runs === s.reps ? 'failed' : int(s.events_per_s),
          ratio(s.events_per_s, one(s)?.events_per_s ?? Number.NaN),
          ms(s.p50_ms),
          ms(s.p99_ms),
          int(s.commits),
          s.lost_races_per_commit === undefined ? '—' : s.lost_races_per_commit.toFixed(2),
          int(s.events_per_commit),
          `${s.status_503} (${s.contention_503})`,
          String(s.http_errors),
          s.stored_despite_error === null ? 'unknown' : String(s.stored_despite_error),
          checks(s),
        ]),
      ),
    );
  }
  const worker = summaries.filter((s) => s.table === 'worker');
  if (worker.length > 0) {
    out.push(
      '',
      'Worker in workerd (wrangler dev) on MinIO:',
      markdown(
        [
          'path',
          'batch x clients',
          'requests',
          'failed',
          'by status',
          'events/s (answered 200)',
          'p50',
          'p99',
          'p99 without first requests',
          'failed again when re-sent one at a time (or given up)',
          'distinct events: sent / accepted / stored',
          '"different request context" lines',
          'exact, totals',
          'first error',
        ],
        worker.map((s) => [
          s.system === 'worker' ? 'sequencers' : 'direct',
          `${s.batch} x ${s.concurrency}`,
          String(s.requests),
          String(s.http_errors),
          Object.entries(s.by_status)
            .map(([k, v]) => `${k === '0' ? 'network' : k}: ${v}`)
            .join(', '),
          int(s.events_per_s),
          ms(s.p50_ms),
          ms(s.p99_ms),
          ms(s.p99_warm_ms),
          String(s.retry_failed),
          `${int(s.unique_events)} / ${int(s.accepted)} / ${s.stored === null ? '—' : int(s.stored)}`,
          String(s.worker_log?.['different request context'] ?? '—'),
          checks(s),
          (s.first_error ?? s.errors[0] ?? '').replace(/\s+/g, ' ').replace(/\|/g, '\\|').slice(0, 160),
        ]),
      ),
    );
  }
  for (const s of summaries) for (const n of s.notes) out.push('', `${s.system} ${s.batch}x${s.concurrency}, ${n}`);
  const failures = summaries.filter((s) => s.errors.length > 0);
  for (const s of failures) out.push('', `${s.system} ${s.processes}p ${s.batch}x${s.concurrency}: ${s.errors.length} run(s) failed: ${s.errors[0]}`);
  return out.join('\n');
}
