/**
 * The query helpers on the wire (fake fetch): URLs, encoded path segments, query strings, bodies,
 * auth and request-id headers, /health's 503 answer, audit paging; plus the rule that the client
 * imports nothing outside src/client (no server code, no node:*, no packages).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, UnexpectedResponseError, UsageDbClient, type AuditRow, type EventsPage } from '../../src/client/index.ts';
import { fakeFetch, json, type Seen } from './fake-server.ts';

function recorder(answer: (req: Seen) => Response = () => json({})) {
  const f = fakeFetch(answer);
  const c = new UsageDbClient({ baseUrl: 'https://api.example.com/usagedb/', apiKey: 'secret-key-0123456789', fetch: f.fetch, retry: { baseDelayMs: 0 } });
  return { c, seen: f.seen };
}

const line = (req: Seen) => `${req.method} ${req.url.pathname}${req.url.search}`;

describe('requests', () => {
  it('every helper calls its route with encoded path segments and wire-named parameters', async () => {
    const { c, seen } = recorder();
    const acct = 'acme/eu west?#%';
    await c.usage(acct, {
      from: new Date(Date.UTC(2026, 0, 1)),
      to: '2026-02-01',
      group_by: ['meter_id', 'day'],
      meter_id: ['a', 'b'],
      model_id: 'm',
      source: 'raw',
    });
    await c.events(acct, { from: '2026-01-01', to: '2026-02-01', limit: 50, cursor: 'abc' });
    await c.explain(acct, { from: '2026-01-01', to: '2026-02-01' });
    await c.verify(acct, { from: '2026-01-01', to: '2026-02-01' });
    await c.getPeriod(acct, '2026-01');
    await c.listPeriods(acct);
    await c.closePeriod(acct, '2026-01', { reason: 'January invoice' });
    await c.reopenPeriod(acct, '2026-01');
    await c.runJob('gc', { dry_run: true });
    await c.runJob('compact');
    await c.conflicts();
    await c.queryJson({
      from: new Date(Date.UTC(2026, 0, 1)),
      to: '2026-02-01',
      group_by: ['model_id'],
      order_by: [{ metric: 'sum', direction: 'desc' }],
      limit: 3,
    });
    await c.querySql('SELECT SUM(quantity) FROM usage_events WHERE timestamp_ms >= 1 AND timestamp_ms < 2');
    const enc = 'acme%2Feu%20west%3F%23%25';
    expect(seen.map(line)).toEqual([
      `GET /usagedb/v1/accounts/${enc}/usage?from=2026-01-01T00%3A00%3A00.000Z&to=2026-02-01&group_by=meter_id%2Cday&meter_id=a%2Cb&model_id=m&source=raw`,
      `GET /usagedb/v1/accounts/${enc}/usage/events?from=2026-01-01&to=2026-02-01&limit=50&cursor=abc`,
      `GET /usagedb/v1/accounts/${enc}/explain?from=2026-01-01&to=2026-02-01`,
      `GET /usagedb/v1/accounts/${enc}/verify?from=2026-01-01&to=2026-02-01`,
      `GET /usagedb/v1/accounts/${enc}/periods/2026-01`,
      `GET /usagedb/v1/accounts/${enc}/periods`,
      `POST /usagedb/v1/accounts/${enc}/periods/2026-01/close`,
      `POST /usagedb/v1/accounts/${enc}/periods/2026-01/reopen`,
      'POST /usagedb/v1/admin/jobs/gc?dry_run=true',
      'POST /usagedb/v1/admin/jobs/compact',
      'GET /usagedb/v1/admin/conflicts',
      'POST /usagedb/v1/query/json',
      'POST /usagedb/v1/query/sql',
    ]);
    expect(seen[6]!.body).toBe('{"reason":"January invoice"}');
    expect(seen[7]!.body).toBe('{}');
    expect(JSON.parse(seen[11]!.body)).toEqual({
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-02-01',
      group_by: ['model_id'],
      order_by: [{ metric: 'sum', direction: 'desc' }],
      limit: 3,
    });
    expect(JSON.parse(seen[12]!.body)).toEqual({ sql: 'SELECT SUM(quantity) FROM usage_events WHERE timestamp_ms >= 1 AND timestamp_ms < 2' });
    for (const s of seen) {
      expect(s.headers.get('authorization')).toBe('Bearer secret-key-0123456789');
      expect(s.headers.get('x-request-id')).toMatch(/^[0-9A-Z]{26}$/);
      expect(s.headers.get('content-type')).toBe(s.method === 'POST' && s.body !== '' ? 'application/json' : null);
    }
  });

  it('a retry sends <request id>.<attempt>; a given request id is used', async () => {
    let n = 0;
    const { c, seen } = recorder(() => (++n === 1 ? json({ error: { code: 'store_unavailable', message: 'x' } }, 503) : json({ conflicts: [] })));
    await c.conflicts({ requestId: 'job-42' });
    expect(seen.map((s) => s.headers.get('x-request-id'))).toEqual(['job-42', 'job-42.2']);
  });

  it('ids no URL can carry, and list values with commas, are refused before sending', async () => {
    const { c, seen } = recorder();
    for (const bad of ['', '.', '..']) await expect(c.listPeriods(bad)).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(c.usage('a', { from: '2026-01-01', to: '2026-02-01', product_id: ['x,y'] })).rejects.toThrow(/contains a comma/);
    expect(seen).toEqual([]);
  });

  it('/health answers its 503 body instead of throwing, without retrying', async () => {
    const degraded = {
      status: 'degraded',
      store: { kind: 's3', ok: false, latency_ms: 3001, problem: 'no answer in 3000 ms' },
      writable: true,
      database: { db_id: 'x', shards: 1, buckets: 1 },
    };
    const { c, seen } = recorder(() => json(degraded, 503));
    expect(await c.health()).toEqual(degraded);
    expect(seen.length).toBe(1);
  });

  it('metrics and docs are text, openapi is JSON', async () => {
    const { c } = recorder((req) =>
      req.url.pathname.endsWith('/openapi.json') ? json({ openapi: '3.1.0' }) : new Response('# HELP x\n', { headers: { 'content-type': 'text/plain' } }),
    );
    expect(await c.metrics()).toBe('# HELP x\n');
    expect(await c.docs()).toBe('# HELP x\n');
    expect(await c.openapi()).toEqual({ openapi: '3.1.0' });
  });
});

describe('audit paging', () => {
  const row = (i: number) => ({ event_id: `e${i}`, timestamp_ms: i }) as unknown as AuditRow;
  const page = (events: AuditRow[], next: string | null): EventsPage => ({ account_id: 'a', from: 'f', to: 't', generation: 1, events, next_cursor: next });

  it('iterateEvents follows next_cursor to the last page', async () => {
    const pages: Record<string, EventsPage> = { '': page([row(1), row(2)], 'c1'), c1: page([row(3), row(4)], 'c2'), c2: page([row(5)], null) };
    const { c, seen } = recorder((req) => json(pages[req.url.searchParams.get('cursor') ?? '']));
    const rows: string[] = [];
    for await (const r of c.iterateEvents('a', { from: '2026-01-01', to: '2026-02-01', limit: 2 })) rows.push(r.event_id);
    expect(rows).toEqual(['e1', 'e2', 'e3', 'e4', 'e5']);
    expect(seen.map((s) => s.url.searchParams.get('cursor'))).toEqual([null, 'c1', 'c2']);
    expect(seen.every((s) => s.url.searchParams.get('limit') === '2')).toBe(true);
  });

  it('a server answering the same cursor again is an error, not an endless loop', async () => {
    const { c } = recorder(() => json(page([row(1)], 'same')));
    const it = c.eventPages('a', { from: '2026-01-01', to: '2026-02-01', cursor: 'same' });
    await expect(it.next()).resolves.toMatchObject({ done: false });
    await expect(it.next()).rejects.toBeInstanceOf(UnexpectedResponseError);
  });
});

describe('no server dependencies', () => {
  it('src/client imports only its own modules and uses no node:* or package', () => {
    const dir = fileURLToPath(new URL('../../src/client/', import.meta.url));
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const f of files) {
      const text = readFileSync(dir + f, 'utf8');
      const specifiers = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]!);
      for (const s of specifiers) expect(s, `${f} imports ${s}`).toMatch(/^\.\/[a-z-]+\.ts$/);
      expect(text, f).not.toMatch(/\b(require\(|Buffer\.|process\.env)/);
    }
  });
});
