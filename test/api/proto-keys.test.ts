/**
 * Issue 16 item 8: dimension keys named like JavaScript object properties (`toString`,
 * `constructor`, `valueOf`, `hasOwnProperty`, `__proto__`, ...) are ordinary keys through the whole
 * query path. Property test over HTTP: events carrying such dimensions are ingested, then grouped
 * (`dim:<key>`, `dimensions.<key>` and the bare key) and filtered on them through the JSON query,
 * the SQL query and the usage route, on raw segments and after compaction and rollup; every answer
 * must equal an independent computation over the events (Maps only), and every line must be
 * well-formed (each group key present with a string or null, nothing inherited, nothing extra).
 * `__proto__` itself is refused as a dimension key at ingest (it is reserved), so grouping by it
 * gives null and filtering on it matches nothing — never a malformed line or a dropped filter.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runJob } from '../../src/jobs/run.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, type Instance } from '../support/instance.ts';

/** Object.prototype's own names, and a plain one for contrast. */
const PROTO_KEYS = [
  'toString',
  'constructor',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupGetter__',
];
const KEYS = [...PROTO_KEYS, 'region'];
/** Keys that may be asked for: every stored one plus `__proto__`, which no event can carry. */
const QUERY_KEYS = [...KEYS, '__proto__'];
const VALUES = ['a', 'b', 'toString', '__proto__', '{}'];
const T0 = Date.UTC(2026, 0, 5);
const RANGE = { from: '2026-01-05', to: '2026-01-06' };
const TS_RANGE = `timestamp_ms >= ${T0} AND timestamp_ms < ${T0 + 86_400_000}`;

interface Ev {
  readonly event_id: string;
  readonly account_id: string;
  readonly meter_id: string;
  readonly quantity: string;
  readonly timestamp_ms: number;
  readonly dims: ReadonlyMap<string, string>;
}

const quantity = fc.oneof(fc.integer({ min: -1_000_000, max: 1_000_000 }).map(String), fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String));
const dims = fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), fc.constantFrom(...VALUES)), { maxLength: 4, selector: ([k]) => k }).map((e) => new Map(e));
const events = fc
  .array(
    fc.record({ account: fc.constantFrom('acc_a', 'acc_b'), meter: fc.constantFrom('m1', 'm2'), quantity, minute: fc.integer({ min: 0, max: 1439 }), dims }),
    { minLength: 1, maxLength: 40 },
  )
  .map((es) =>
    es.map(
      (e, i): Ev => ({
        event_id: `e-${i}`,
        account_id: e.account,
        meter_id: e.meter,
        quantity: e.quantity,
        timestamp_ms: T0 + e.minute * 60_000 + i,
        dims: e.dims,
      }),
    ),
  );

type Form = 'dim:' | 'dimensions.' | 'bare';
const groupKey = fc.record({ key: fc.constantFrom(...QUERY_KEYS), form: fc.constantFrom<Form>('dim:', 'dimensions.', 'bare') });
const query = fc.record({
  group: fc.uniqueArray(groupKey, { maxLength: 3, selector: (g) => g.key }),
  withMeter: fc.boolean(),
  filter: fc.option(fc.record({ key: fc.constantFrom(...QUERY_KEYS), values: fc.uniqueArray(fc.constantFrom(...VALUES), { minLength: 1, maxLength: 2 }) }), {
    nil: undefined,
  }),
  account: fc.option(fc.constantFrom('acc_a', 'acc_b'), { nil: undefined }),
});
type Query = typeof query extends fc.Arbitrary<infer Q> ? Q : never;

function wire(e: Ev): Record<string, unknown> {
  return {
    event_id: e.event_id,
    account_id: e.account_id,
    product_id: 'chat',
    meter_id: e.meter_id,
    source: 'api',
    unit: 'tokens',
    timestamp_ms: e.timestamp_ms,
    quantity: e.quantity,
    dimensions: Object.fromEntries(e.dims),
  };
}

const spelled = (g: { key: string; form: Form }) => (g.form === 'bare' ? g.key : `${g.form}${g.key}`);

/** The expected lines, computed from the events with Maps only: sorted [values..., quantity, count]. */
function expected(evs: readonly Ev[], q: Query): string[] {
  const groups = new Map<string, { values: (string | null)[]; sum: bigint; count: number }>();
  for (const e of evs) {
    if (q.account !== undefined && e.account_id !== q.account) continue;
    if (q.filter !== undefined) {
      const v = e.dims.get(q.filter.key);
      if (v === undefined || !q.filter.values.includes(v)) continue;
    }
    const values = [...(q.withMeter ? [e.meter_id] : []), ...q.group.map((g) => e.dims.get(g.key) ?? null)];
    const id = JSON.stringify(values);
    const g = groups.get(id) ?? { values, sum: 0n, count: 0 };
    g.sum += BigInt(e.quantity);
    g.count += 1;
    groups.set(id, g);
  }
  if (groups.size === 0 && q.group.length === 0 && !q.withMeter) return [JSON.stringify(['0', 0])];
  return [...groups.values()].map((g) => JSON.stringify([...g.values, g.sum.toString(), g.count])).sort();
}

/** The answer's lines checked for shape, as sorted [values..., quantity, count]. */
function actual(lines: unknown, names: readonly string[]): string[] {
  expect(Array.isArray(lines)).toBe(true);
  return (lines as Record<string, unknown>[])
    .map((line) => {
      const own = Object.keys(line);
      for (const k of own) expect([...names, 'quantity', 'count', 'unit']).toContain(k);
      const values = names.map((n) => {
        expect(Object.hasOwn(line, n), `line ${JSON.stringify(line)} lacks ${n}`).toBe(true);
        const v = line[n];
        expect(v === null || typeof v === 'string', `${n} = ${JSON.stringify(v)}`).toBe(true);
        return v;
      });
      expect(typeof line.quantity).toBe('string');
      expect(typeof line.count).toBe('number');
      return JSON.stringify([...values, line.quantity, line.count]);
    })
    .sort();
}

async function post(inst: Instance, path: string, body: unknown): Promise<{ status: number; body: any; text: string }> {
  const res = await inst.app.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), text };
}

const sqlIdent = (s: string) => `"${s}"`;
const sqlString = (s: string) => `'${s.replaceAll("'", "''")}'`;

async function checkAll(inst: Instance, evs: readonly Ev[], q: Query, source: 'raw' | 'auto' | 'rollup'): Promise<void> {
  const names = [...(q.withMeter ? ['meter_id'] : []), ...q.group.map((g) => `dim:${g.key}`)];
  const want = expected(evs, q);

  // JSON query
  const body = {
    source,
    ...RANGE,
    ...(q.account === undefined ? {} : { account_id: q.account }),
    group_by: [...(q.withMeter ? ['meter_id'] : []), ...q.group.map(spelled)],
    ...(q.filter === undefined ? {} : { filters: { [`dim:${q.filter.key}`]: q.filter.values } }),
  };
  const json = await post(inst, '/v1/query/json', body);
  expect(json.status, json.text).toBe(200);
  expect(actual(json.body.lines, names), `JSON ${JSON.stringify(body)}`).toEqual(want);

  // SQL (same query)
  const select = [...(q.withMeter ? ['meter_id'] : []), ...q.group.map((g) => sqlIdent(`dim:${g.key}`))];
  const where = [
    ...(q.account === undefined ? [] : [`account_id = ${sqlString(q.account)}`]),
    TS_RANGE,
    ...(q.filter === undefined ? [] : [`${sqlIdent(`dim:${q.filter.key}`)} IN (${q.filter.values.map(sqlString).join(', ')})`]),
  ];
  const sql = `SELECT ${[...select, 'SUM(quantity)', 'COUNT(*)'].join(', ')} FROM usage_events WHERE ${where.join(' AND ')}${select.length > 0 ? ` GROUP BY ${select.join(', ')}` : ''}`;
  if (source !== 'rollup') {
    const s = await post(inst, '/v1/query/sql', { sql });
    expect(s.status, s.text).toBe(200);
    expect(actual(s.body.lines, names), sql).toEqual(want);
  }

  // The usage route (no dimension filters there): group_by in the query string.
  if (q.account !== undefined && q.filter === undefined) {
    const gb = encodeURIComponent([...(q.withMeter ? ['meter_id'] : []), ...q.group.map(spelled)].join(','));
    const res = await inst.app.request(
      `/v1/accounts/${q.account}/usage?from=${RANGE.from}&to=${RANGE.to}&source=${source}${gb === '' ? '' : `&group_by=${gb}`}`,
    );
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(actual(JSON.parse(text).lines, names)).toEqual(want);
  }
}

describe('dimension keys named like Object properties are ordinary keys', () => {
  it('ingest, group and filter on them over HTTP: answers equal an independent computation (raw, auto, and after compaction + rollup)', async () => {
    const store = new MemoryStore();
    let n = 0;
    await fc.assert(
      fc.asyncProperty(events, fc.array(query, { minLength: 1, maxLength: 4 }), async (evs, queries) => {
        const inst = await openInstance(store, `proto-${n++}`, { shards: 2, buckets: 4 });
        const r = await postBatch(inst.app, evs.map(wire));
        expect(r.body, JSON.stringify(r.body.errors)).toMatchObject({ accepted: evs.length, rejected: 0 });
        for (const q of queries) {
          await checkAll(inst, evs, q, 'raw');
          await checkAll(inst, evs, q, 'auto');
        }
        for (const job of ['compact', 'rollup'] as const) expect((await runJob(inst.db, job, { compact: { graceMs: 0 } })).failed).toBe(0);
        for (const q of queries) {
          await checkAll(inst, evs, q, 'auto');
          await checkAll(inst, evs, q, 'raw');
          await checkAll(inst, evs, q, 'rollup');
        }
      }),
      { numRuns: 60, seed: 1616 },
    );
  }, 180_000);

  it('the cases of the issue, one by one', async () => {
    const inst = await openInstance(new MemoryStore(), 'proto-cases');
    const evs: Record<string, unknown>[] = [
      {
        event_id: 'x1',
        account_id: 'acc_p',
        product_id: 'chat',
        meter_id: 'm',
        source: 'api',
        unit: 'tokens',
        timestamp_ms: T0,
        quantity: 5,
        dimensions: { toString: 'ts', region: 'eu' },
      },
      {
        event_id: 'x2',
        account_id: 'acc_p',
        product_id: 'chat',
        meter_id: 'm',
        source: 'api',
        unit: 'tokens',
        timestamp_ms: T0 + 1,
        quantity: 7,
        dimensions: { constructor: 'c' },
      },
    ];
    expect((await postBatch(inst.app, evs)).body.accepted).toBe(2);
    const q = (extra: object) => post(inst, '/v1/query/json', { ...RANGE, ...extra });
    // group by dim:__proto__ was {"dim:__proto__": {}}; dim:toString was missing from the line.
    const grouped = await q({ group_by: ['dim:__proto__', 'dim:toString', 'dim:constructor'] });
    expect(grouped.body.lines).toEqual([
      { 'dim:__proto__': null, 'dim:toString': null, 'dim:constructor': 'c', quantity: '7', count: 1, unit: 'tokens' },
      { 'dim:__proto__': null, 'dim:toString': 'ts', 'dim:constructor': null, quantity: '5', count: 1, unit: 'tokens' },
    ]);
    expect(grouped.text).not.toContain('{}');
    // A filter named __proto__ used to be dropped silently (the all-events total); now it is a 400.
    const proto = await q({ filters: JSON.parse('{"__proto__": ["x"]}') });
    expect(proto.status).toBe(400);
    expect(proto.body.error.message).toMatch(/^filters\.__proto__: .*unknown filter "__proto__"/);
    // dim:__proto__ as a filter: no event has it, so nothing matches (one zero line, ungrouped).
    expect((await q({ filters: { 'dim:__proto__': ['x'] } })).body.lines).toEqual([{ quantity: '0', count: 0 }]);
    // dim:toString as a filter matches the event that has it, not every event (Object.prototype.toString).
    expect((await q({ filters: { 'dim:toString': ['ts'] } })).body.lines).toEqual([{ quantity: '5', count: 1, unit: 'tokens' }]);
    expect((await q({ filters: { 'dim:valueOf': ['x'] } })).body.lines).toEqual([{ quantity: '0', count: 0 }]);
    // Metric and order_by names are not looked up on Object.prototype either.
    expect((await q({ metrics: ['constructor'] })).status).toBe(400);
    expect((await q({ group_by: ['dim:toString'], order_by: ['constructor desc'] })).status).toBe(400);
    expect(
      (await q({ group_by: ['dim:toString'], order_by: ['dim:toString desc'] })).body.lines.map((l: Record<string, unknown>) => l['dim:toString']),
    ).toEqual(['ts', null]);
    // `__proto__` is a reserved dimension key at ingest: the event is rejected, naming it.
    const reserved = await postBatch(
      inst.app,
      `{"events": [{"event_id": "x3", "account_id": "acc_p", "product_id": "chat", "meter_id": "m", "source": "api", "unit": "tokens", "timestamp_ms": ${T0}, "quantity": 1, "dimensions": {"__proto__": "p"}}]}`,
    );
    expect(reserved.body).toMatchObject({ accepted: 0, rejected: 1, errors: [{ index: 0, reason: 'dimensions: the key "__proto__" is reserved' }] });
  });
});
