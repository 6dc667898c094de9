/**
 * One tour of every route through the client against a real usageDb app (in-process, over HTTP,
 * or on MinIO): a 2,400-event workload whose totals are computed independently here, then every
 * query, period, job and system helper with exact expected answers.
 */
import { expect } from 'vitest';
import { buildOpenApi } from '../../src/api/openapi.ts';
import { BadRequestError, type UsageDbClient, type ResultLine, type UsageDbError, type UsageEventInput } from '../../src/client/index.ts';

export const JAN = Date.UTC(2026, 0, 1);
export const ACCOUNTS = ['acme', 'globex', 'initech'] as const;

export interface Workload {
  readonly events: UsageEventInput[];
  /** Sum and count per account, and per (account, meter). */
  readonly totals: Map<string, { quantity: bigint; count: number }>;
}

const BIG = 10n ** 30n;

export function workload(n = 2400, prefix = 'wl'): Workload {
  const events: UsageEventInput[] = [];
  const totals = new Map<string, { quantity: bigint; count: number }>();
  const add = (key: string, q: bigint) => {
    const t = totals.get(key) ?? { quantity: 0n, count: 0 };
    t.quantity += q;
    t.count++;
    totals.set(key, t);
  };
  for (let i = 0; i < n; i++) {
    const account = ACCOUNTS[i % 3]!;
    const meter = i % 4 < 2 ? 'tokens.input' : 'tokens.output';
    const q = i % 100 === 0 ? BIG + BigInt(i) : BigInt(i * 7 + 1);
    events.push({
      event_id: `${prefix}-${String(i).padStart(5, '0')}`,
      account_id: account,
      product_id: 'chat',
      meter_id: meter,
      model_id: i % 5 === 0 ? 'model-b' : 'model-a',
      source: 'api',
      unit: 'tokens',
      // Spread over 20 days of January, out of order within each batch.
      timestamp_ms: JAN + ((i * 7919) % (20 * 86_400)) * 1000,
      quantity: i % 100 === 0 ? q : i % 2 === 0 ? Number(q) : q.toString(),
      dimensions: { region: i % 2 === 0 ? 'eu' : 'us' },
    });
    add(account, q);
    add(`${account}/${meter}`, q);
  }
  return { events, totals };
}

const total = (w: Workload, key: string) => w.totals.get(key)!;
const sortLines = (lines: readonly ResultLine[]) => [...lines].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

async function rejection(p: Promise<unknown>): Promise<UsageDbError> {
  try {
    await p;
  } catch (err) {
    return err as UsageDbError;
  }
  throw new Error('expected a rejection');
}

/** Runs every helper against a fresh database behind `c`. */
export async function routeTour(c: UsageDbClient): Promise<void> {
  const range = { from: '2026-01-01', to: '2026-02-01' };
  const w = workload();

  // Ingest: three batches, every event accepted once.
  const report = await c.ingest(w.events);
  expect(report).toMatchObject({ accepted: 2400, duplicates: 0, conflicts: 0, rejected: 0, acceptedOnEarlierAttempt: 0, batches: 3, attempts: 3 });
  expect(report.outcomes.every((o, i) => o.index === i && o.status === 'accepted' && o.event_id === w.events[i]!.event_id)).toBe(true);

  // Usage, total and grouped.
  for (const a of ACCOUNTS) {
    const u = await c.usage(a, range);
    expect(u).toMatchObject({ account_id: a, from: '2026-01-01T00:00:00.000Z', to: '2026-02-01T00:00:00.000Z', source: 'auto' });
    expect(u.lines).toEqual([{ quantity: total(w, a).quantity.toString(), count: total(w, a).count, unit: 'tokens' }]);
  }
  const byMeter = await c.usage('acme', { ...range, group_by: ['meter_id'], product_id: 'chat', source: 'raw' });
  expect(sortLines(byMeter.lines)).toEqual(
    sortLines(
      ['tokens.input', 'tokens.output'].map((m) => ({
        meter_id: m,
        quantity: total(w, `acme/${m}`).quantity.toString(),
        count: total(w, `acme/${m}`).count,
        unit: 'tokens',
      })),
    ),
  );

  // The audit trail, page by page, in (timestamp_ms, event_id) order.
  const expectedRows = w.events
    .filter((e) => e.account_id === 'globex')
    .sort((x, y) => x.timestamp_ms! - y.timestamp_ms! || (x.event_id! < y.event_id! ? -1 : 1))
    .map((e) => e.event_id);
  const rows: string[] = [];
  let pages = 0;
  for await (const page of c.eventPages('globex', { ...range, limit: 300 })) {
    pages++;
    rows.push(...page.events.map((r) => r.event_id));
  }
  expect(rows).toEqual(expectedRows);
  expect(pages).toBe(Math.ceil(800 / 300));
  const firstRow = (await c.iterateEvents('globex', { ...range, meter_id: 'tokens.output', limit: 1 }).next()).value!;
  expect(firstRow).toMatchObject({
    account_id: 'globex',
    meter_id: 'tokens.output',
    kind: 'Usage',
    correction_ref: null,
    subscription_id: null,
    unit: 'tokens',
  });

  // Explain and verify agree with the workload.
  const ex = await c.explain('acme', range);
  expect(ex.lines.reduce((s, l) => s + BigInt(l.quantity!), 0n)).toBe(total(w, 'acme').quantity);
  expect(ex.corrections).toEqual([]);
  expect(ex.segments.reduce((s, seg) => s + seg.rows, 0)).toBe(800);
  const v = await c.verify('acme', range);
  expect(v).toMatchObject({
    raw_total: total(w, 'acme').quantity.toString(),
    rollup_total: total(w, 'acme').quantity.toString(),
    raw_count: 800,
    drift: '0',
    matches: true,
    period_sealed: false,
  });

  // JSON and SQL queries.
  const q = await c.queryJson({
    from: new Date(JAN),
    to: '2026-02-01',
    group_by: ['account_id'],
    order_by: [{ key: 'account_id', direction: 'asc' }],
    metrics: ['sum', 'count'],
  });
  expect(q.lines).toEqual(ACCOUNTS.map((a) => ({ account_id: a, quantity: total(w, a).quantity.toString(), count: total(w, a).count, unit: 'tokens' })));
  const sql = await c.querySql(
    `SELECT meter_id, SUM(quantity), COUNT(*) FROM usage_events WHERE account_id = 'initech' AND timestamp_ms >= ${JAN} AND timestamp_ms < ${Date.UTC(2026, 1, 1)} GROUP BY meter_id ORDER BY meter_id`,
  );
  expect(sql.account_id).toBe('initech');
  expect(sql.lines).toEqual(
    ['tokens.input', 'tokens.output'].map((m) => ({
      meter_id: m,
      quantity: total(w, `initech/${m}`).quantity.toString(),
      count: total(w, `initech/${m}`).count,
      unit: 'tokens',
    })),
  );

  // Sending events again: duplicates, a conflict, an invalid event, a new one.
  const again = await c.ingest(w.events.slice(0, 3));
  expect(again.outcomes.map((o) => o.status)).toEqual(['duplicate', 'duplicate', 'duplicate']);
  const mixed = await c.ingest([
    w.events[0]!,
    { ...w.events[1]!, quantity: 5 },
    { ...w.events[2]!, event_id: 'bad-quantity', quantity: '1.5' },
    { ...w.events[3]!, event_id: 'new-one' },
  ]);
  expect(mixed).toMatchObject({ accepted: 1, duplicates: 1, conflicts: 1, rejected: 1 });
  expect(mixed.outcomes.map((o) => [o.status, o.reason?.split(':')[0]])).toEqual([
    ['accepted_or_duplicate', undefined],
    ['conflict', 'conflict'],
    ['rejected', 'quantity'],
    ['accepted_or_duplicate', undefined],
  ]);
  const newOne = BigInt(w.events[3]!.quantity as string | number | bigint);

  // Periods: close (idempotent), Usage refused, read, list, reopen.
  const acmeJan = total(w, 'acme').quantity + (w.events[3]!.account_id === 'acme' ? newOne : 0n);
  const closed = await c.closePeriod('acme', '2026-01', { reason: 'January invoice' });
  expect(closed).toMatchObject({ account_id: 'acme', period: '2026-01', state: 'closed', already_closed: false, net_total: acmeJan.toString() });
  if (closed.state !== 'closed') throw new Error('not closed');
  expect(closed.frozen.quantity).toBe(acmeJan.toString());
  expect((await c.closePeriod('acme', '2026-01')).already_closed).toBe(true);
  const late = await c.ingest([{ ...w.events[0]!, event_id: 'late-usage' }]);
  expect(late.outcomes[0]).toMatchObject({ status: 'rejected' });
  expect(late.outcomes[0]!.reason).toMatch(/^period_closed: /);
  expect(await c.getPeriod('acme', '2026-01')).toMatchObject({ state: 'closed', history: [{ action: 'close', reason: 'January invoice' }] });
  expect((await c.listPeriods('acme')).periods).toEqual([
    {
      period: '2026-01',
      state: 'closed',
      closed_at: closed.closed_at,
      frozen_quantity: acmeJan.toString(),
      adjustments_quantity: '0',
      net_total: acmeJan.toString(),
      transitions: 1,
    },
  ]);
  const reopened = await c.reopenPeriod('acme', '2026-01', { reason: 'late correction' });
  expect(reopened).toMatchObject({ state: 'open', reopened: true });
  expect(await c.getPeriod('acme', '2026-01')).toMatchObject({ state: 'open', live: { quantity: acmeJan.toString(), event_count: 801 } });
  expect((await c.reopenPeriod('acme', '2026-01')).reopened).toBe(false);

  // Jobs, then the totals still verify.
  const compact = await c.runJob('compact');
  expect(compact).toMatchObject({ job: 'compact', failed: 0 });
  const rollup = await c.runJob('rollup');
  expect(rollup).toMatchObject({ job: 'rollup', failed: 0 });
  expect(await c.verify('globex', range)).toMatchObject({ matches: true, drift: '0', raw_total: total(w, 'globex').quantity.toString() });
  const gc = await c.runJob('gc', { dry_run: true });
  expect(gc).toMatchObject({ job: 'gc', failed: 0 });
  expect(gc.results.filter((r) => r.shard !== undefined).every((r) => r.dry_run === true)).toBe(true);
  expect(await c.conflicts()).toEqual({ conflicts: [] });

  // track(): buffered, flushed on size and on close.
  const tracker = c.createTracker({ flushEvents: 100, flushIntervalMs: 60_000, flushOnExit: false });
  for (let i = 0; i < 150; i++)
    tracker.track({ account_id: 'tracked', product_id: 'chat', meter_id: 'calls', source: 'sdk', unit: 'calls', timestamp_ms: JAN + i * 1000, quantity: 2n });
  await tracker.close();
  expect((await c.usage('tracked', range)).lines).toEqual([{ quantity: '300', count: 150, unit: 'calls' }]);

  // System routes.
  expect(await c.health()).toMatchObject({ status: 'ok', store: { ok: true }, writable: true });
  expect(await c.openapi()).toEqual(JSON.parse(JSON.stringify(buildOpenApi())));
  expect(await c.metrics()).toContain('usagedb_http_requests_total');
  expect((await c.docs()).toLowerCase()).toContain('<!doctype html>');

  // The server's own 400s, typed.
  const badFrom = await rejection(c.usage('acme', { from: 'yesterday', to: '2026-02-01' }));
  expect(badFrom).toBeInstanceOf(BadRequestError);
  expect(badFrom).toMatchObject({ code: 'invalid_request', status: 400, details: { field: 'from' }, retryable: false });
  expect(badFrom.requestId).toMatch(/^[0-9A-Z]{26}$/);
  expect(await rejection(c.getPeriod('acme', '2026-13'))).toMatchObject({ code: 'invalid_request', details: { field: 'period' } });
}
