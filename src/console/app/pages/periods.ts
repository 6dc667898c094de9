/**
 * Billing periods of one account: the months closed at least once, and one month in detail —
 * live totals while open; frozen lines, pending adjustments and the net total once closed; the
 * history either way. Admin keys close (with a reason and a confirmation) and reopen.
 */
import { accountPath, get, post } from '../api.ts';
import { announce, clear, errorBox, field, h, spinner } from '../dom.ts';
import { count, monthString, qty, utc } from '../format.ts';
import { href, type PageContext } from '../router.ts';
import type { PeriodList, PeriodView, ResultLine } from '../types.ts';
import { actionButton, badge, confirmDialog, facts, section, table } from '../widgets.ts';

type Closed = Extract<PeriodView, { state: 'closed' }>;
type Adjustment = Closed['pending_adjustments'][number];
type HistoryEntry = PeriodView['history'][number];

function stateBadge(state: string): HTMLElement {
  return badge(state, state === 'closed' ? 'info' : state === 'closing' ? 'warn' : 'ok');
}

function detail(ctx: PageContext, accountId: string, v: PeriodView, reload: () => Promise<void>): HTMLElement {
  const admin = ctx.session.can('admin');
  const base = accountPath(accountId, 'periods', v.period);
  const close = actionButton('Close period…', async () => {
    const ok = await confirmDialog({
      title: `Close ${v.period} for ${accountId}?`,
      body: h(
        'p',
        null,
        'The totals and invoice lines of the month are frozen in one commit. Usage events for the month are refused from then on; corrections become pending adjustments.',
      ),
      reason: { label: 'Reason (kept in the history)', required: true },
      acknowledge: `I understand that usage for ${v.period} will be refused after the close.`,
      confirmLabel: 'Close period',
    });
    if (ok === null) return;
    try {
      await post(`${base}/close`, { reason: ok.reason });
      announce(`Period ${v.period} closed.`);
      await reload();
    } catch (err) {
      clear(actions, errorBox(err));
    }
  });
  const reopen = actionButton('Reopen period…', async () => {
    const ok = await confirmDialog({
      title: `Reopen ${v.period} for ${accountId}?`,
      body: h('p', null, 'The frozen snapshot is discarded (the history keeps the close) and usage events for the month are accepted again.'),
      reason: { label: 'Reason (kept in the history)', required: true },
      acknowledge: 'I understand that the frozen totals will no longer hold.',
      confirmLabel: 'Reopen period',
      danger: true,
    });
    if (ok === null) return;
    try {
      await post(`${base}/reopen`, { reason: ok.reason });
      announce(`Period ${v.period} reopened.`);
      await reload();
    } catch (err) {
      clear(actions, errorBox(err));
    }
  });
  const actions = h(
    'div',
    { class: 'toolbar' },
    admin ? (v.state === 'closed' ? reopen : close) : h('p', { class: 'note' }, 'Closing and reopening need a key with the admin scope.'),
  );
  const history = table<HistoryEntry>(
    'History',
    [
      { label: 'When', cell: (e) => utc(e.at) },
      { label: 'Action', cell: (e) => e.action },
      { label: 'By', cell: (e) => e.actor },
      { label: 'Reason', cell: (e) => e.reason },
    ],
    v.history,
    { empty: 'Never closed.', testid: 'period-history' },
  );
  const parts: HTMLElement[] = [];
  if (v.state === 'closed') {
    parts.push(
      facts(
        [
          ['State', stateBadge(v.state)],
          ['Closed at', utc(v.closed_at)],
          ['Frozen quantity', qty(v.frozen.quantity)],
          ['Frozen events', count(v.frozen.event_count)],
          ['Pending adjustments', qty(v.adjustments_quantity)],
          ['Net total', qty(v.net_total)],
          ['Snapshot', `generation ${v.generation} · ${v.source_segments.length} source segments`],
        ],
        'period-facts',
      ),
      table<ResultLine>(
        'Frozen invoice lines',
        [
          { label: 'Product', cell: (l) => String(l.product_id ?? '') },
          { label: 'Meter', cell: (l) => String(l.meter_id ?? '') },
          { label: 'Model', cell: (l) => String(l.model_id ?? '—') },
          { label: 'Quantity', cell: (l) => qty(l.quantity), num: true },
          { label: 'Events', cell: (l) => count(l.count), num: true },
          { label: 'Unit', cell: (l) => String(l.unit ?? '') },
        ],
        v.frozen.lines,
        { testid: 'frozen-lines' },
      ),
      table<Adjustment>(
        'Pending adjustments (accepted after the close)',
        [
          { label: 'Time', cell: (a) => utc(a.timestamp_ms) },
          { label: 'Event', cell: (a) => a.event_id },
          { label: 'Kind', cell: (a) => a.kind },
          { label: 'Corrects', cell: (a) => a.original_event_id },
          { label: 'Reason', cell: (a) => a.reason },
          { label: 'Meter', cell: (a) => a.meter_id },
          { label: 'Quantity', cell: (a) => qty(a.quantity), num: true },
        ],
        v.pending_adjustments,
        { empty: 'No adjustments.', testid: 'adjustments' },
      ),
    );
  } else {
    parts.push(
      facts(
        [
          ['State', stateBadge(v.state)],
          ['Live quantity', qty(v.live.quantity)],
          ['Live events', count(v.live.event_count)],
          ['Net total', qty(v.net_total)],
        ],
        'period-facts',
      ),
    );
  }
  return section(`Period ${v.period}`, actions, ...parts, history);
}

export async function periodsPage(ctx: PageContext): Promise<void> {
  const { root, route } = ctx;
  const accountId = route.path[1];
  const idInput = h('input', {
    type: 'search',
    name: 'account',
    required: true,
    value: accountId ?? '',
    autocomplete: 'off',
    spellcheck: 'false',
    placeholder: 'acct_42',
  });
  const pick = h(
    'form',
    { class: 'inline-form', role: 'search', 'aria-label': 'Choose an account' },
    field('Account id', idInput),
    h('button', { type: 'submit' }, 'Show periods'),
  );
  pick.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (idInput.value.trim() !== '') location.hash = href(['periods', idInput.value.trim()]);
  });
  const listHolder = h('div');
  const detailHolder = h('div');
  clear(
    root,
    h(
      'div',
      { class: 'page-head' },
      h('h1', { tabindex: -1 }, accountId === undefined ? 'Billing periods' : `Billing periods of ${accountId}`),
      accountId === undefined ? null : h('a', { class: 'button secondary', href: href(['accounts', accountId]) }, 'Account usage'),
    ),
    h('section', { class: 'card', 'aria-label': 'Account' }, pick),
    listHolder,
    detailHolder,
  );
  if (accountId === undefined) return;

  const month = /^\d{4}-\d{2}$/.test(route.params.get('month') ?? '') ? route.params.get('month')! : null;
  const monthInput = h('input', { type: 'month', name: 'month', value: month ?? monthString(Date.now()), required: true });
  const open = h(
    'form',
    { class: 'inline-form', 'aria-label': 'Show a month' },
    field('Month (UTC)', monthInput),
    h('button', { type: 'submit', class: 'secondary' }, 'Show month'),
  );
  open.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (/^\d{4}-\d{2}$/.test(monthInput.value)) location.hash = href(['periods', accountId], { month: monthInput.value });
  });

  const loadList = async (): Promise<PeriodList | null> => {
    clear(listHolder, spinner('the periods'));
    try {
      const list = await get<PeriodList>(accountPath(accountId, 'periods'));
      if (!ctx.alive()) return null;
      clear(
        listHolder,
        section(
          'Periods closed at least once',
          table<PeriodList['periods'][number]>(
            `Periods of ${accountId}`,
            [
              {
                label: 'Period',
                cell: (p) => h('a', { href: href(['periods', accountId], { month: p.period }), 'aria-current': p.period === month ? 'true' : null }, p.period),
              },
              { label: 'State', cell: (p) => stateBadge(p.state) },
              { label: 'Closed at', cell: (p) => (p.closed_at === undefined ? '—' : utc(p.closed_at)) },
              { label: 'Frozen', cell: (p) => (p.frozen_quantity === undefined ? '—' : qty(p.frozen_quantity)), num: true },
              { label: 'Adjustments', cell: (p) => (p.adjustments_quantity === undefined ? '—' : qty(p.adjustments_quantity)), num: true },
              { label: 'Net total', cell: (p) => (p.net_total === undefined ? '—' : qty(p.net_total)), num: true },
              { label: 'Transitions', cell: (p) => String(p.transitions), num: true },
            ],
            list.periods,
            { empty: 'No period of this account was ever closed. Pick a month below to see it or close it.', testid: 'periods' },
          ),
          open,
        ),
      );
      return list;
    } catch (err) {
      if (ctx.alive()) clear(listHolder, errorBox(err));
      return null;
    }
  };

  const loadDetail = async (m: string) => {
    try {
      const v = await get<PeriodView>(accountPath(accountId, 'periods', m));
      if (ctx.alive()) clear(detailHolder, detail(ctx, accountId, v, reload));
    } catch (err) {
      if (ctx.alive()) clear(detailHolder, errorBox(err));
    }
  };

  const reload = async () => {
    const list = await loadList();
    const m = month ?? list?.periods[list.periods.length - 1]?.period ?? monthString(Date.now());
    await loadDetail(m);
    detailHolder.querySelector<HTMLElement>('.toolbar button')?.focus();
  };

  const list = await loadList();
  const m = month ?? list?.periods[list.periods.length - 1]?.period ?? monthString(Date.now());
  clear(detailHolder, spinner(`period ${m}`));
  await loadDetail(m);
}
