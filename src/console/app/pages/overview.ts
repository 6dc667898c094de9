/**
 * Overview: health for everyone; for admin keys the database status (GET /v1/admin/status), rates
 * from the difference of two samples (ingest requests, stored events, commits, retries), cache
 * hit rate, job runs, and one row per shard. Refreshes every 5 s while shown.
 */
import { get } from '../api.ts';
import { lines, type LineChart } from '../chart.ts';
import { clear, errorBox, h, spinner } from '../dom.ts';
import { ago, bytes, count, percent, rate, utc } from '../format.ts';
import type { PageContext } from '../router.ts';
import type { AdminStatus, Health } from '../types.ts';
import { badge, facts, section, table } from '../widgets.ts';

const REFRESH_MS = 5_000;
const KEEP = 60;

interface Sample {
  readonly at: number;
  readonly ingestRequests: number;
  readonly rows: number;
  readonly commits: number;
  readonly retries: number;
  readonly hits: number;
  readonly misses: number;
}

interface Rates {
  readonly label: string;
  readonly ingest: number | null;
  readonly events: number | null;
  readonly commits: number | null;
  readonly retries: number | null;
  readonly hitRate: number | null;
}

/** Kept across visits of the page, so the chart has history when the user comes back. */
const history: Rates[] = [];
let last: Sample | undefined;

function sampleOf(s: AdminStatus): Sample {
  return {
    at: s.now_ms,
    ingestRequests: s.requests.filter((r) => r.route === '/v1/usage/batch' && r.status === 200).reduce((n, r) => n + r.count, 0),
    rows: s.totals.raw_rows,
    commits: s.totals.commits,
    retries: s.totals.commit_retries,
    hits: s.cache.hits,
    misses: s.cache.misses,
  };
}

function ratesBetween(a: Sample | undefined, b: Sample): Rates {
  const label = utc(b.at).slice(11, 19);
  if (a === undefined || b.at <= a.at) return { label, ingest: null, events: null, commits: null, retries: null, hitRate: null };
  const dt = (b.at - a.at) / 1000;
  const lookups = b.hits - a.hits + (b.misses - a.misses);
  return {
    label,
    ingest: (b.ingestRequests - a.ingestRequests) / dt,
    // Rows in live raw segments only shrink by duplicates compaction removes: a good proxy for events stored.
    events: Math.max(0, (b.rows - a.rows) / dt),
    commits: (b.commits - a.commits) / dt,
    retries: (b.retries - a.retries) / dt,
    hitRate: lookups > 0 ? (b.hits - a.hits) / lookups : null,
  };
}

function kpi(label: string, value: string, note: string, testid: string): HTMLElement {
  return h(
    'div',
    { class: 'kpi', 'data-testid': testid },
    h('div', { class: 'kpi-label' }, label),
    h('div', { class: 'kpi-value' }, value),
    h('div', { class: 'kpi-note' }, note),
  );
}

function healthView(hl: Health): HTMLElement {
  return section(
    'Health',
    facts(
      [
        ['Status', badge(hl.status, hl.status === 'ok' ? 'ok' : 'bad')],
        ['Store', `${hl.store.kind} · ${hl.store.ok ? 'reachable' : (hl.store.problem ?? 'unreachable')} · ${Math.round(hl.store.latency_ms)} ms`],
        ['Writable', hl.writable ? 'yes (conditional writes honoured)' : `no: ${(hl.write_problems ?? []).join('; ')}`],
        ['Database', hl.database.db_id],
        ['Layout', `${hl.database.shards} shards · ${hl.database.buckets} buckets`],
      ],
      'health',
    ),
  );
}

function statusView(s: AdminStatus, r: Rates, chart: LineChart): HTMLElement[] {
  const t = s.totals;
  const jobsOf = (job: string) => s.jobs.filter((j) => j.job === job);
  const runs = (job: string) => jobsOf(job).reduce((n, j) => n + j.runs, 0);
  const failed = (job: string) =>
    jobsOf(job)
      .filter((j) => j.outcome !== 'ok')
      .reduce((n, j) => n + j.runs, 0);
  const lastRun = (job: string) =>
    jobsOf(job).reduce<string | null>((m, j) => (j.last_run_at !== null && (m === null || j.last_run_at > m) ? j.last_run_at : m), null);
  const lifetimeHit = s.cache.hit_rate;
  const kpis = h(
    'div',
    { class: 'kpis' },
    kpi('Ingest requests', rate(r.ingest), 'POST /v1/usage/batch answered 200', 'kpi-ingest'),
    kpi('Events stored', rate(r.events), 'growth of rows in raw segments', 'kpi-events'),
    kpi('Commits', rate(r.commits), `${t.commits.toLocaleString('en')} by this instance`, 'kpi-commits'),
    kpi('Contention', rate(r.retries), `retries/s · ${t.contention_errors} gave up · ${t.ambiguous_writes} ambiguous`, 'kpi-contention'),
    kpi('Cache hit rate', percent(r.hitRate ?? lifetimeHit), `${percent(lifetimeHit)} since start · ${bytes(s.cache.bytes)}`, 'kpi-cache'),
    kpi(
      'Job runs',
      String(runs('rollup') + runs('compact') + runs('gc')),
      `${failed('rollup') + failed('compact') + failed('gc')} failed (this instance)`,
      'kpi-jobs',
    ),
  );
  const rows = history.slice(-KEEP);
  chart.update(
    rows.map((x) => x.label),
    [
      { label: 'Ingest requests/s', values: rows.map((x) => x.ingest) },
      { label: 'Events stored/s', values: rows.map((x) => x.events) },
      { label: 'Commits/s', values: rows.map((x) => x.commits) },
      { label: 'Commit retries/s', values: rows.map((x) => x.retries) },
    ],
  );
  type ShardRow = AdminStatus['shards'][number];
  const ok = (row: ShardRow) => ('generation' in row ? row : null);
  const num = (pick: (x: NonNullable<ReturnType<typeof ok>>) => number) => (row: ShardRow) => {
    const x = ok(row);
    return x === null ? '—' : count(pick(x));
  };
  const shardTable = table<ShardRow>(
    'Shards',
    [
      { label: 'Shard', cell: (x) => String(x.shard) },
      { label: 'Generation', cell: num((x) => x.generation), num: true },
      { label: 'Raw segments', cell: num((x) => x.raw_segments), num: true },
      { label: 'Uncompacted', cell: num((x) => x.uncompacted_segments), num: true },
      { label: 'Unrolled', cell: num((x) => x.unrolled_segments), num: true },
      { label: 'Rows', cell: num((x) => x.raw_rows), num: true },
      { label: 'Rollups', cell: num((x) => x.rollup_segments), num: true },
      { label: 'Manifest', cell: (x) => (ok(x) === null ? '—' : bytes(ok(x)!.manifest_bytes)), num: true },
      { label: 'Conflicts', cell: num((x) => x.conflicts), num: true },
      {
        label: 'Last compaction',
        cell: (x) => (ok(x) === null ? h('span', { class: 'bad-text' }, (x as { error: string }).error) : ago(ok(x)!.last_compaction_at, s.now_ms)),
      },
      { label: 'Last rollup', cell: (x) => (ok(x) === null ? '' : ago(ok(x)!.last_rollup_at, s.now_ms)) },
    ],
    s.shards,
    { testid: 'shards' },
  );
  const jobsFacts = facts(
    [
      ['Last compaction (any instance)', t.last_compaction_at === null ? 'never' : `${utc(t.last_compaction_at)} · ${ago(t.last_compaction_at, s.now_ms)}`],
      ['Last rollup (any instance)', t.last_rollup_at === null ? 'never' : `${utc(t.last_rollup_at)} · ${ago(t.last_rollup_at, s.now_ms)}`],
      ['Last GC (this instance)', lastRun('gc') === null ? 'not since this instance started' : `${utc(lastRun('gc'))} · ${ago(lastRun('gc'), s.now_ms)}`],
      ['Runs (this instance)', `rollup ${runs('rollup')} · compact ${runs('compact')} · gc ${runs('gc')}`],
    ],
    'jobs-facts',
  );
  const totals = facts(
    [
      ['Commits (sum of generations)', count(t.generation)],
      ['Raw segments', count(t.raw_segments)],
      ['Rows', count(t.raw_rows)],
      ['Rollup segments', count(t.rollup_segments)],
      ['Manifest bytes', bytes(t.manifest_bytes)],
      ['Closed periods', count(t.periods_closed)],
      ['Conflicts', count(t.conflicts)],
      ['Awaiting GC', count(t.replacements)],
    ],
    'totals',
  );
  return [
    section(
      'Activity',
      kpis,
      h('p', { class: 'hint' }, `Rates over the last ${REFRESH_MS / 1000} s; the chart keeps the last ${KEEP} samples.`),
      chart.element,
    ),
    section('Database', totals, shardTable),
    section('Background jobs', jobsFacts),
  ];
}

export async function overviewPage(ctx: PageContext): Promise<void> {
  const { root, session } = ctx;
  const heading = h('h1', { tabindex: -1 }, 'Overview');
  const updated = h('span', { class: 'hint', 'aria-live': 'off' });
  const auto = h('input', { type: 'checkbox', name: 'auto', checked: true });
  const refreshBtn = h('button', { type: 'button', class: 'secondary' }, 'Refresh now');
  const body = h('div', { class: 'stack' }, spinner('the status'));
  const admin = session.can('admin');
  clear(
    root,
    h(
      'div',
      { class: 'page-head' },
      heading,
      admin
        ? h(
            'div',
            { class: 'toolbar' },
            h('div', { class: 'check' }, auto, h('label', { for: (auto.id = 'auto-refresh') }, 'Refresh every 5 s')),
            refreshBtn,
            updated,
          )
        : null,
    ),
    body,
  );
  const chart = lines('Rates over time: ingest requests, events stored, commits and commit retries per second.', 'per second');
  ctx.onLeave(() => chart.destroy());

  let timer: ReturnType<typeof setTimeout> | undefined;
  const refresh = async () => {
    clearTimeout(timer);
    try {
      const [hl, st] = await Promise.all([
        get<Health>('health').catch((e: unknown) => e as Error),
        admin ? get<AdminStatus>('v1/admin/status') : Promise.resolve(null),
      ]);
      if (!ctx.alive()) return;
      const parts: HTMLElement[] = [];
      if (st !== null) {
        const sample = sampleOf(st);
        const r = ratesBetween(last, sample);
        last = sample;
        history.push(r);
        if (history.length > KEEP) history.splice(0, history.length - KEEP);
        parts.push(...statusView(st, r, chart));
        updated.textContent = `Updated ${utc(st.now_ms).slice(11)}`;
      }
      parts.unshift(hl instanceof Error ? errorBox(hl) : healthView(hl));
      if (!admin) parts.push(h('p', { class: 'note' }, 'Database status, rates and jobs need a key with the admin scope.'));
      clear(body, parts);
    } catch (err) {
      if (ctx.alive()) clear(body, errorBox(err));
    }
    if (ctx.alive() && admin && auto.checked && document.visibilityState !== 'hidden') timer = setTimeout(refresh, REFRESH_MS);
  };
  refreshBtn.addEventListener('click', () => void refresh());
  auto.addEventListener('change', () => (auto.checked ? void refresh() : clearTimeout(timer)));
  // A hidden tab stops polling; coming back refreshes at once.
  const onVisible = () => {
    if (document.visibilityState === 'visible' && auto.checked) void refresh();
  };
  document.addEventListener('visibilitychange', onVisible);
  ctx.onLeave(() => {
    clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  });
  await refresh();
}
