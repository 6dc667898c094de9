/**
 * Accounts: open one by id, or rank the top accounts of a range with a cross-account query
 * (POST /v1/query/json grouped by account_id). Paged: a page asks for `limit = page × size + 1`
 * lines and shows only its own `size`, so 10,000 accounts never reach the browser at once; ranks
 * beyond MAX_RANK need a filter or the id.
 */
import { post } from '../api.ts';
import { clear, errorBox, field, h, select, spinner } from '../dom.ts';
import { count, qty } from '../format.ts';
import { href, withParams, type PageContext } from '../router.ts';
import type { QueryAnswer, ResultLine } from '../types.ts';
import { rangeForm, rangeOf, table } from '../widgets.ts';

export const PAGE_SIZE = 25;
const MAX_RANK = 1000;

export async function accountsPage(ctx: PageContext): Promise<void> {
  const { root, route } = ctx;
  const range = rangeOf(route);
  const page = Math.max(1, Math.min(MAX_RANK / PAGE_SIZE, Number(route.params.get('page') ?? '1') || 1));
  const order = route.params.get('order') === 'count' ? 'count' : 'sum';
  const meter = route.params.get('meter') ?? '';

  const idInput = h('input', { type: 'search', name: 'account', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'acct_42' });
  const search = h(
    'form',
    { class: 'inline-form', role: 'search', 'aria-label': 'Open an account' },
    field('Account id', idInput),
    h('button', { type: 'submit' }, 'Open account'),
  );
  search.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = idInput.value.trim();
    if (id !== '') location.hash = href(['accounts', id], { from: range.from, to: range.to });
  });

  const meterInput = h('input', { type: 'text', name: 'meter', value: meter, autocomplete: 'off', spellcheck: 'false', placeholder: 'any' });
  const orderSelect = select(
    'order',
    [
      ['sum', 'Quantity'],
      ['count', 'Event count'],
    ],
    order,
  );
  const filters = h(
    'form',
    { class: 'inline-form', 'aria-label': 'Ranking options' },
    field('Meter', meterInput, 'Quantities of different units only add up within one meter.'),
    field('Rank by', orderSelect),
    h('button', { type: 'submit', class: 'secondary' }, 'Rank'),
  );
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = withParams(route, { meter: meterInput.value.trim() || null, order: orderSelect.value === 'sum' ? null : orderSelect.value, page: null });
  });

  const results = h('div', { class: 'stack' }, spinner('the top accounts'));
  clear(
    root,
    h('div', { class: 'page-head' }, h('h1', { tabindex: -1 }, 'Accounts')),
    h('section', { class: 'card', 'aria-label': 'Find an account' }, search),
    h('section', { class: 'card', 'aria-labelledby': 'top-h' }, h('h2', { id: 'top-h' }, 'Top accounts'), rangeForm(route), filters, results),
  );

  const body = {
    from: range.from,
    to: range.to,
    group_by: ['account_id'],
    metrics: ['sum', 'count'],
    order_by: [{ metric: order, direction: 'desc' }],
    limit: page * PAGE_SIZE + 1,
    ...(meter === '' ? {} : { filters: { meter_id: meter } }),
  };
  try {
    const answer = await post<QueryAnswer>('v1/query/json', body);
    if (!ctx.alive()) return;
    const shown = answer.lines.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    const more = answer.lines.length > page * PAGE_SIZE;
    const first = (page - 1) * PAGE_SIZE;
    const acctLink = (l: ResultLine) => {
      const id = String(l.account_id ?? '');
      return h('a', { href: href(['accounts', id], { from: range.from, to: range.to }) }, id);
    };
    const pager = h(
      'nav',
      { class: 'pager', 'aria-label': 'Top accounts pages' },
      page > 1 ? h('a', { class: 'button secondary', href: withParams(route, { page: page - 1 === 1 ? null : page - 1 }), rel: 'prev' }, '← Previous') : null,
      h('span', { 'aria-current': 'page' }, shown.length === 0 ? 'No accounts' : `Ranks ${first + 1}–${first + shown.length}`),
      more && page < MAX_RANK / PAGE_SIZE ? h('a', { class: 'button secondary', href: withParams(route, { page: page + 1 }), rel: 'next' }, 'Next →') : null,
      more && page >= MAX_RANK / PAGE_SIZE ? h('span', { class: 'hint' }, `Beyond rank ${MAX_RANK}: filter by meter or open an account by id.`) : null,
    );
    clear(
      results,
      table<ResultLine>(
        `Top accounts by ${order === 'sum' ? 'quantity' : 'event count'}, ${range.from} to ${range.to}${meter === '' ? '' : `, meter ${meter}`}`,
        [
          { label: 'Rank', cell: (_, i) => String(first + i + 1), num: true },
          { label: 'Account', cell: acctLink },
          { label: 'Quantity', cell: (l) => qty(l.quantity), num: true },
          { label: 'Events', cell: (l) => count(l.count), num: true },
          { label: 'Unit', cell: (l) => l.unit ?? h('span', { class: 'hint' }, 'mixed') },
        ],
        shown,
        { empty: 'No usage in this range.', testid: 'top-accounts' },
      ),
      pager,
    );
  } catch (err) {
    if (ctx.alive()) clear(results, errorBox(err));
  }
}
