/**
 * The web console in a real browser (Debian's Chromium via playwright-core) against a live,
 * seeded server: every page loads, the numbers shown equal the API's answers, period close and
 * reopen work by mouse and by keyboard, a read-only key sees no admin action, an open loopback
 * server asks for no key, phone widths do not overflow, and no page breaks the CSP. Screenshots
 * land in test/console/screenshots/ (ignored by git).
 */
import { readFileSync } from 'node:fs';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, shot, type Browser, type Watched } from './browser.ts';
import { CLASH, CLOSED, HUGE, HUGE_ACCOUNT, KEYS, PERIOD, RANGE, RICH, startServer, type Served } from './fixture.ts';

const T = 90_000;
const range = `from=${RANGE.from}&to=${RANGE.to}`;

let server: Served;
let browser: Browser;
const watched: Watched[] = [];

beforeAll(async () => {
  [server, browser] = await Promise.all([startServer({ keys: true, seed: true }), launchBrowser()]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function api<T = any>(method: string, path: string, body?: unknown, key: string = KEYS.admin): Promise<T> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  expect(res.status, `${method} ${path}`).toBe(200);
  return (await res.json()) as T;
}

async function open(key: string | null, viewport?: { width: number; height: number }, base = server.url): Promise<Page> {
  const w = await browser.page(viewport);
  watched.push(w);
  const { page } = w;
  await page.goto(`${base}/console`);
  if (key !== null) {
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Use this key' }).click();
    await page.locator('#nav a').first().waitFor();
  }
  return page;
}

async function visit(page: Page, hash: string, ready: string): Promise<void> {
  await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  await page.locator(ready).first().waitFor();
}

/** The exact values (data-exact) of the cells of each body row. */
async function exactRows(table: Locator): Promise<string[][]> {
  const rows = table.locator('tbody tr');
  const out: string[][] = [];
  for (let i = 0; i < (await rows.count()); i++) {
    out.push(
      await rows
        .nth(i)
        .locator('[data-exact]')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-exact') ?? '')),
    );
  }
  return out;
}

async function cellTexts(table: Locator, column: number): Promise<string[]> {
  return table.locator(`tbody tr td:nth-child(${column})`).allInnerTexts();
}

async function factValue(page: Page, testid: string, label: string): Promise<string> {
  return page
    .locator(`[data-testid=${testid}] div`)
    .filter({ has: page.locator('dt', { hasText: label }) })
    .locator('dd')
    .innerText();
}

const noCommas = (s: string) => s.replace(/,/g, '');

describe('the console in Chromium', () => {
  it(
    'asks for a key, refuses an unknown one, and shows every section to an admin key',
    async () => {
      const w = await browser.page();
      watched.push(w);
      const page = w.page;
      await page.goto(`${server.url}/console`);
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await shot(page, 'signin');
      await page.getByLabel('API key').fill('not-a-key-this-server-knows');
      await page.getByRole('button', { name: 'Use this key' }).click();
      await page.getByRole('alert').filter({ hasText: 'not known' }).waitFor();
      await page.getByLabel('API key').fill(KEYS.admin);
      await page.keyboard.press('Enter');
      await page.locator('#nav a').first().waitFor();
      expect(await page.locator('#nav a').allInnerTexts()).toEqual(['Overview', 'Accounts', 'Periods', 'Conflicts', 'Jobs']);
      expect(await page.getByTestId('scopes').innerText()).toBe('ingest · read · admin');
      // The key survives a reload of the tab (sessionStorage), not a new tab.
      await page.reload();
      await page.locator('#nav a').first().waitFor();
      expect(await page.getByRole('heading', { name: 'Sign in' }).count()).toBe(0);
    },
    T,
  );

  it(
    'Overview shows what /v1/admin/status says about every shard',
    async () => {
      const page = await open(KEYS.admin);
      await visit(page, '#/overview', '[data-testid=shards] tbody tr');
      const status = await api('GET', '/v1/admin/status');
      const shards = page.getByTestId('shards');
      // Shard, generation, raw segments, uncompacted, unrolled, rows, rollups.
      const shown = await exactRows(shards);
      expect(shown).toEqual(
        status.shards.map((s: any) =>
          [s.generation, s.raw_segments, s.uncompacted_segments, s.unrolled_segments, s.raw_rows, s.rollup_segments, s.conflicts].map(String),
        ),
      );
      expect(noCommas(await factValue(page, 'totals', 'Rows'))).toBe(String(status.totals.raw_rows));
      expect(noCommas(await factValue(page, 'totals', 'Conflicts'))).toBe('1');
      expect(await page.getByTestId('kpi-jobs').locator('.kpi-value').innerText()).toMatch(/^\d+$/);
      expect(await page.locator('canvas[role=img]').count()).toBe(1);
      await shot(page, 'overview');
    },
    T,
  );

  it(
    'Accounts ranks the top accounts page by page exactly as the API does, never loading all 10,000',
    async () => {
      const page = await open(KEYS.admin);
      const bodies: any[] = [];
      page.on('request', (r) => {
        if (r.url().endsWith('/v1/query/json')) bodies.push(JSON.parse(r.postData() ?? '{}'));
      });
      await visit(page, `#/accounts?${range}`, '[data-testid=top-accounts] tbody tr');
      const table = page.getByTestId('top-accounts');
      const check = async (pageNo: number) => {
        const body = bodies[bodies.length - 1];
        expect(body.limit).toBe(pageNo * 25 + 1);
        const answer = await api('POST', '/v1/query/json', body);
        const expected = answer.lines.slice((pageNo - 1) * 25, pageNo * 25);
        expect(await cellTexts(table, 2)).toEqual(expected.map((l: any) => l.account_id));
        expect(await exactRows(table)).toEqual(expected.map((l: any) => [l.quantity, String(l.count)]));
        expect(await cellTexts(table, 1)).toEqual(expected.map((_: unknown, i: number) => String((pageNo - 1) * 25 + i + 1)));
      };
      await check(1);
      expect(await table.locator('tbody tr').count()).toBe(25);
      await shot(page, 'accounts');
      await page.getByRole('link', { name: 'Next →' }).click();
      await page.getByText('Ranks 26–50').waitFor();
      await check(2);
      // The cross-account answer covers all accounts, yet a page asks for at most its own rows + 1.
      const all = await api('POST', '/v1/query/json', { from: RANGE.from, to: RANGE.to, group_by: ['account_id'], metrics: ['count'] });
      expect(all.lines.length).toBeGreaterThan(10_000);
      expect(Math.max(...bodies.map((b) => b.limit))).toBeLessThanOrEqual(51);
      // Search by id opens the account.
      await page.getByLabel('Account id').fill(RICH);
      await page.getByLabel('Account id').press('Enter');
      await page.getByRole('heading', { name: `Account ${RICH}` }).waitFor();
    },
    T,
  );

  it(
    'an account shows its chart, exact totals, explain, verify and paged, exportable raw events',
    async () => {
      const page = await open(KEYS.admin);
      const base = `/v1/accounts/${RICH}`;
      await visit(page, `#/accounts/${RICH}?${range}`, '[data-testid=totals] tbody tr');
      const usage = await api('GET', `${base}/usage?from=${RANGE.from}&to=${RANGE.to}&group_by=product_id,meter_id,model_id,unit`);
      const totals = page.getByTestId('totals');
      expect(await exactRows(totals)).toEqual(usage.lines.map((l: any) => [l.quantity, String(l.count)]));
      const tokens = usage.lines.filter((l: any) => l.unit === 'tokens').reduce((s: bigint, l: any) => s + BigInt(l.quantity), 0n);
      const foot = await totals.locator('tfoot tr').filter({ hasText: 'Total (tokens)' }).locator('[data-exact]').first().getAttribute('data-exact');
      expect(foot).toBe(tokens.toString());
      // The stacked chart (a labelled image) and its data table agree with the API's per-day lines.
      const canvas = page.locator('figure.chart canvas[role=img]');
      await canvas.waitFor();
      expect(await canvas.getAttribute('aria-label')).toMatch(/usage of acme in tokens by meter per day, \d+ days, 2 series/);
      const perDay = await api('GET', `${base}/usage?from=${RANGE.from}&to=${RANGE.to}&group_by=meter_id,day`);
      const dayOne = perDay.lines.filter((l: any) => l.day.startsWith(RANGE.from) && l.unit === 'tokens');
      await page.getByText('Chart data as a table').click();
      const firstRow = await page.locator('details.chart-data tbody tr').first().locator('td').allInnerTexts();
      expect(firstRow.map(noCommas).sort()).toEqual(dayOne.map((l: any) => l.quantity).sort());

      await page.getByRole('button', { name: 'Verify' }).click();
      await page.getByTestId('verify').waitFor();
      const verify = await api('GET', `${base}/verify?from=${RANGE.from}&to=${RANGE.to}`);
      expect(verify.matches).toBe(true);
      expect(noCommas(await factValue(page, 'verify', 'Raw total'))).toBe(verify.raw_total);
      expect(noCommas(await factValue(page, 'verify', 'Rollup total'))).toBe(verify.rollup_total);
      expect(await factValue(page, 'verify', 'Result')).toBe('Rollups agree with the raw events');
      await page.getByRole('button', { name: 'Explain' }).click();
      await page.getByTestId('explain-lines').waitFor();
      const explain = await api('GET', `${base}/explain?from=${RANGE.from}&to=${RANGE.to}`);
      expect(await exactRows(page.getByTestId('explain-lines'))).toEqual(explain.lines.map((l: any) => [l.quantity, String(l.count)]));

      // Raw events: 25 a page, cursor paging, export of what is shown.
      const events = page.getByTestId('events');
      const first = await api('GET', `${base}/usage/events?from=${RANGE.from}&to=${RANGE.to}&limit=25`);
      expect(await cellTexts(events, 2)).toEqual(first.events.map((e: any) => e.event_id));
      await page.getByRole('button', { name: 'Next →' }).click();
      await page.getByText(`Raw events of ${RICH}, 26–50`).waitFor();
      const second = await api('GET', `${base}/usage/events?from=${RANGE.from}&to=${RANGE.to}&limit=25&cursor=${first.next_cursor}`);
      expect(await cellTexts(events, 2)).toEqual(second.events.map((e: any) => e.event_id));
      expect(await exactRows(events)).toEqual(second.events.map((e: any) => [e.quantity]));
      const [ndjson] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export NDJSON' }).click()]);
      expect(ndjson.suggestedFilename()).toBe(`events-${RICH}-${RANGE.from}-${RANGE.to}-p2.ndjson`);
      const lines = readFileSync((await ndjson.path())!, 'utf8')
        .trimEnd()
        .split('\n');
      expect(lines.map((l) => JSON.parse(l))).toEqual(second.events);
      const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
      const rows = readFileSync((await csv.path())!, 'utf8')
        .trimEnd()
        .split('\r\n');
      expect(rows.length).toBe(26);
      expect(rows[0]!.startsWith('event_id,kind,account_id')).toBe(true);
      expect(rows[1]!.split(',')[0]).toBe(second.events[0].event_id);
      await page.getByRole('button', { name: '← Previous' }).click();
      await page.getByText(`Raw events of ${RICH}, 1–25`).waitFor();
      await page.getByText('Chart data as a table').click();
      await shot(page, 'account');

      // A quantity no double can hold is shown and summed exactly.
      await visit(page, `#/accounts/${HUGE_ACCOUNT}?${range}`, '[data-testid=totals] tbody tr');
      expect(await exactRows(page.getByTestId('totals'))).toEqual([[(BigInt(HUGE) + 1n).toString(), '2']]);
      expect(await page.getByTestId('totals').locator('tbody td').nth(3).innerText()).toBe('123,456,789,012,345,678,901,234,568');
    },
    T,
  );

  it(
    'Periods: frozen lines, adjustments and net total as the API says; reopen by mouse, close by keyboard',
    async () => {
      const page = await open(KEYS.admin);
      const path = `/v1/accounts/${CLOSED}/periods/${PERIOD}`;
      await visit(page, `#/periods/${CLOSED}?month=${PERIOD}`, '[data-testid=frozen-lines] tbody tr');
      const closed = await api('GET', path);
      expect(closed.state).toBe('closed');
      expect(noCommas(await factValue(page, 'period-facts', 'Frozen quantity'))).toBe(closed.frozen.quantity);
      expect(noCommas(await factValue(page, 'period-facts', 'Pending adjustments'))).toBe(closed.adjustments_quantity);
      expect(noCommas(await factValue(page, 'period-facts', 'Net total'))).toBe(closed.net_total);
      expect(await exactRows(page.getByTestId('frozen-lines'))).toEqual(closed.frozen.lines.map((l: any) => [l.quantity, String(l.count)]));
      expect(await exactRows(page.getByTestId('adjustments'))).toEqual(closed.pending_adjustments.map((a: any) => [a.quantity]));

      // Reopen with the mouse: a reason and the acknowledgement are required.
      await page.getByRole('button', { name: 'Reopen period…' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Reopen period' }).click();
      expect(await dialog.isVisible()).toBe(true); // refused: no reason yet
      await dialog.getByLabel('Reason (kept in the history)').fill('late usage from a batch importer');
      await dialog.getByLabel(/I understand/).check();
      await shot(page, 'period-reopen-dialog', false);
      await dialog.getByRole('button', { name: 'Reopen period' }).click();
      await page.getByRole('button', { name: 'Close period…' }).waitFor();
      const reopened = await api('GET', path);
      expect(reopened.state).toBe('open');
      expect(reopened.history.at(-1)).toMatchObject({ action: 'reopen', actor: 'ops', reason: 'late usage from a batch importer' });
      expect(noCommas(await factValue(page, 'period-facts', 'Live quantity'))).toBe(reopened.live.quantity);

      // Close with the keyboard only: Tab reaches the button, Enter opens the dialog, Space ticks.
      await page.locator('h1').focus();
      let found = false;
      for (let i = 0; i < 40 && !found; i++) {
        await page.keyboard.press('Tab');
        found = (await page.evaluate('document.activeElement?.textContent')) === 'Close period…';
      }
      expect(found, 'Tab reaches "Close period…"').toBe(true);
      await page.keyboard.press('Enter');
      await dialog.waitFor();
      expect(await page.evaluate('document.activeElement?.name')).toBe('reason');
      await page.keyboard.type('invoice re-sent');
      await page.keyboard.press('Tab');
      await page.keyboard.press('Space');
      await page.keyboard.press('Tab'); // Cancel
      await page.keyboard.press('Tab'); // Close period
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Close period');
      await page.keyboard.press('Enter');
      await page.getByRole('button', { name: 'Reopen period…' }).waitFor();
      const again = await api('GET', path);
      expect(again.state).toBe('closed');
      expect(again.history.at(-1)).toMatchObject({ action: 'close', actor: 'ops', reason: 'invoice re-sent' });
      expect(noCommas(await factValue(page, 'period-facts', 'Net total'))).toBe(again.net_total);
      // Focus came back to the page, on the new action, not lost on <body>.
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Reopen period…');
      await shot(page, 'periods');
    },
    T,
  );

  it(
    'keyboard: the skip link and the navigation work with Tab and Enter',
    async () => {
      const page = await open(KEYS.admin);
      // A fresh load (the key is kept for the tab): the first Tab lands on the skip link.
      await page.reload();
      await page.locator('#nav a').first().waitFor();
      await page.keyboard.press('Tab');
      expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
      await page.keyboard.press('Enter');
      expect(await page.evaluate('document.activeElement?.id')).toBe('main');
      // Load again without the #main fragment (a fragment moves where Tab starts).
      await page.goto(`${server.url}/console#/overview`); // same document: only the hash changes
      await page.reload();
      await page.locator('#nav a').first().waitFor();
      const visited: string[] = [];
      for (let i = 0; i < 10 && visited.at(-1) !== 'Jobs'; i++) {
        await page.keyboard.press('Tab');
        visited.push(String(await page.evaluate('document.activeElement?.textContent')));
      }
      expect(visited).toEqual(['Skip to content', 'usageDb console', 'Overview', 'Accounts', 'Periods', 'Conflicts', 'Jobs']);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Jobs' }).waitFor();
      expect(page.url().endsWith('#/jobs')).toBe(true);
      expect(await page.evaluate('document.activeElement?.tagName')).toBe('H1');
      expect(await page.locator('#nav a[aria-current=page]').innerText()).toBe('Jobs');
    },
    T,
  );

  it(
    'Conflicts: both payloads side by side (the quarantined one marked); resolve keeps the first copy with an audit record',
    async () => {
      const page = await open(KEYS.admin);
      await visit(page, '#/conflicts', '[data-testid=conflicts] li');
      expect(await page.getByTestId('resolve-note').count()).toBe(0);
      await page.getByRole('button', { name: 'Compare payloads' }).click();
      const compare = page.getByTestId('payloads');
      await compare.waitFor();
      const rows = await api('GET', `/v1/accounts/${CLASH.account}/usage/events/${CLASH.event}`);
      expect(rows.rows.map((r: any) => r.quarantined)).toEqual([false, true]);
      const quantity = compare.locator('tbody tr').filter({ has: page.locator('th', { hasText: /^quantity/ }) });
      expect(await quantity.locator('td').allInnerTexts()).toEqual(rows.rows.map((r: any) => r.quantity));
      expect(await quantity.getAttribute('class')).toBe('diff');
      expect(await quantity.locator('th').innerText()).toContain('differs');
      const source = compare.locator('tbody tr').filter({ has: page.locator('th', { hasText: /^source/ }) });
      expect(await source.getAttribute('class')).toBeNull();
      await shot(page, 'conflicts');

      await page.getByRole('button', { name: 'Resolve…' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel(/^keep/).selectOption('first');
      await dialog.getByLabel(/^reason/).fill('the retry carried a wrong model');
      await shot(page, 'conflicts-resolve-dialog', false);
      await dialog.getByRole('button', { name: 'Resolve' }).click();
      await dialog.waitFor({ state: 'detached' });
      // The dialog closes first; the console then sends the decision and re-renders the list.
      await page.getByText(`Conflict on ${CLASH.event} resolved.`).waitFor({ state: 'attached' });
      const after = await api('GET', '/v1/admin/conflicts');
      const clash = after.conflicts.find((c: any) => c.event_id === CLASH.event);
      expect(clash).toMatchObject({ status: 'resolved', resolution: { keep: 'first', actor: 'ops', reason: 'the retry carried a wrong model' } });
    },
    T,
  );

  it(
    'Jobs: GC starts with a dry run, deletes only after confirmation, and reports per shard',
    async () => {
      const page = await open(KEYS.admin);
      await visit(page, '#/jobs', 'h1');
      await page.getByRole('button', { name: 'GC: dry run' }).click();
      const report = page.getByTestId('report-gc');
      await report.waitFor();
      expect(await report.locator('.badge', { hasText: 'dry run' }).count()).toBe(4);
      const dry = await api('POST', '/v1/admin/jobs/gc?dry_run=true');
      const n = dry.results.reduce((s: number, r: any) => s + (r.deleted ?? 0), 0);
      expect(n).toBeGreaterThan(0); // at least the orphaned segment the fixture left
      expect(dry.results.flatMap((r: any) => r.keys ?? []).some((k: string) => k.includes('01ORPHANED'))).toBe(true);
      const run = page.getByRole('button', { name: `Run GC and delete ${n} object${n === 1 ? '' : 's'}…` });
      await run.waitFor();
      await shot(page, 'jobs-gc-dry-run');
      await run.click();
      const dialog = page.getByRole('dialog');
      await dialog.getByLabel(/cannot be restored/).check();
      await dialog.getByRole('button', { name: 'Run GC' }).click();
      await page.getByRole('heading', { name: 'GC', exact: true }).waitFor();
      expect(await page.getByTestId('report-gc').locator('.badge', { hasText: 'dry run' }).count()).toBe(0);
      const after = await api('POST', '/v1/admin/jobs/gc?dry_run=true');
      expect(after.results.reduce((s: number, r: any) => s + (r.deleted ?? 0), 0)).toBe(0);
      await page.getByRole('button', { name: 'Run compaction' }).click();
      await page.getByTestId('report-compact').waitFor();
      expect(await page.getByTestId('report-compact').locator('tbody tr').count()).toBe(4);
      await shot(page, 'jobs');
    },
    T,
  );

  it(
    'a read-only key sees no admin section and no admin action',
    async () => {
      const page = await open(KEYS.read);
      expect(await page.locator('#nav a').allInnerTexts()).toEqual(['Overview', 'Accounts', 'Periods']);
      expect(await page.getByTestId('scopes').innerText()).toBe('read');
      await page.getByRole('heading', { name: 'Accounts', exact: true }).waitFor(); // the start page of a read key
      await visit(page, `#/periods/${CLOSED}?month=${PERIOD}`, '[data-testid=period-facts]');
      expect(await page.getByRole('button', { name: /Close period|Reopen period/ }).count()).toBe(0);
      await page.getByText('Closing and reopening need a key with the admin scope.').waitFor();
      await shot(page, 'readonly-periods');
      await visit(page, '#/jobs', 'h1');
      expect(
        await page
          .getByRole('button')
          .filter({ hasText: /Run|GC/ })
          .count(),
      ).toBe(0);
      await page.getByText('This page needs a key with the admin scope.').waitFor();
      await visit(page, '#/overview', '[data-testid=health]');
      expect(await page.getByTestId('shards').count()).toBe(0);
      await page.getByText('Database status, rates and jobs need a key with the admin scope.').waitFor();
    },
    T,
  );

  it(
    'an open loopback server needs no key',
    async () => {
      const openServer = await startServer({ keys: false, seed: false });
      try {
        const page = await open(null, undefined, openServer.url);
        await page.getByRole('heading', { name: 'Overview' }).waitFor();
        expect(await page.locator('#who').innerText()).toContain('Open server');
        expect(await page.locator('#nav a').count()).toBe(5);
        expect(await page.getByRole('heading', { name: 'Sign in' }).count()).toBe(0);
        await shot(page, 'open-server-overview');
        await page.close();
      } finally {
        await openServer.close();
      }
    },
    T,
  );

  it(
    'fits a phone: no page scrolls sideways at 390 px',
    async () => {
      const page = await open(KEYS.admin, { width: 390, height: 844 });
      for (const [hash, ready, name] of [
        ['#/overview', '[data-testid=shards]', 'phone-overview'],
        [`#/accounts/${RICH}?${range}`, '[data-testid=events] tbody tr', 'phone-account'],
        [`#/periods/${CLOSED}?month=${PERIOD}`, '[data-testid=period-facts]', 'phone-periods'],
      ] as const) {
        await visit(page, hash, ready);
        expect(await page.evaluate('document.documentElement.scrollWidth'), hash).toBeLessThanOrEqual(390);
        await shot(page, name);
      }
    },
    T,
  );

  it('no page broke the Content-Security-Policy or threw', async () => {
    const problems = (await Promise.all(watched.filter((w) => !w.page.isClosed()).map((w) => w.problems()))).flat();
    expect(problems).toEqual([]);
  });
});
