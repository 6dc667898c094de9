/**
 * The client against a real usageDb app on the memory store: the route tour in-process (fetch =
 * app.fetch) and over real HTTP (@hono/node-server on 127.0.0.1:0); auth errors; and retries
 * that meet real server faults — a lost answer after the commit, a 503 with Retry-After whose
 * commit landed, a 502 — each ending with every event stored exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ForbiddenError,
  NetworkError,
  PayloadTooLargeError,
  ServerError,
  UnauthorizedError,
  UsageDbClient,
  type UsageDbClientOptions,
  type UsageDbError,
} from '../../src/client/index.ts';
import { AmbiguousWriteError, StoreRefusedError, TransientStoreError } from '../../src/store/errors.ts';
import { FaultPlan, withFaults } from '../../src/store/faulty.ts';
import { ShardKeys } from '../../src/manifest/keys.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, storedEvents, type Instance } from '../support/instance.ts';
import { recordingSleep } from './fake-server.ts';
import { listen } from './listen.ts';
import { JAN, routeTour, workload } from './live-cases.ts';

const inProcess = (inst: Instance, over: Partial<UsageDbClientOptions> = {}) =>
  new UsageDbClient({ baseUrl: 'http://usagedb.internal', fetch: (req) => inst.app.fetch(req), maxBatchEvents: 1000, ...over });

async function rejection(p: Promise<unknown>): Promise<UsageDbError> {
  try {
    await p;
  } catch (err) {
    return err as UsageDbError;
  }
  throw new Error('expected a rejection');
}

function expectOnce(stored: readonly { event_id: string }[], ids: readonly string[]): void {
  expect(stored.map((e) => e.event_id).sort()).toEqual([...ids].sort());
}

describe('client against the app in-process', () => {
  it('every route, with exact answers', async () => {
    const inst = await openInstance(new MemoryStore(), 'client-tour');
    await routeTour(inProcess(inst));
  }, 60_000);

  it('auth: no key → UnauthorizedError, a read key on an admin route → ForbiddenError, the admin key works', async () => {
    const inst = await openInstance(new MemoryStore(), 'client-auth', { keys: 'reader:reader-secret-0123456789:read,ops:ops-secret-0123456789ab:admin' });
    const none = await rejection(inProcess(inst).listPeriods('acme'));
    expect(none).toBeInstanceOf(UnauthorizedError);
    expect(none).toMatchObject({ code: 'unauthorized', status: 401, message: 'authorization: send "Authorization: Bearer <api key>"' });
    const wrong = await rejection(inProcess(inst, { apiKey: 'not-a-key-0123456789' }).conflicts());
    expect(wrong).toMatchObject({ code: 'unauthorized', message: 'authorization: unknown API key' });
    const reader = inProcess(inst, { apiKey: 'reader-secret-0123456789' });
    expect(await reader.listPeriods('acme')).toEqual({ account_id: 'acme', periods: [] });
    const forbidden = await rejection(reader.closePeriod('acme', '2026-01'));
    expect(forbidden).toBeInstanceOf(ForbiddenError);
    expect(forbidden).toMatchObject({ status: 403, message: 'authorization: the key "reader" lacks the "admin" scope this route needs' });
    expect(await rejection(reader.ingest([{ account_id: 'acme', product_id: 'p', meter_id: 'm', source: 's', unit: 'u', quantity: 1 }]))).toBeInstanceOf(
      ForbiddenError,
    );
    expect(await inProcess(inst, { apiKey: 'ops-secret-0123456789ab' }).closePeriod('acme', '2026-01')).toMatchObject({
      state: 'closed',
      already_closed: false,
    });
    expect((await inProcess(inst).health()).status).toBe('ok');
  });

  it('a lost answer after the commit: the retry is answered duplicate, reported accepted, stored once', async () => {
    const inst = await openInstance(new MemoryStore(), 'client-lost');
    let batches = 0;
    const c = inProcess(inst, {
      maxBatchEvents: 200,
      sleep: recordingSleep().sleep,
      fetch: async (req) => {
        const res = await inst.app.fetch(req);
        if (new URL(req.url).pathname === '/v1/usage/batch' && ++batches === 2) throw new TypeError('fetch failed: socket hang up');
        return res;
      },
    });
    const w = workload(500, 'lost');
    const report = await c.ingest(w.events);
    expect(report).toMatchObject({ accepted: 500, duplicates: 0, acceptedOnEarlierAttempt: 200, batches: 3, attempts: 4 });
    expect(report.outcomes.slice(200, 400).every((o) => o.status === 'accepted' && o.retried)).toBe(true);
    expect(report.outcomes.filter((o) => o.retried).length).toBe(200);
    expectOnce(
      await storedEvents(inst.db),
      w.events.map((e) => e.event_id!),
    );
  });

  it('503 commit_outcome_unknown (the manifest PUT landed, the read-back failed): retried after Retry-After, stored once', async () => {
    const store = new MemoryStore();
    const plan = new FaultPlan();
    const inst = await openInstance(withFaults(store, plan.injector), 'client-503', { shards: 1, commitPolicy: { maxDurationMs: 1500 } });
    await Promise.all(inst.db.shards.map((s) => s.load()));
    plan.add('put', 'current.json', { type: 'land-then-fail', error: new AmbiguousWriteError('timeout') }, 1);
    plan.add('get', 'current.json', { type: 'fail', error: new TransientStoreError('503') }, 1000, () => plan.fired.length > 0 && plan.fired.length < 50);
    const s = recordingSleep();
    let statuses: number[] = [];
    const c = inProcess(inst, {
      sleep: async (ms) => {
        plan.clear();
        await s.sleep(ms);
      },
      fetch: async (req) => {
        const res = await inst.app.fetch(req);
        statuses = [...statuses, res.status];
        return res;
      },
    });
    const w = workload(30, 'unknown');
    const report = await c.ingest(w.events);
    expect(statuses[0]).toBe(503);
    expect(statuses.at(-1)).toBe(200);
    expect(s.waits[0]).toBeGreaterThanOrEqual(1000); // the server's Retry-After: 1
    expect(report).toMatchObject({ accepted: 30, duplicates: 0, conflicts: 0, rejected: 0 });
    expect(report.outcomes.every((o) => o.status === 'accepted' && o.retried)).toBe(true);
    expect(report.acceptedOnEarlierAttempt).toBe(30);
    const cold = await openInstance(store, 'client-503', { seed: 3 });
    expectOnce(
      await storedEvents(cold.db),
      w.events.map((e) => e.event_id!),
    );
  });

  it('500 store_refused on one shard is not retried; the error lists what was not acknowledged, and sending that again stores everything once', async () => {
    const store = new MemoryStore();
    const plan = new FaultPlan();
    const inst = await openInstance(withFaults(store, plan.injector), 'client-502');
    await Promise.all(inst.db.shards.map((sh) => sh.load()));
    const victimKey = new ShardKeys('client-502', 1, inst.db.info.shard_count).current;
    plan.add('put', (k) => k === victimKey, { type: 'fail', error: new StoreRefusedError('403') }, 1);
    const s = recordingSleep();
    const c = inProcess(inst, { sleep: s.sleep });
    const w = workload(60, 'refused');
    const events = w.events.map((e, i) => ({ ...e, account_id: `acct-${i % 12}` }));
    const err = (await c.ingest(events).catch((e: unknown) => e)) as ServerError & { ingest: { unacknowledged: { event: (typeof events)[number] }[] } };
    expect(plan.fired.length).toBe(1);
    expect(s.waits.length).toBe(0);
    expect(err).toBeInstanceOf(ServerError);
    expect(err).toMatchObject({ code: 'store_refused', status: 500, retryable: false });
    const left = err.ingest.unacknowledged.map((u) => u.event);
    expect(left.map((e) => e.event_id).sort()).toEqual(events.map((e) => e.event_id).sort());
    // The operator fixed the store: sending the unacknowledged events again stores each once.
    const report = await c.ingest(left);
    expect(report.accepted + report.duplicates).toBe(60);
    expectOnce(
      await storedEvents(inst.db),
      w.events.map((e) => e.event_id!),
    );
  });
});

describe('client over real HTTP', () => {
  let inst: Instance;
  let http: { url: string; close: () => Promise<void> };
  beforeAll(async () => {
    inst = await openInstance(new MemoryStore(), 'client-http', { ingest: { maxEventsPerBatch: 1000, maxBodyBytes: 512 * 1024 } });
    http = await listen(inst);
  });
  afterAll(() => http.close());

  it('every route, with exact answers, through the global fetch', async () => {
    await routeTour(new UsageDbClient({ baseUrl: http.url, maxBatchEvents: 1000, maxBatchBytes: 512 * 1024 }));
  }, 60_000);

  it('the server’s 413s arrive typed with their limits', async () => {
    const tooMany = new UsageDbClient({ baseUrl: http.url, maxBatchEvents: 1001, retry: { attempts: 1 } });
    const events = workload(1001, 'big').events;
    const err = await rejection(tooMany.ingest(events));
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(err).toMatchObject({ status: 413, code: 'payload_too_large', details: { field: 'events', limit: 1000 } });
    expect(err.ingest!.unacknowledged.length).toBe(1001);
    // ~1 KB per event (dimension values are at most 256 characters).
    const fatEvents = workload(800, 'fat').events.map((e) => ({
      ...e,
      dimensions: { a: 'x'.repeat(250), b: 'y'.repeat(250), c: 'z'.repeat(250), d: 'w'.repeat(250) },
    }));
    // The Node server answers an over-limit body with 413 and closes the socket before the upload
    // ends, so an attempt may see a connection reset instead (retried); many quick attempts make
    // the 413 certain to arrive.
    const tooBig = new UsageDbClient({ baseUrl: http.url, maxBatchBytes: 1024 * 1024, retry: { attempts: 30, baseDelayMs: 1 } });
    const fat = await rejection(tooBig.ingest(fatEvents));
    expect(fat).toMatchObject({ status: 413, details: { field: 'body', limit: 512 * 1024 } });
    // With the server's limits, the same events go through.
    const fitting = new UsageDbClient({ baseUrl: http.url, maxBatchEvents: 1000, maxBatchBytes: 512 * 1024 });
    const r = await fitting.ingest(fatEvents);
    expect(r).toMatchObject({ accepted: 800, rejected: 0 });
    expect(r.batches).toBeGreaterThan(1);
  });

  it('nobody listening: NetworkError after the configured attempts', async () => {
    const closed = await listen(await openInstance(new MemoryStore(), 'client-gone'));
    await closed.close();
    const s = recordingSleep();
    const c = new UsageDbClient({ baseUrl: closed.url, retry: { attempts: 3 }, sleep: s.sleep });
    const err = await rejection(c.ingest([{ account_id: 'a', product_id: 'p', meter_id: 'm', source: 's', unit: 'u', quantity: 1, timestamp_ms: JAN }]));
    expect(err).toBeInstanceOf(NetworkError);
    expect(err).toMatchObject({ code: 'network_error', status: 0, retryable: true });
    expect(s.waits.length).toBe(2);
  });
});
