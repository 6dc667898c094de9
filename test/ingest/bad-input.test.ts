/**
 * The bad-input matrix for POST /v1/usage/batch: every validation rule plus malformed bodies and
 * limits. Each case gets its documented status and a message naming the field, and none of them
 * changes stored state.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, usage, type Instance } from '../support/instance.ts';

let store: MemoryStore;
let inst: Instance;
let keysBefore: string[];

beforeAll(async () => {
  store = new MemoryStore();
  inst = await openInstance(store, 'db');
  await postBatch(inst.app, [usage(0)]);
  keysBefore = store.keys();
});

async function raw(body: string | undefined, contentType = 'application/json') {
  const res = await inst.app.request('/v1/usage/batch', { method: 'POST', headers: { 'content-type': contentType }, ...(body === undefined ? {} : { body }) });
  return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string }; [k: string]: unknown } };
}

describe('malformed requests', () => {
  const cases: [string, string | undefined, number, string, string][] = [
    ['missing body', undefined, 400, 'invalid_request', 'body'],
    ['empty body', '', 400, 'invalid_request', 'body'],
    ['malformed JSON', '{"events": [', 400, 'invalid_request', 'body'],
    ['a JSON array instead of an object', '[]', 400, 'invalid_request', 'body'],
    ['a JSON string', '"events"', 400, 'invalid_request', 'body'],
    ['no events field', '{}', 400, 'invalid_request', 'events'],
    ['events not an array', '{"events": {"a": 1}}', 400, 'invalid_request', 'events'],
    ['deeply nested body', `${'['.repeat(200_000)}${']'.repeat(200_000)}`, 400, 'invalid_request', 'body'],
    ['a 10 MB body', JSON.stringify({ events: [usage(1, { dimensions: { big: 'x'.repeat(10 * 1024 * 1024) } })] }), 413, 'payload_too_large', 'body'],
    ['100,000 events in one batch', JSON.stringify({ events: Array.from({ length: 100_000 }, () => ({})) }), 413, 'payload_too_large', 'events'],
  ];
  for (const [label, body, status, code, field] of cases) {
    it(`${label} → ${status} naming ${field}`, async () => {
      const r = await raw(body);
      expect(r.status).toBe(status);
      expect(r.body.error?.code).toBe(code);
      expect(r.body.error?.message.startsWith(`${field}:`)).toBe(true);
      expect(store.keys()).toEqual(keysBefore);
    });
  }
});

describe('invalid events are rejected one by one with a reason naming the field', () => {
  const now = Date.now();
  const big = (1n << 127n).toString();
  const cases: [string, Record<string, unknown>, string][] = [
    ['missing event_id', usage(1, { event_id: undefined }), 'event_id'],
    ['empty event_id', usage(1, { event_id: '' }), 'event_id'],
    ['event_id of 257 characters', usage(1, { event_id: 'e'.repeat(257) }), 'event_id'],
    ['event_id with a NUL byte', usage(1, { event_id: 'evt\u0000x' }), 'event_id'],
    ['numeric event_id', usage(1, { event_id: 42 }), 'event_id'],
    ['missing account_id', usage(1, { account_id: undefined }), 'account_id'],
    ['account_id with a NUL byte', usage(1, { account_id: 'a\u0000' }), 'account_id'],
    ['empty subscription_id', usage(1, { subscription_id: '' }), 'subscription_id'],
    ['missing product_id', usage(1, { product_id: undefined }), 'product_id'],
    ['missing meter_id', usage(1, { meter_id: undefined }), 'meter_id'],
    ['model_id not a string', usage(1, { model_id: ['x'] }), 'model_id'],
    ['missing source', usage(1, { source: undefined }), 'source'],
    ['missing unit', usage(1, { unit: undefined }), 'unit'],
    ['missing timestamp_ms', usage(1, { timestamp_ms: undefined }), 'timestamp_ms'],
    ['zero timestamp_ms', usage(1, { timestamp_ms: 0 }), 'timestamp_ms'],
    ['negative timestamp_ms', usage(1, { timestamp_ms: -5 }), 'timestamp_ms'],
    ['fractional timestamp_ms', usage(1, { timestamp_ms: 1.5 }), 'timestamp_ms'],
    ['timestamp_ms as a string', usage(1, { timestamp_ms: '1767225600000' }), 'timestamp_ms'],
    ['timestamp_ms two days ahead', usage(1, { timestamp_ms: now + 2 * 86_400_000 }), 'timestamp_ms'],
    ['missing quantity', usage(1, { quantity: undefined }), 'quantity'],
    ['fractional quantity', usage(1, { quantity: 1.5 }), 'quantity'],
    ['fractional quantity string', usage(1, { quantity: '1.5' }), 'quantity'],
    ['non-numeric quantity string', usage(1, { quantity: 'ten' }), 'quantity'],
    ['quantity beyond the exact JSON range', usage(1, { quantity: 2 ** 60 }), 'quantity'],
    ['quantity beyond 128 bits', usage(1, { quantity: big }), 'quantity'],
    ['quantity as a boolean', usage(1, { quantity: true }), 'quantity'],
    ['unknown kind', usage(1, { kind: 'Refund' }), 'kind'],
    ['kind in the wrong case', usage(1, { kind: 'usage' }), 'kind'],
    ['Correction without correction_ref', usage(1, { kind: 'Correction' }), 'correction_ref'],
    ['Retraction without correction_ref', usage(1, { kind: 'Retraction' }), 'correction_ref'],
    ['correction_ref without original_event_id', usage(1, { kind: 'Correction', correction_ref: { reason: 'x' } }), 'correction_ref.original_event_id'],
    ['Usage with a correction_ref', usage(1, { correction_ref: { original_event_id: 'e', reason: 'r' } }), 'correction_ref'],
    ['17 dimensions', usage(1, { dimensions: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) }), 'dimensions'],
    ['a dimension value that is a number', usage(1, { dimensions: { region: 5 } }), 'dimensions.region'],
    ['a dimension value of 257 characters', usage(1, { dimensions: { region: 'r'.repeat(257) } }), 'dimensions.region'],
    ['a dimension key of 65 characters', usage(1, { dimensions: { ['k'.repeat(65)]: 'v' } }), 'dimensions.'],
    ['nested dimensions', usage(1, { dimensions: { a: JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`) } }), 'dimensions.a'],
    ['dimensions as an array', usage(1, { dimensions: ['a'] }), 'dimensions'],
    ['an event_id with a lone surrogate', usage(1, { event_id: 'evt-\ud800' }), 'event_id'],
    ['a dimension value with a lone surrogate', usage(1, { dimensions: { region: 'eu\udc00' } }), 'dimensions.region'],
    ['a dimension named __proto__', { ...usage(1), dimensions: JSON.parse('{"__proto__": "x"}') }, 'dimensions'],
    ['an event that is not an object', 'evt' as unknown as Record<string, unknown>, 'event'],
  ];
  for (const [label, event, field] of cases) {
    it(label, async () => {
      const r = await postBatch(inst.app, [event, usage(1000 + cases.findIndex((c) => c[0] === label))]);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ accepted: 1, rejected: 1, duplicates: 0, conflicts: 0 });
      expect(r.body.errors).toHaveLength(1);
      expect(r.body.errors[0].index).toBe(0);
      expect(r.body.errors[0].reason.startsWith(field)).toBe(true);
    });
  }

  it('a batch of only invalid events writes nothing', async () => {
    const before = store.keys();
    const r = await postBatch(inst.app, [usage(1, { quantity: 'x' }), usage(2, { event_id: '' })]);
    expect(r.body).toMatchObject({ accepted: 0, rejected: 2 });
    expect(store.keys()).toEqual(before);
  });
});

describe('deep nesting inside an event', () => {
  it('100,000 levels inside dimensions: the event is rejected naming the field, or the body is refused, never a 5xx', async () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const body = JSON.stringify({ events: [usage(1), usage(2)] }).replace('"region":"eu"', `"region":${deep}`);
    const r = await raw(body);
    if (r.status === 200) {
      expect(r.body).toMatchObject({ rejected: 1 });
      expect((r.body.errors as { reason: string }[])[0]!.reason.startsWith('dimensions.region')).toBe(true);
    } else {
      expect(r.status).toBe(400);
      expect(r.body.error?.message.startsWith('body:')).toBe(true);
    }
  });
});

describe('valid edge cases are accepted', () => {
  it('i128 bounds as strings, the reference {inner} dimensions form, default kind, ignored ingested_at_ms', async () => {
    const max = ((1n << 127n) - 1n).toString();
    const min = (-(1n << 127n)).toString();
    const r = await postBatch(inst.app, [
      usage(5001, { quantity: max }),
      usage(5002, { quantity: min, dimensions: { inner: { b: '2', a: '1' } } }),
      usage(5003, { kind: undefined, ingested_at_ms: 5 }),
      usage(5004, { event_id: 'ünïcødé-🧾', account_id: 'アカウント' }),
    ]);
    expect(r.body).toMatchObject({ accepted: 4, rejected: 0 });
  });
});
