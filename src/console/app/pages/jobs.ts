/**
 * Jobs: run rollup, compaction or GC now (POST /v1/admin/jobs/{job}) and show each shard's
 * report. GC always starts with a dry run listing what it would delete; the real run is a
 * second, confirmed step.
 */
import { post } from '../api.ts';
import { announce, clear, errorBox, h } from '../dom.ts';
import type { PageContext } from '../router.ts';
import type { JobReport } from '../types.ts';
import { actionButton, badge, confirmDialog, section, table } from '../widgets.ts';

type Result = JobReport['results'][number];

const SKIP = new Set(['shard', 'committed', 'reason', 'error', 'keys', 'dry_run']);

function detailsOf(r: Result): string {
  return Object.entries(r)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k.replace(/_/g, ' ')}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)}`)
    .join(' · ');
}

function outcome(r: Result): HTMLElement {
  if (typeof r.error === 'string') return badge('failed', 'bad');
  if (r.committed === true) return badge('committed', 'ok');
  if (r.dry_run === true) return badge('dry run', 'info');
  return badge(typeof r.reason === 'string' ? r.reason : 'nothing to do', 'info');
}

export function reportView(report: JobReport, title: string): HTMLElement {
  const perShard = report.results.filter((r) => r.shard !== undefined);
  const extra = report.results.filter((r) => r.shard === undefined);
  const keys = perShard.flatMap((r) => (Array.isArray(r.keys) ? r.keys.map(String) : []));
  return h(
    'div',
    { class: 'report', 'data-testid': `report-${report.job}` },
    h('h3', null, title),
    h('p', null, `${report.shards} shards, ${report.failed} failed.`, extra.length > 0 ? ` ${extra.map(detailsOf).join(' · ')}.` : ''),
    table<Result>(
      `${title}: per shard`,
      [
        { label: 'Shard', cell: (r) => String(r.shard), num: true },
        { label: 'Outcome', cell: outcome },
        { label: 'Details', cell: (r) => (typeof r.error === 'string' ? h('span', { class: 'bad-text' }, r.error) : detailsOf(r)) },
      ],
      perShard,
    ),
    keys.length === 0
      ? null
      : h('details', null, h('summary', null, `${keys.length} object keys`), h('ul', { class: 'keys' }, ...keys.map((k) => h('li', null, h('code', null, k))))),
  );
}

function deletions(report: JobReport): number {
  return report.results.reduce((n, r) => n + (typeof r.deleted === 'number' ? r.deleted : 0), 0);
}

export async function jobsPage(ctx: PageContext): Promise<void> {
  const { root, session } = ctx;
  const heading = h('h1', { tabindex: -1 }, 'Jobs');
  if (!session.can('admin')) {
    clear(root, h('div', { class: 'page-head' }, heading), h('p', { class: 'note' }, 'Running jobs needs a key with the admin scope.'));
    return;
  }
  const out = h('div', { class: 'stack', 'aria-live': 'polite', 'data-testid': 'job-output' });
  const run = async (job: 'rollup' | 'compact' | 'gc', dryRun: boolean): Promise<JobReport | null> => {
    try {
      const report = await post<JobReport>(`v1/admin/jobs/${job}${dryRun ? '?dry_run=true' : ''}`);
      announce(`${job} ${dryRun ? 'dry run ' : ''}finished: ${report.failed} shards failed.`);
      return report;
    } catch (err) {
      clear(out, errorBox(err));
      return null;
    }
  };
  const rollup = actionButton('Run rollup', async () => {
    const r = await run('rollup', false);
    if (r !== null && ctx.alive()) clear(out, reportView(r, 'Rollup'));
  });
  const compact = actionButton('Run compaction', async () => {
    const r = await run('compact', false);
    if (r !== null && ctx.alive()) clear(out, reportView(r, 'Compaction'));
  });
  const gc = actionButton('GC: dry run', async () => {
    const dry = await run('gc', true);
    if (dry === null || !ctx.alive()) return;
    const n = deletions(dry);
    const confirm = actionButton(
      n === 0 ? 'Run GC (nothing to delete)…' : `Run GC and delete ${n} object${n === 1 ? '' : 's'}…`,
      async () => {
        const ok = await confirmDialog({
          title: 'Run garbage collection?',
          body: h(
            'p',
            null,
            `The dry run found ${n} unreferenced objects older than the safety age. GC deletes them (objects that became unreferenced since the dry run may be deleted too) and expires replacement records past their grace period.`,
          ),
          acknowledge: 'I understand that deleted objects cannot be restored.',
          confirmLabel: 'Run GC',
          danger: true,
        });
        if (ok === null) return;
        const real = await run('gc', false);
        if (real !== null && ctx.alive()) clear(out, reportView(real, 'GC'));
      },
      { class: 'danger' },
    );
    clear(out, reportView(dry, 'GC dry run'), h('div', { class: 'toolbar' }, confirm));
    confirm.focus();
  });
  clear(
    root,
    h('div', { class: 'page-head' }, heading),
    h(
      'div',
      { class: 'grid3' },
      section('Rollup', h('p', null, 'Aggregates compacted raw segments into hourly rollups, then merges small rollups.'), rollup),
      section(
        'Compaction',
        h('p', null, 'Merges young raw segments into segments sized by rows and bytes, removes cold duplicates and records conflicts.'),
        compact,
      ),
      section(
        'Garbage collection',
        h('p', null, 'Deletes objects no manifest references any more. Starts with a dry run; deleting is a confirmed second step.'),
        gc,
      ),
    ),
    section('Result', out),
  );
  clear(out, h('p', { class: 'hint' }, 'Run a job to see its report here. Jobs also run on their schedule; running one by hand is safe at any time.'));
}
