/**
 * Pieces the pages share: accessible tables (caption, scoped headers, a scrollable region that
 * keyboard users can reach), the [from, to) range form, description lists, confirm dialogs.
 */
import { clear, field, h, select, uid, type Child } from './dom.ts';
import { dayString, parseDay, startOfUtcDay } from './format.ts';
import { href, type Route } from './router.ts';

export interface Column<T> {
  readonly label: string;
  readonly cell: (row: T, index: number) => Child;
  /** Right-aligned numbers. */
  readonly num?: boolean;
}

export function table<T>(
  caption: string,
  cols: readonly Column<T>[],
  rows: readonly T[],
  opts: { empty?: string; foot?: Child[][]; testid?: string } = {},
): HTMLElement {
  const head = h('tr', null, ...cols.map((c) => h('th', { scope: 'col', class: c.num === true ? 'num' : null }, c.label)));
  const body = rows.map((r, i) => h('tr', null, ...cols.map((c) => h('td', { class: c.num === true ? 'num' : null }, c.cell(r, i)))));
  if (rows.length === 0) body.push(h('tr', null, h('td', { colspan: cols.length, class: 'empty' }, opts.empty ?? 'Nothing to show.')));
  const foot =
    opts.foot === undefined || opts.foot.length === 0
      ? null
      : h(
          'tfoot',
          null,
          ...opts.foot.map((cells) =>
            h('tr', null, ...cells.map((c, i) => (i === 0 ? h('th', { scope: 'row' }, c) : h('td', { class: cols[i]?.num === true ? 'num' : null }, c)))),
          ),
        );
  return h(
    'div',
    { class: 'table-wrap', role: 'region', 'aria-label': caption, tabindex: 0, 'data-testid': opts.testid },
    h('table', null, h('caption', null, caption), h('thead', null, head), h('tbody', null, ...body), foot),
  );
}

/** A definition list of label → value pairs. */
export function facts(pairs: readonly (readonly [string, Child])[], testid?: string): HTMLElement {
  return h('dl', { class: 'facts', 'data-testid': testid }, ...pairs.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))));
}

export function section(title: string, ...children: Child[]): HTMLElement {
  const id = uid('s');
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

export function badge(text: string, tone: 'ok' | 'warn' | 'bad' | 'info' = 'info'): HTMLElement {
  return h('span', { class: `badge ${tone}` }, text);
}

// ---------------------------------------------------------------------------------------------
// The [from, to) range, kept in the URL.

const DAY = 86_400_000;

export interface Range {
  readonly from: string;
  readonly to: string;
}

/** The route's range, or the last 30 UTC days (today included). */
export function rangeOf(route: Route): Range {
  const from = route.params.get('from');
  const to = route.params.get('to');
  const f = parseDay(from);
  const t = parseDay(to);
  if (f !== null && t !== null && f < t) return { from: from!, to: to! };
  const tomorrow = startOfUtcDay(Date.now()) + DAY;
  return { from: dayString(tomorrow - 30 * DAY), to: dayString(tomorrow) };
}

function presets(): [string, string, Range][] {
  const today = startOfUtcDay(Date.now());
  const d = new Date(today);
  const monthStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const nextMonth = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  const lastMonth = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1);
  const r = (a: number, b: number): Range => ({ from: dayString(a), to: dayString(b) });
  return [
    ['7d', 'Last 7 days', r(today - 6 * DAY, today + DAY)],
    ['30d', 'Last 30 days', r(today - 29 * DAY, today + DAY)],
    ['month', 'This month', r(monthStart, nextMonth)],
    ['last-month', 'Last month', r(lastMonth, monthStart)],
    ['90d', 'Last 90 days', r(today - 89 * DAY, today + DAY)],
  ];
}

/** The range form: from, to (exclusive), presets; applying it changes the URL. */
export function rangeForm(route: Route, extra: Record<string, string | null> = {}): HTMLFormElement {
  const range = rangeOf(route);
  const from = h('input', { type: 'date', name: 'from', value: range.from, required: true });
  const to = h('input', { type: 'date', name: 'to', value: range.to, required: true });
  const all = presets();
  const current = all.find(([, , r]) => r.from === range.from && r.to === range.to)?.[0] ?? 'custom';
  const preset = select('preset', [...all.map(([k, l]) => [k, l] as const), ['custom', 'Custom range']], current);
  const error = h('p', { class: 'field-error', role: 'alert', hidden: true });
  preset.addEventListener('change', () => {
    const p = all.find(([k]) => k === preset.value);
    if (p === undefined) return;
    from.value = p[2].from;
    to.value = p[2].to;
  });
  for (const input of [from, to]) input.addEventListener('input', () => (preset.value = 'custom'));
  const form = h(
    'form',
    { class: 'range', 'aria-label': 'Time range' },
    field('Range', preset),
    field('From (UTC, inclusive)', from),
    field('To (UTC, exclusive)', to),
    h('button', { type: 'submit' }, 'Apply'),
    error,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = parseDay(from.value);
    const t = parseDay(to.value);
    if (f === null || t === null || f >= t) {
      error.hidden = false;
      clear(error, 'From must be a date before To.');
      from.focus();
      return;
    }
    const params: Record<string, string | null> = Object.fromEntries(route.params);
    location.hash = href(route.path, { ...params, ...extra, from: from.value, to: to.value, page: null, cursor: null });
  });
  return form;
}

// ---------------------------------------------------------------------------------------------
// Confirm dialog

export interface ConfirmOptions {
  readonly title: string;
  readonly body: Child;
  readonly confirmLabel: string;
  /** Ask for a reason (kept in the audit trail). */
  readonly reason?: { readonly label: string; readonly required: boolean };
  /** A checkbox the user must tick, e.g. "I understand …". */
  readonly acknowledge?: string;
  readonly danger?: boolean;
}

/** A modal <dialog> (focus is trapped and Escape cancels); resolves with the reason or null. */
export function confirmDialog(o: ConfirmOptions): Promise<{ reason: string } | null> {
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
  const titleId = uid('dlg');
  const reason = o.reason === undefined ? null : h('textarea', { name: 'reason', rows: 3, maxlength: 1024, required: o.reason.required });
  const ack = o.acknowledge === undefined ? null : h('input', { type: 'checkbox', name: 'ack', required: true });
  const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
  const ok = h('button', { type: 'submit', class: o.danger === true ? 'danger' : null }, o.confirmLabel);
  const form = h(
    'form',
    { method: 'dialog' },
    h('h2', { id: titleId }, o.title),
    h('div', { class: 'dialog-body' }, o.body),
    reason === null ? null : field(o.reason!.label, reason),
    ack === null ? null : h('div', { class: 'check' }, ack, h('label', { for: (ack.id = uid('ack')) }, o.acknowledge!)),
    h('div', { class: 'actions' }, cancel, ok),
  );
  const dialog = h('dialog', { 'aria-labelledby': titleId }, form);
  document.body.appendChild(dialog);
  return new Promise((resolve) => {
    let answer: { reason: string } | null = null;
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      if (!form.reportValidity()) return;
      answer = { reason: reason?.value.trim() ?? '' };
      dialog.close();
    });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener?.isConnected === true) opener.focus();
      resolve(answer);
    });
    dialog.showModal();
    (reason ?? ack ?? ok).focus();
  });
}

/** A button that disables itself and shows progress while its action runs. */
export function actionButton(label: string, action: () => Promise<void>, attrs: Record<string, string> = {}): HTMLButtonElement {
  const b = h('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', async () => {
    if (b.getAttribute('aria-busy') === 'true') return;
    // aria-disabled, not disabled: a disabled button would drop the keyboard focus.
    b.setAttribute('aria-busy', 'true');
    b.setAttribute('aria-disabled', 'true');
    try {
      await action();
    } finally {
      b.removeAttribute('aria-busy');
      b.removeAttribute('aria-disabled');
    }
  });
  return b;
}
