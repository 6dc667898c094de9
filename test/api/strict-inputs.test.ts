/**
 * Issue 16 item 7: every JSON body is a strict object. An unknown field (a typo such as
 * `acount_id`, which used to answer the all-accounts total) is a 400 `invalid_request` whose
 * message starts with the field, on every route that takes a body; the job route's options are
 * query parameters and a body there is refused; unknown or repeated query parameters are 400s.
 * Inside an ingest batch an unknown event field rejects that event alone, naming the field, while
 * the reference's `ingested_at_ms` and `{"inner": {...}}` forms are still accepted.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, storedEvents, usage, type Instance } from '../support/instance.ts';

let inst: Instance;
const RANGE = { from: '2026-01-01', to: '2026-02-01' };

beforeAll(async () => {
  inst = await openInstance(new MemoryStore(), 'strict');
  expect((await postBatch(inst.app, [usage(1, { account_id: 'acc_r', quantity: 5 }), usage(2, { account_id: 'acc_s', quantity: 7 })])).body.accepted).toBe(2);
});

async function call(method: string, path: string, body?: string | object, type = 'application/json'): Promise<{ status: number; body: any }> {
  const init: RequestInit = { method, headers: { 'content-type': type } };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const res = await inst.app.request(path, init);
  return { status: res.status, body: await res.json() };
}

const period = '/v1/accounts/acc_r/periods/2025-11';

/** [what, method, path, body (a string is sent as is), message the 400 starts with]. */
const refused: [string, string, string, string | object | undefined, RegExp][] = [
  [
    'a typo in a JSON query field',
    'POST',
    '/v1/query/json',
    { acount_id: 'acc_r', ...RANGE },
    /^acount_id: unknown field; known fields: source, account_id, from, to,/,
  ],
  ['two unknown JSON query fields', 'POST', '/v1/query/json', { ...RANGE, grop_by: 'meter_id', limt: 3 }, /^grop_by, limt: unknown fields;/],
  [
    'an unknown field in an order_by object',
    'POST',
    '/v1/query/json',
    { ...RANGE, group_by: ['meter_id'], order_by: [{ key: 'sum', dir: 'desc' }] },
    /^order_by\.0\.dir: unknown field$/,
  ],
  [
    '__proto__ as a JSON query field',
    'POST',
    '/v1/query/json',
    `{"__proto__": {"account_id": "acc_r"}, "from": "2026-01-01", "to": "2026-02-01"}`,
    /^__proto__: unknown field/,
  ],
  ['constructor as a JSON query field', 'POST', '/v1/query/json', { constructor: 'x', ...RANGE }, /^constructor: unknown field/],
  ['a JSON query that is not an object', 'POST', '/v1/query/json', '[1, 2]', /^body: must be a JSON object/],
  ['a wrongly typed order_by entry', 'POST', '/v1/query/json', { ...RANGE, order_by: [5] }, /^order_by\.0: Invalid input: expected string or object/],
  [
    'an unknown field beside the SQL',
    'POST',
    '/v1/query/sql',
    { sql: 'SELECT SUM(quantity) FROM usage_events WHERE timestamp_ms >= 0 AND timestamp_ms < 10', params: [] },
    /^params: unknown field/,
  ],
  [
    'an unknown field in a period close',
    'POST',
    `${period}/close`,
    { reason: 'month end', forse: true },
    /^forse: unknown field; known fields: reason, force$/,
  ],
  ['an unknown field in a period reopen', 'POST', `${period}/reopen`, { reasn: 'typo' }, /^reasn: unknown field/],
  ['a period body that is not an object', 'POST', `${period}/close`, '"month end"', /^body: must be a JSON object/],
  ['a wrongly typed force', 'POST', `${period}/close`, { reason: 'x', force: 'yes' }, /^force: /],
  ['an unknown top-level ingest field', 'POST', '/v1/usage/batch', { events: [usage(90)], dry_run: true }, /^dry_run: unknown field; known fields: events$/],
  ['a misspelt events field', 'POST', '/v1/usage/batch', { event: [usage(91)] }, /^event: unknown field/],
  ['a job option sent as a body', 'POST', '/v1/admin/jobs/gc', { dry_run: true }, /^dry_run: unknown field/],
  ['a job body that is not an object', 'POST', '/v1/admin/jobs/compact', '[]', /^body: this route takes no body/],
  [
    'a misspelt field in a conflict resolution',
    'POST',
    '/v1/admin/conflicts/01KD81000000000000000000CD/resolve',
    { keap: 'first', reason: 'typo' },
    /^keap: unknown field; known fields: keep, reason$/,
  ],
  ['a conflict resolution that is not an object', 'POST', '/v1/admin/conflicts/01KD81000000000000000000CD/resolve', '"first"', /^body: must be a JSON object/],
  ['a misspelt job query parameter', 'POST', '/v1/admin/jobs/gc?dryrun=true', undefined, /^dryrun: unknown query parameter; allowed: dry_run$/],
  ['a query parameter on a period close', 'POST', `${period}/close?force=true`, undefined, /^force: unknown query parameter/],
  [
    'a repeated group_by',
    'GET',
    `/v1/accounts/acc_r/usage?from=2026-01-01&to=2026-02-01&group_by=meter_id&group_by=model_id`,
    undefined,
    /^group_by: given more than once/,
  ],
  [
    '__proto__ as a query parameter',
    'GET',
    `/v1/accounts/acc_r/usage?from=2026-01-01&to=2026-02-01&__proto__=x`,
    undefined,
    /^__proto__: unknown query parameter/,
  ],
  ['an unknown parameter on the periods list', 'GET', '/v1/accounts/acc_r/periods?state=closed', undefined, /^state: unknown query parameter/],
];

describe('unknown fields are refused, naming them', () => {
  for (const [what, method, path, body, message] of refused) {
    it(`${what}: 400 invalid_request`, async () => {
      const r = await call(method, path, body);
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe('invalid_request');
      expect(r.body.error.message).toMatch(message);
      expect(r.body.error.details.field).toBe(r.body.error.message.split(/[:,]/)[0]);
    });
  }

  it('nothing was stored, closed or run by the refused requests', async () => {
    expect((await storedEvents(inst.db)).map((e) => e.event_id).sort()).toEqual(['evt-1', 'evt-2']);
    expect((await call('GET', '/v1/accounts/acc_r/periods')).body.periods).toEqual([]);
  });

  it('the same bodies without the unknown field are answered 200', async () => {
    const one = await call('POST', '/v1/query/json', { account_id: 'acc_r', ...RANGE });
    expect(one).toMatchObject({ status: 200, body: { account_id: 'acc_r', lines: [{ quantity: '5', count: 1 }] } });
    const ordered = await call('POST', '/v1/query/json', { ...RANGE, group_by: ['account_id'], order_by: [{ key: 'sum', direction: 'desc' }] });
    expect(ordered.body.lines.map((l: { account_id: string }) => l.account_id)).toEqual(['acc_s', 'acc_r']);
    expect(
      (
        await call('POST', '/v1/query/sql', {
          sql: "SELECT SUM(quantity) FROM usage_events WHERE account_id = 'acc_s' AND timestamp_ms >= 1767225600000 AND timestamp_ms < 1769904000000",
        })
      ).body.lines,
    ).toEqual([{ quantity: '7', unit: 'tokens' }]);
    expect((await call('POST', `${period}/close`, { reason: 'month end' })).status).toBe(200);
    expect((await call('POST', `${period}/reopen`, {})).status).toBe(200);
    expect((await call('POST', `${period}/reopen`, '')).status).toBe(200);
    expect((await call('POST', '/v1/admin/jobs/gc?dry_run=true', '{}')).status).toBe(200);
    expect((await call('POST', '/v1/admin/jobs/compact', '')).status).toBe(200);
  });
});

describe('events inside a batch: an unknown field rejects that event alone', () => {
  it('names the field, accepts the others, and keeps the reference forms', async () => {
    const events = [
      usage(10, { account_id: 'acc_e', quantitiy: 3 }),
      usage(11, { account_id: 'acc_e', quantity: 4, ingested_at_ms: 1 }),
      usage(12, { account_id: 'acc_e', dimensions: { inner: { region: 'eu' } } }),
      usage(13, { account_id: 'acc_e', kind: 'Correction', correction_ref: { original_event_id: 'evt-11', reason: 'r', note: 'x' } }),
      usage(14, { account_id: 'acc_e', kind: 'Correction', correction_ref: { original_event_id: 'evt-11', reason: 'r' } }),
      JSON.parse(
        `{"event_id": "evt-15", "account_id": "acc_e", "product_id": "chat", "meter_id": "m", "source": "api", "unit": "tokens", "timestamp_ms": 1767225600000, "quantity": 1, "__proto__": {"x": 1}}`,
      ),
      usage(16, { account_id: 'acc_e', constructor: 'x' }),
    ];
    const r = await postBatch(inst.app, events);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ accepted: 3, rejected: 4 });
    expect(r.body.errors).toEqual([
      { index: 0, event_id: 'evt-10', reason: 'quantitiy: unknown field' },
      { index: 3, event_id: 'evt-13', reason: 'correction_ref.note: unknown field' },
      { index: 5, event_id: 'evt-15', reason: '__proto__: unknown field' },
      { index: 6, event_id: 'evt-16', reason: 'constructor: unknown field' },
    ]);
    const stored = (await storedEvents(inst.db)).filter((e) => e.account_id === 'acc_e');
    expect(stored.map((e) => e.event_id).sort()).toEqual(['evt-11', 'evt-12', 'evt-14']);
    expect(stored.find((e) => e.event_id === 'evt-12')!.dimensions).toEqual({ region: 'eu' });
    expect(stored.find((e) => e.event_id === 'evt-11')!.ingested_at_ms).not.toBe(1);
  });
});
