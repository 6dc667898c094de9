/**
 * After a run: totals of sampled account-months against the workload's truth (over HTTP, like a
 * billing client), and our servers' commit counters from GET /metrics (admin scope).
 */
import type { AccountMonth } from './workload.ts';

export interface TotalsCheck {
  readonly checked: number;
  readonly matched: number;
  /** Matched on the read right after the run (before any re-read). */
  readonly matched_first_read: number;
  /** Seconds until every sample matched when the first read did not (null: never within the re-reads). */
  readonly settled_after_s?: number | null;
  readonly mismatches: readonly { account_id: string; month: string; expected: string; got: string; expected_count: number; got_count: number | null }[];
  readonly errors: number;
  readonly first_error?: string | undefined;
  readonly first_read_mismatches?: TotalsCheck['mismatches'];
  readonly first_read_error?: string | undefined;
}

function monthRange(month: string): { from: string; to: string } {
  const [y, m] = month.split('-').map(Number) as [number, number];
  const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
  return { from: iso(Date.UTC(y, m - 1, 1)), to: iso(Date.UTC(y, m, 1)) };
}

interface UsageLine {
  readonly quantity?: string | number;
  readonly count?: number;
}

/**
 * Reads the sample right after the run; if any total is off, reads again every second (up to
 * `rereads` times, within `budgetMs`) and reports both the first read and when it settled: a total
 * right only later is a read-your-writes gap (the reference has one while it flushes its memtable).
 */
export async function checkTotals(
  url: string,
  headers: Record<string, string>,
  sample: readonly AccountMonth[],
  system: 'ours' | 'reference',
  rereads = 10,
  budgetMs = 30_000,
): Promise<TotalsCheck> {
  const started = performance.now();
  const first = await readTotals(url, headers, sample, system);
  let last = first;
  for (let i = 0; i < rereads && (last.matched < last.checked || last.errors > 0) && performance.now() - started < budgetMs; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    last = await readTotals(url, headers, sample, system);
  }
  const settled = last.matched === last.checked && last.errors === 0;
  const reread = last !== first;
  return {
    ...last,
    matched_first_read: first.matched,
    ...(reread
      ? {
          settled_after_s: settled ? Math.round((performance.now() - started) / 100) / 10 : null,
          first_read_mismatches: first.mismatches,
          first_read_error: first.first_error,
        }
      : {}),
  };
}

type Read = Omit<TotalsCheck, 'matched_first_read' | 'settled_after_s'>;

/**
 * Sums every line of GET /v1/accounts/{a}/usage?from&to over the month. Ours counts exactly by
 * default (source=auto); the reference is asked for `source=raw` (its rollup source counts rows).
 */
async function readTotals(url: string, headers: Record<string, string>, sample: readonly AccountMonth[], system: 'ours' | 'reference'): Promise<Read> {
  let matched = 0;
  let errors = 0;
  let firstError: string | undefined;
  const mismatches: TotalsCheck['mismatches'][number][] = [];
  for (const am of sample) {
    // A server that stopped answering (two failed reads) is not asked the rest of the sample.
    if (errors >= 2) {
      errors++;
      continue;
    }
    const { from, to } = monthRange(am.month);
    const q = new URLSearchParams({ from, to, ...(system === 'reference' ? { source: 'raw' } : {}) });
    try {
      const res = await fetch(`${url}/v1/accounts/${encodeURIComponent(am.account_id)}/usage?${q}`, { headers, signal: AbortSignal.timeout(15_000) });
      const text = await res.text();
      if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 300)}`);
      const lines = (JSON.parse(text) as { lines?: UsageLine[] }).lines ?? [];
      const quantity = lines.reduce((s, l) => s + BigInt(l.quantity ?? 0), 0n);
      // The reference's lines may omit counts; compare them only where given.
      const counts = lines.every((l) => typeof l.count === 'number') ? lines.reduce((s, l) => s + (l.count ?? 0), 0) : null;
      if (quantity === am.quantity && (counts === null || counts === am.count)) matched++;
      else
        mismatches.push({
          account_id: am.account_id,
          month: am.month,
          expected: am.quantity.toString(),
          got: quantity.toString(),
          expected_count: am.count,
          got_count: counts,
        });
    } catch (err) {
      errors++;
      firstError ??= (err as Error).message;
    }
  }
  return { checked: sample.length, matched, mismatches: mismatches.slice(0, 5), errors, ...(firstError === undefined ? {} : { first_error: firstError }) };
}

export interface StoredTotal {
  readonly count: number;
  readonly quantity: string;
  /** count == distinct events sent and quantity == their sum: nothing lost, nothing counted twice. */
  readonly exact: boolean;
  readonly error?: string;
}

/**
 * The whole database in one query (ours: POST /v1/query/json without account_id, exact source):
 * every event stored once, whatever the answers said.
 */
export async function storedTotal(
  url: string,
  headers: Record<string, string>,
  fromMs: number,
  toMs: number,
  unique: number,
  quantity: bigint,
): Promise<StoredTotal> {
  try {
    const body = JSON.stringify({ from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), metrics: ['sum', 'count'] });
    const res = await fetch(`${url}/v1/query/json`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
      signal: AbortSignal.timeout(60_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${res.status} ${text.slice(0, 300)}`);
    const lines = (JSON.parse(text) as { lines?: UsageLine[] }).lines ?? [];
    const q = lines.reduce((s, l) => s + BigInt(l.quantity ?? 0), 0n);
    const count = lines.reduce((s, l) => s + (l.count ?? 0), 0);
    return { count, quantity: q.toString(), exact: count === unique && q === quantity };
  } catch (err) {
    return { count: -1, quantity: '', exact: false, error: (err as Error).message };
  }
}

export interface CommitCounters {
  commits: number;
  /** Commit attempts that lost a race (usagedb_manifest_commit_retries_total). */
  lost_races: number;
  contention_errors: number;
  ambiguous_writes: number;
}

const COUNTERS: Readonly<Record<string, keyof CommitCounters>> = {
  usagedb_manifest_commits_total: 'commits',
  usagedb_manifest_commit_retries_total: 'lost_races',
  usagedb_manifest_contention_errors_total: 'contention_errors',
  usagedb_manifest_ambiguous_writes_total: 'ambiguous_writes',
};

export const zeroCounters = (): CommitCounters => ({ commits: 0, lost_races: 0, contention_errors: 0, ambiguous_writes: 0 });

/** Sums the per-shard commit counters of one server's Prometheus text. */
export async function scrapeCommits(url: string, headers: Record<string, string>): Promise<CommitCounters> {
  const res = await fetch(`${url}/metrics`, { headers, signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET /metrics: ${res.status} ${text.slice(0, 300)}`);
  const out = zeroCounters();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{[^}]*\} ([0-9.e+]+)$/.exec(line);
    const key = m === null ? undefined : COUNTERS[m[1]!];
    if (key !== undefined) out[key] += Number(m![2]);
  }
  return out;
}

export function diffCounters(after: CommitCounters, before: CommitCounters): CommitCounters {
  return {
    commits: after.commits - before.commits,
    lost_races: after.lost_races - before.lost_races,
    contention_errors: after.contention_errors - before.contention_errors,
    ambiguous_writes: after.ambiguous_writes - before.ambiguous_writes,
  };
}
