/**
 * What one account usage request costs the store once warm: one revalidation of the account's
 * shard manifest (a conditional GET answered 304), whose manifest also gives the quarantined
 * count — not a second revalidation for it.
 */
import { expect, it } from 'vitest';
import { MemoryStore } from '../../src/store/memory.ts';
import { CountingStore } from '../support/counting-store.ts';
import { openInstance, postBatch } from '../support/instance.ts';

it('a warm account usage request revalidates the shard manifest once and reads nothing else', async () => {
  const store = new CountingStore(new MemoryStore());
  const a = await openInstance(store, 'db', { shards: 4 });
  const ts = Date.UTC(2026, 8, 3, 9);
  const events = [1, 2, 3].map((i) => ({
    event_id: `e${i}`,
    account_id: 'acme',
    product_id: 'p',
    meter_id: 'm',
    source: 'api',
    unit: 'u',
    timestamp_ms: ts,
    quantity: i,
  }));
  expect((await postBatch(a.app, events)).body.accepted).toBe(3);
  const path = '/v1/accounts/acme/usage?from=2026-09-01&to=2026-10-01';
  await a.app.request(path);
  store.take();
  const res = await a.app.request(path);
  expect(await res.json()).toMatchObject({ lines: [{ quantity: '6', count: 3 }], quarantined_events: 0 });
  const gets = store.take();
  expect(gets.map((g) => g.key)).toEqual([expect.stringMatching(/manifest\/current\.json$/)]);
});
