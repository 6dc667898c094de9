/**
 * One account over a range: a stacked chart of usage by meter, model or product per day or hour,
 * the totals table (exact decimal strings, BigInt sums), explain and verify on demand, and the raw
 * events with cursor paging and export of the page shown.
 */
import { accountPath, get, query } from '../api.ts';
import { stackedBars, type ChartHandle, type Series } from '../chart.ts';
import { clear, errorBox, field, h, select, spinner } from '../dom.ts';
import { download, safeName, toCsv, toNdjson } from '../export.ts';
import { count, groupDigits, parseDay, qty, sumDecimals, utc } from '../format.ts';
import { href, withParams, type PageContext } from '../router.ts';
import type { AuditRow, EventsPage, Explanation, ResultLine, UsageAnswer, Verification } from '../types.ts';
import { actionButton, badge, facts, rangeForm, rangeOf, section, table, type Range } from '../widgets.ts';

const STACKS = [
  ['meter_id', 'Meter'],
  ['model_id', 'Model'],
  ['product_id', 'Product'],
] as const;
const MAX_SERIES = 8;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const MAX_HOURS = 24 * 31;

/** Every bucket start in [from, to), so empty days show as gaps, not as missing bars. */
function buckets(range: Range, per: 'day' | 'hour'): number[] {
  const from = parseDay(range.from)!;
  const to = parseDay(range.to)!;
  const step = per === 'day' ? DAY : HOUR;
  const out: number[] = [];
  for (let t = from; t < to; t += step) out.push(t);
  return out;
}

/** The units of the lines, largest total first (quantities of different units never share a chart). */
function unitsOf(lines: readonly ResultLine[]): string[] {
  const totals = new Map<string, bigint>();
  for (const l of lines) totals.set(String(l.unit), (totals.get(String(l.unit)) ?? 0n) + BigInt(l.quantity ?? '0'));
  return [...totals].sort((a, b) => (b[1] > a[1] ? 1 : b[1] < a[1] ? -1 : a[0] < b[0] ? -1 : 1)).map(([u]) => u);
}

function chartData(lines: readonly ResultLine[], key: string, per: 'day' | 'hour', range: Range): { labels: string[]; series: Series[] } {
  const starts = buckets(range, per);
  const index = new Map(starts.map((t, i) => [t, i]));
  const byKey = new Map<string, (string | null)[]>();
  for (const l of lines) {
    const name = l[key] === null || l[key] === undefined ? '(none)' : String(l[key]);
    const i = index.get(Date.parse(String(l[per])));
    if (i === undefined) continue;
    let values = byKey.get(name);
    if (values === undefined) byKey.set(name, (values = starts.map(() => null)));
    values[i] = (BigInt(values[i] ?? '0') + BigInt(l.quantity ?? '0')).toString();
  }
  const totals = [...byKey]
    .map(([name, v]) => ({ name, v, total: BigInt(sumDecimals(v)) }))
    .sort((a, b) => (b.total > a.total ? 1 : b.total < a.total ? -1 : a.name < b.name ? -1 : 1));
  const kept = totals.slice(0, MAX_SERIES);
  const rest = totals.slice(MAX_SERIES);
  const series: Series[] = kept.map((s) => ({ label: s.name, exact: s.v }));
  if (rest.length > 0) series.push({ label: `${rest.length} others`, exact: starts.map((_, i) => sumDecimals(rest.map((s) => s.v[i] ?? '0'))) });
  const labels = starts.map((t) => (per === 'day' ? utc(t).slice(0, 10) : utc(t, false).slice(5, 16)));
  return { labels, series };
}

function usageSection(ctx: PageContext, accountId: string, range: Range): HTMLElement {
  const { route } = ctx;
  const stack = STACKS.some(([k]) => k === route.params.get('stack')) ? route.params.get('stack')! : 'meter_id';
  const hoursInRange = (parseDay(range.to)! - parseDay(range.from)!) / HOUR;
  const per = route.params.get('per') === 'hour' && hoursInRange <= MAX_HOURS ? 'hour' : 'day';
  const wantedUnit = route.params.get('unit');
  const stackSelect = select('stack', STACKS, stack);
  const perSelect = select('per', [['day', 'Day'], ...(hoursInRange <= MAX_HOURS ? [['hour', 'Hour'] as const] : [])], per);
  const unitHolder = h('span', { class: 'contents' });
  let unitSelect: HTMLSelectElement | null = null;
  const form = h(
    'form',
    { class: 'inline-form', 'aria-label': 'Chart options' },
    field('Stack by', stackSelect),
    field('Per', perSelect),
    unitHolder,
    h('button', { type: 'submit', class: 'secondary' }, 'Show'),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = withParams(route, {
      stack: stackSelect.value === 'meter_id' ? null : stackSelect.value,
      per: perSelect.value === 'day' ? null : perSelect.value,
      unit: unitSelect?.value ?? null,
    });
  });
  const holder = h('div', null, spinner('the chart'));
  const label = STACKS.find(([k]) => k === stack)![1].toLowerCase();
  void (async () => {
    try {
      const u = await get<UsageAnswer>(accountPath(accountId, 'usage') + query({ from: range.from, to: range.to, group_by: `${stack},unit,${per}` }));
      if (!ctx.alive()) return;
      const units = unitsOf(u.lines);
      const unit = units.includes(wantedUnit ?? '') ? wantedUnit! : units[0];
      if (unit === undefined) {
        clear(holder, h('p', { class: 'empty' }, 'No usage in this range.'));
        return;
      }
      if (units.length > 1) {
        unitSelect = select(
          'unit',
          units.map((x) => [x, x] as const),
          unit,
        );
        clear(unitHolder, field('Unit', unitSelect));
      }
      const d = chartData(
        u.lines.filter((l) => String(l.unit) === unit),
        stack,
        per,
        range,
      );
      const chart: ChartHandle = stackedBars(
        `Stacked bar chart: usage of ${accountId} in ${unit} by ${label} per ${per}, ${d.labels.length} ${per}s, ${d.series.length} series (${d.series.map((s) => s.label).join(', ')}).`,
        d.labels,
        d.series,
        unit,
      );
      ctx.onLeave(() => chart.destroy());
      clear(holder, chart.element);
    } catch (err) {
      if (ctx.alive()) clear(holder, errorBox(err));
    }
  })();
  return section(`Usage by ${label} per ${per}`, form, holder);
}

function totalsSection(ctx: PageContext, accountId: string, range: Range): HTMLElement {
  const holder = h('div', null, spinner('the totals'));
  void (async () => {
    try {
      const u = await get<UsageAnswer>(
        accountPath(accountId, 'usage') + query({ from: range.from, to: range.to, group_by: 'product_id,meter_id,model_id,unit' }),
      );
      if (!ctx.alive()) return;
      const units = [...new Set(u.lines.map((l) => String(l.unit)))].sort();
      const foot = units.map((unit) => {
        const of = u.lines.filter((l) => String(l.unit) === unit);
        return [`Total (${unit})`, '', '', qty(sumDecimals(of.map((l) => l.quantity))), count(of.reduce((n, l) => n + (l.count ?? 0), 0)), unit];
      });
      clear(
        holder,
        table<ResultLine>(
          `Totals of ${accountId}, ${range.from} to ${range.to} (generation ${u.generation})`,
          [
            { label: 'Product', cell: (l) => String(l.product_id ?? '') },
            { label: 'Meter', cell: (l) => String(l.meter_id ?? '') },
            { label: 'Model', cell: (l) => l.model_id ?? h('span', { class: 'hint' }, '—') },
            { label: 'Quantity', cell: (l) => qty(l.quantity), num: true },
            { label: 'Events', cell: (l) => count(l.count), num: true },
            { label: 'Unit', cell: (l) => String(l.unit ?? '') },
          ],
          u.lines,
          { empty: 'No usage in this range.', foot, testid: 'totals' },
        ),
      );
    } catch (err) {
      if (ctx.alive()) clear(holder, errorBox(err));
    }
  })();
  return section('Totals', holder);
}

function explainVerifySection(ctx: PageContext, accountId: string, range: Range): HTMLElement {
  const out = h('div', { class: 'stack', 'aria-live': 'polite' });
  const q = query({ from: range.from, to: range.to });
  const explain = actionButton('Explain', async () => {
    try {
      const e = await get<Explanation>(accountPath(accountId, 'explain') + q);
      if (!ctx.alive()) return;
      clear(
        out,
        h('h3', null, 'Explanation'),
        table<ResultLine>(
          'Invoice lines (Usage events)',
          [
            { label: 'Product', cell: (l) => String(l.product_id ?? '') },
            { label: 'Meter', cell: (l) => String(l.meter_id ?? '') },
            { label: 'Model', cell: (l) => String(l.model_id ?? '—') },
            { label: 'Source', cell: (l) => String(l.source ?? '') },
            { label: 'Quantity', cell: (l) => qty(l.quantity), num: true },
            { label: 'Events', cell: (l) => count(l.count), num: true },
            { label: 'Unit', cell: (l) => String(l.unit ?? '') },
          ],
          e.lines,
          { testid: 'explain-lines' },
        ),
        table<AuditRow>(
          `Corrections and retractions (net ${groupDigits(e.corrections_quantity)})`,
          [
            { label: 'Time', cell: (r) => utc(r.timestamp_ms) },
            { label: 'Event', cell: (r) => r.event_id },
            { label: 'Kind', cell: (r) => r.kind },
            { label: 'Corrects', cell: (r) => r.correction_ref?.original_event_id ?? '' },
            { label: 'Reason', cell: (r) => r.correction_ref?.reason ?? '' },
            { label: 'Quantity', cell: (r) => qty(r.quantity), num: true },
          ],
          e.corrections,
          { empty: 'No corrections.' },
        ),
        facts([
          ['Generation', String(e.generation)],
          ['Raw segments read', `${e.segments.length} (${e.segments.filter((s) => s.rolled_by !== null).length} rolled up)`],
          ['Rollups covering the range', String(e.rollups.length)],
        ]),
      );
    } catch (err) {
      if (ctx.alive()) clear(out, errorBox(err));
    }
  });
  const verify = actionButton('Verify', async () => {
    try {
      const v = await get<Verification>(accountPath(accountId, 'verify') + q);
      if (!ctx.alive()) return;
      clear(
        out,
        h('h3', null, 'Verification'),
        facts(
          [
            ['Result', v.matches ? badge('Rollups agree with the raw events', 'ok') : badge(`Drift of ${groupDigits(v.drift)}`, 'bad')],
            ['Raw total', qty(v.raw_total)],
            ['Rollup total (auto)', qty(v.rollup_total)],
            ['Drift', qty(v.drift)],
            ['Events (raw / auto)', `${groupDigits(String(v.raw_count))} / ${groupDigits(String(v.rollup_count))}`],
            ['Segments', `${v.rolled_segments} rolled, ${v.unrolled_segments} not rolled, ${v.rollups} rollups`],
            ['Closed period in range', v.period_sealed ? 'yes' : 'no'],
          ],
          'verify',
        ),
      );
    } catch (err) {
      if (ctx.alive()) clear(out, errorBox(err));
    }
  });
  return section(
    'Explain and verify',
    h(
      'p',
      { class: 'hint' },
      'Explain lists the invoice lines with their corrections and provenance; verify recomputes the range from raw events and compares it with what rollups answer.',
    ),
    h('div', { class: 'toolbar' }, explain, verify),
    out,
  );
}

function eventsSection(ctx: PageContext, accountId: string, range: Range): HTMLElement {
  const sizes = ['25', '50', '100'] as const;
  const size = h('select', { name: 'size' }, ...sizes.map((s) => h('option', { value: s, selected: s === '25' }, s)));
  const holder = h('div', null, spinner('the events'));
  const cursors: (string | undefined)[] = [undefined];
  let pageIndex = 0;
  let shown: AuditRow[] = [];

  const load = async () => {
    clear(holder, spinner('the events'));
    try {
      const page = await get<EventsPage>(
        accountPath(accountId, 'usage', 'events') + query({ from: range.from, to: range.to, limit: size.value, cursor: cursors[pageIndex] }),
      );
      if (!ctx.alive()) return;
      shown = page.events;
      cursors[pageIndex + 1] = page.next_cursor ?? undefined;
      cursors.length = pageIndex + (page.next_cursor === null ? 1 : 2);
      const first = pageIndex * Number(size.value);
      const prev = h('button', { type: 'button', class: 'secondary', disabled: pageIndex === 0 }, '← Previous');
      const next = h('button', { type: 'button', class: 'secondary', disabled: page.next_cursor === null }, 'Next →');
      prev.addEventListener('click', () => {
        pageIndex--;
        void load().then(() => holder.querySelector<HTMLElement>('[data-pager] button:not([disabled])')?.focus());
      });
      next.addEventListener('click', () => {
        pageIndex++;
        void load().then(() =>
          holder.querySelector<HTMLElement>('[data-pager] button:last-child:not([disabled]), [data-pager] button:not([disabled])')?.focus(),
        );
      });
      const name = `events-${safeName(accountId)}-${range.from}-${range.to}-p${pageIndex + 1}`;
      clear(
        holder,
        table<AuditRow>(
          `Raw events of ${accountId}, ${shown.length === 0 ? 'none' : `${first + 1}–${first + shown.length}`} (generation ${page.generation})`,
          [
            { label: 'Time (UTC)', cell: (r) => utc(r.timestamp_ms).replace(' UTC', '') },
            { label: 'Event id', cell: (r) => h('code', null, r.event_id) },
            { label: 'Kind', cell: (r) => r.kind },
            { label: 'Product', cell: (r) => r.product_id },
            { label: 'Meter', cell: (r) => r.meter_id },
            { label: 'Model', cell: (r) => r.model_id ?? '—' },
            { label: 'Source', cell: (r) => r.source },
            { label: 'Quantity', cell: (r) => qty(r.quantity), num: true },
            { label: 'Unit', cell: (r) => r.unit },
            {
              label: 'Dimensions',
              cell: (r) =>
                Object.entries(r.dimensions)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' '),
            },
            { label: 'Segment', cell: (r) => h('code', { title: r.segment_id }, r.segment_id.slice(-8)) },
          ],
          shown,
          { empty: 'No events in this range.', testid: 'events' },
        ),
        h(
          'div',
          { class: 'toolbar', 'data-pager': '' },
          prev,
          next,
          h('span', { class: 'spacer' }),
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              disabled: shown.length === 0,
              onclick: () => download(`${name}.ndjson`, 'application/x-ndjson', toNdjson(shown)),
            },
            'Export NDJSON',
          ),
          h(
            'button',
            { type: 'button', class: 'secondary', disabled: shown.length === 0, onclick: () => download(`${name}.csv`, 'text/csv', toCsv(shown)) },
            'Export CSV',
          ),
        ),
      );
    } catch (err) {
      if (ctx.alive()) clear(holder, errorBox(err));
    }
  };
  size.addEventListener('change', () => {
    cursors.length = 1;
    pageIndex = 0;
    void load();
  });
  void load();
  return section(
    'Raw events',
    h('div', { class: 'inline-form' }, field('Rows per page', size)),
    h('p', { class: 'hint' }, 'Export saves the rows of the page shown.'),
    holder,
  );
}

export async function accountPage(ctx: PageContext): Promise<void> {
  const accountId = ctx.route.path[1]!;
  const range = rangeOf(ctx.route);
  clear(
    ctx.root,
    h(
      'div',
      { class: 'page-head' },
      h('p', { class: 'crumbs' }, h('a', { href: href(['accounts'], { from: range.from, to: range.to }) }, 'Accounts'), ' / '),
      h('h1', { tabindex: -1 }, 'Account ', h('code', null, accountId)),
      h('a', { class: 'button secondary', href: href(['periods', accountId]) }, 'Billing periods'),
    ),
    h('section', { class: 'card', 'aria-label': 'Time range' }, rangeForm(ctx.route)),
    usageSection(ctx, accountId, range),
    totalsSection(ctx, accountId, range),
    explainVerifySection(ctx, accountId, range),
    eventsSection(ctx, accountId, range),
  );
}
