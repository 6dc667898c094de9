/**
 * ingest() against a fake fetch: batches by count and by bytes, ids minted once and resent
 * unchanged, retries (which errors, how long, Retry-After), outcomes mapped to caller positions
 * across batches, a retried batch's duplicates reported as accepted, and the progress a failure
 * hands back.
 */
import { describe, expect, it } from 'vitest';
import { BODY_OVERHEAD_BYTES } from '../../src/client/batching.ts';
import {
  AbortError,
  BadGatewayError,
  BadRequestError,
  ForbiddenError,
  isUlid,
  NetworkError,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  ServerError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
  UnexpectedResponseError,
  UsageDbClient,
  type UsageDbError,
  type UsageEventInput,
} from '../../src/client/index.ts';
import { errorAnswer, ev, FakeIngestServer, fakeFetch, json, recordingSleep } from './fake-server.ts';

const BASE = 'http://usagedb.test';
const utf8 = new TextEncoder();

function client(server: { fetch: FakeIngestServer['fetch'] }, over: Partial<ConstructorParameters<typeof UsageDbClient>[0]> = {}) {
  const s = recordingSleep();
  const c = new UsageDbClient({ baseUrl: BASE, fetch: server.fetch, sleep: s.sleep, random: () => 0.5, ...over });
  return { c, waits: s.waits };
}

async function rejection(p: Promise<unknown>): Promise<UsageDbError> {
  try {
    await p;
  } catch (err) {
    return err as UsageDbError;
  }
  throw new Error('expected a rejection');
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('batching', () => {
  it('splits by event count, in order, and counts every event once', async () => {
    const server = new FakeIngestServer();
    const { c } = client(server, { maxBatchEvents: 10 });
    const events = range(25).map((i) => ev(i));
    const report = await c.ingest(events);
    expect(server.requests.map((r) => r.events.length)).toEqual([10, 10, 5]);
    expect(server.requests.flatMap((r) => r.events.map((e) => e.quantity))).toEqual(range(25).map((i) => i + 1));
    expect(report).toMatchObject({ accepted: 25, duplicates: 0, conflicts: 0, rejected: 0, acceptedOnEarlierAttempt: 0, batches: 3, attempts: 3 });
    expect(report.outcomes.map((o) => [o.index, o.status, o.retried])).toEqual(range(25).map((i) => [i, 'accepted', false]));
    expect(report.outcomes.map((o) => o.event_id)).toEqual(server.requests.flatMap((r) => r.events.map((e) => e.event_id)));
  });

  it('splits by serialized UTF-8 bytes: every body fits, and no batch could take its successor', async () => {
    const server = new FakeIngestServer();
    const maxBytes = 1500;
    const { c } = client(server, { maxBatchEvents: 1000, maxBatchBytes: maxBytes });
    // Multi-byte text (2, 3 and 4 bytes per character) so a length in UTF-16 units would be wrong.
    const events = range(40).map((i) => ev(i, { dimensions: { note: 'é€😀'.repeat(i % 9) + 'x'.repeat(i * 3) } }));
    const report = await c.ingest(events);
    expect(report.accepted).toBe(40);
    const sizes = server.seen.map((s) => utf8.encode(s.body).length);
    expect(sizes.every((n) => n <= maxBytes)).toBe(true);
    expect(server.requests.length).toBeGreaterThan(5);
    for (let b = 0; b + 1 < server.requests.length; b++) {
      const next = JSON.stringify(server.requests[b + 1]!.events[0]);
      expect(sizes[b]! + 1 + utf8.encode(next).length, `batch ${b} could have taken one more`).toBeGreaterThan(maxBytes);
    }
    expect(server.requests.flatMap((r) => r.events.map((e) => e.timestamp_ms))).toEqual(events.map((e) => e.timestamp_ms));
  });

  it('an event too large for any request is rejected locally, not sent, and the others go', async () => {
    const server = new FakeIngestServer();
    const { c } = client(server, { maxBatchBytes: 600 });
    const events = [ev(0), ev(1, { dimensions: { blob: 'y'.repeat(700) } }), ev(2)];
    const report = await c.ingest(events);
    expect(server.requests.map((r) => r.events.length)).toEqual([2]);
    expect(report).toMatchObject({ accepted: 2, rejected: 1, batches: 1 });
    expect(report.outcomes[1]).toMatchObject({ index: 1, status: 'rejected', retried: false });
    expect(report.outcomes[1]!.reason).toMatch(/^event: \d+ bytes of JSON, more than maxBatchBytes \(600\)/);
    expect(BODY_OVERHEAD_BYTES).toBe(utf8.encode('{"events":[]}').length);
  });

  it('no events: no request', async () => {
    const server = new FakeIngestServer();
    const { c } = client(server);
    expect(await c.ingest([])).toEqual({
      accepted: 0,
      duplicates: 0,
      conflicts: 0,
      rejected: 0,
      acceptedOnEarlierAttempt: 0,
      batches: 0,
      attempts: 0,
      outcomes: [],
    });
    expect(server.seen).toEqual([]);
  });
});

describe('events on the wire', () => {
  it('mints a ULID event_id where missing, keeps given ids, defaults timestamp_ms, and leaves the caller objects alone', async () => {
    const server = new FakeIngestServer();
    const { c } = client(server, { now: () => 1_767_300_000_000 });
    const given: UsageEventInput = { ...ev(1), event_id: 'mine-1' };
    const noTime: UsageEventInput = { account_id: 'a', product_id: 'p', meter_id: 'm', source: 's', unit: 'u', quantity: 1 };
    const minted = ev(2);
    const report = await c.ingest([given, minted, noTime]);
    const sent = server.requests[0]!.events;
    expect(sent[0]!.event_id).toBe('mine-1');
    expect(isUlid(sent[1]!.event_id as string)).toBe(true);
    expect(sent[2]!.timestamp_ms).toBe(1_767_300_000_000);
    expect(report.outcomes.map((o) => o.event_id)).toEqual(sent.map((e) => e.event_id));
    expect(minted).not.toHaveProperty('event_id');
    expect(noTime).not.toHaveProperty('timestamp_ms');
  });

  it('quantities: bigint becomes a decimal string, strings and safe integers go as they are', async () => {
    const server = new FakeIngestServer();
    const { c } = client(server);
    const big = 170141183460469231731687303715884105727n; // 2^127 - 1
    await c.ingest([ev(0, { quantity: big }), ev(1, { quantity: -big - 1n }), ev(2, { quantity: '-250' }), ev(3, { quantity: 9007199254740991 })]);
    expect(server.seen[0]!.body).toContain('"quantity":"170141183460469231731687303715884105727"');
    expect(server.requests[0]!.events.map((e) => e.quantity)).toEqual([
      '170141183460469231731687303715884105727',
      '-170141183460469231731687303715884105728',
      '-250',
      9007199254740991,
    ]);
  });
});

describe('retries', () => {
  it('503 with Retry-After seconds: waits at least that long, resends the same bytes (same ids), then succeeds', async () => {
    const server = new FakeIngestServer();
    server.faults.push({ type: 'answer', response: () => errorAnswer(503, 'manifest_contention', 'shard 3: lost 64 races', { 'retry-after': '2' }) });
    const { c, waits } = client(server, { retry: { baseDelayMs: 100 } });
    const report = await c.ingest(range(3).map((i) => ev(i)));
    expect(server.seen.length).toBe(2);
    expect(server.seen[1]!.body).toBe(server.seen[0]!.body);
    expect(waits).toEqual([2000 + 50]); // Retry-After + jitter (random 0.5 × baseDelayMs)
    expect(report).toMatchObject({ accepted: 3, attempts: 2, acceptedOnEarlierAttempt: 0 });
    expect(report.outcomes.every((o) => o.status === 'accepted' && o.retried)).toBe(true);
  });

  it('Retry-After as an HTTP date is relative to the clock', async () => {
    const now = Date.UTC(2026, 0, 5, 12, 0, 0);
    const server = new FakeIngestServer();
    server.faults.push({ type: 'answer', response: () => errorAnswer(503, 'store_unavailable', 'x', { 'retry-after': new Date(now + 7000).toUTCString() }) });
    const { c, waits } = client(server, { now: () => now, random: () => 0 });
    await c.ingest([ev(0)]);
    expect(waits).toEqual([7000]);
  });

  it('retries 502, 503, 504, 429 and dropped connections with full-jitter exponential backoff', async () => {
    const server = new FakeIngestServer();
    server.faults.push(
      { type: 'answer', response: () => errorAnswer(502, 'store_refused') },
      { type: 'answer', response: () => new Response('<html>bad gateway</html>', { status: 504 }) },
      { type: 'answer', response: () => errorAnswer(429, 'too_many_requests') },
      { type: 'drop' },
    );
    const { c, waits } = client(server, { retry: { attempts: 5, baseDelayMs: 100, maxDelayMs: 500 }, random: () => 0.999 });
    const report = await c.ingest([ev(0)]);
    expect(report.attempts).toBe(5);
    // Caps 100, 200, 400, 500 (capped); full jitter draws just below each cap.
    expect(waits).toEqual([99, 199, 399, 499]);
    expect(new Set(server.seen.map((s) => s.body)).size).toBe(1);
  });

  it('gives up after `attempts`, throwing the last error with what is left to send', async () => {
    const server = new FakeIngestServer();
    const { c, waits } = client(server, { maxBatchEvents: 2, retry: { attempts: 3 } });
    const events = range(5).map((i) => ev(i));
    // Batch 1 goes through; batch 2 fails three times.
    server.faults.push(
      undefined,
      ...range(3).map(() => ({ type: 'answer' as const, response: () => errorAnswer(503, 'store_unavailable', 'down', { 'retry-after': '1' }) })),
    );
    const err = await rejection(c.ingest(events));
    expect(err).toBeInstanceOf(UnavailableError);
    expect(err).toMatchObject({ code: 'store_unavailable', status: 503, retryAfterMs: 1000, retryable: true });
    expect(waits.length).toBe(2);
    expect(err.ingest!.report).toMatchObject({ accepted: 2, batches: 1 });
    expect(err.ingest!.report.outcomes.map((o) => o.index)).toEqual([0, 1]);
    expect(err.ingest!.unacknowledged.map((u) => u.index)).toEqual([2, 3, 4]);
    const sentIds = server.requests[1]!.events.map((e) => e.event_id);
    expect(err.ingest!.unacknowledged.slice(0, 2).map((u) => u.event.event_id)).toEqual(sentIds);
    // Sending exactly what is left stores everything once.
    server.faults.length = 0;
    const again = await c.ingest(err.ingest!.unacknowledged.map((u) => u.event));
    expect(again.accepted).toBe(3);
    expect(server.stored.size).toBe(5);
  });

  it('a Retry-After longer than maxRetryAfterMs ends the retries', async () => {
    const server = new FakeIngestServer();
    server.faults.push({ type: 'answer', response: () => errorAnswer(503, 'store_unavailable', 'x', { 'retry-after': '120' }) });
    const { c } = client(server, { retry: { maxRetryAfterMs: 60_000 } });
    const err = await rejection(c.ingest([ev(0)]));
    expect(err).toMatchObject({ retryAfterMs: 120_000 });
    expect(server.seen.length).toBe(1);
  });

  it.each([
    [400, 'invalid_request', BadRequestError],
    [401, 'unauthorized', UnauthorizedError],
    [403, 'forbidden', ForbiddenError],
    [404, 'not_found', NotFoundError],
    [413, 'payload_too_large', PayloadTooLargeError],
    [500, 'internal', ServerError],
  ] as const)('never retries %i %s', async (status, code, Class) => {
    const server = new FakeIngestServer();
    server.faults.push({ type: 'answer', response: () => errorAnswer(status, code) });
    const { c } = client(server);
    const err = await rejection(c.ingest([ev(0), ev(1)]));
    expect(err).toBeInstanceOf(Class);
    expect(err).toMatchObject({ code, status, retryable: false });
    expect(server.seen.length).toBe(1);
    expect(err.ingest!.unacknowledged.map((u) => u.index)).toEqual([0, 1]);
  });

  it('a timeout aborts the attempt and is retried; the caller’s abort is not', async () => {
    let calls = 0;
    const hanging = fakeFetch(
      (req) =>
        new Promise<Response>((resolve) => {
          calls++;
          if (calls === 2) return resolve(json({ accepted: 1, duplicates: 0, conflicts: 0, rejected: 0, errors: [] }));
          void req; // otherwise never answers: the timeout (or the caller) must abort it
        }),
    );
    const c = new UsageDbClient({
      baseUrl: BASE,
      timeoutMs: 30,
      retry: { baseDelayMs: 1 },
      fetch: async (r) => {
        const p = hanging.fetch(r);
        return Promise.race([p, new Promise<Response>((_, reject) => r.signal.addEventListener('abort', () => reject(r.signal.reason)))]);
      },
    });
    const report = await c.ingest([ev(0)], { retry: { attempts: 2 } });
    expect(report.attempts).toBe(2);

    const controller = new AbortController();
    const slow = c.ingest([ev(1)], { signal: controller.signal, timeoutMs: 5000 }).catch((e: UsageDbError) => e);
    setTimeout(() => controller.abort(), 20);
    const err = (await slow) as UsageDbError;
    expect(err).toBeInstanceOf(AbortError);
    expect(err.retryable).toBe(false);
    expect(calls).toBe(3);

    const t = await rejection(c.ingest([ev(2)], { retry: false }));
    expect(t).toBeInstanceOf(TimeoutError);
    expect(t).toBeInstanceOf(NetworkError);
    expect(t).toMatchObject({ code: 'timeout', message: 'no answer within 30 ms', retryable: true });
  });
});

describe('outcomes', () => {
  it('maps errors[].index of every batch back to the caller’s positions', async () => {
    const server = new FakeIngestServer();
    const { c } = client(server, { maxBatchEvents: 4 });
    server.stored.set('taken', JSON.stringify({ ...ev(99), event_id: 'taken' }));
    const events = range(10).map((i) => ({ ...ev(i), event_id: `e${i}` }));
    events[2] = { ...ev(2), event_id: 'taken' }; // conflict (same id, other payload), batch 1
    server.invalid.set('e5', 'quantity: must be an integer'); // batch 2, position 1
    server.invalid.set('e8', 'period_closed: the billing period of this Usage event is closed; send a Correction instead'); // batch 3, position 0
    const report = await c.ingest(events);
    expect(report).toMatchObject({ accepted: 7, duplicates: 0, conflicts: 1, rejected: 2, batches: 3 });
    expect(report.outcomes.filter((o) => o.status !== 'accepted').map((o) => [o.index, o.event_id, o.status, o.reason])).toEqual([
      [2, 'taken', 'conflict', 'conflict: this event_id was already ingested with a different payload'],
      [5, 'e5', 'rejected', 'quantity: must be an integer'],
      [8, 'e8', 'rejected', 'period_closed: the billing period of this Usage event is closed; send a Correction instead'],
    ]);
  });

  it('a lost answer after the commit: the retry answers duplicate, the client reports accepted (on an earlier attempt)', async () => {
    const server = new FakeIngestServer();
    server.faults.push(undefined, { type: 'commit-then-drop' });
    const { c } = client(server, { maxBatchEvents: 3 });
    const report = await c.ingest(range(6).map((i) => ev(i)));
    expect(server.requests.map((r) => r.answered)).toEqual([200, 'dropped', 200]);
    expect(server.stored.size).toBe(6);
    expect(report).toMatchObject({ accepted: 6, duplicates: 0, acceptedOnEarlierAttempt: 3, batches: 2, attempts: 3 });
    expect(report.outcomes.map((o) => [o.status, o.retried])).toEqual([
      ['accepted', false],
      ['accepted', false],
      ['accepted', false],
      ['accepted', true],
      ['accepted', true],
      ['accepted', true],
    ]);
  });

  it('a 503 after the commit of part of a batch: mixed answer on the retry, every event accepted', async () => {
    const server = new FakeIngestServer();
    // One shard committed its half, the other failed: the server answers 503 and the retry finds
    // two duplicates (this call's own) and two new events.
    const events = range(4).map((i) => ({ ...ev(i), event_id: `p${i}` }));
    server.faults.push({ type: 'answer', response: () => errorAnswer(503, 'commit_outcome_unknown', 'x', { 'retry-after': '1' }) });
    server.commit(events.slice(0, 2) as unknown as Record<string, unknown>[]);
    const { c } = client(server);
    const report = await c.ingest(events);
    expect(report).toMatchObject({ accepted: 4, duplicates: 0, acceptedOnEarlierAttempt: 2, attempts: 2 });
    expect(report.outcomes.every((o) => o.status === 'accepted' && o.retried)).toBe(true);
  });

  it('first attempt: all-duplicate batches say duplicate; a batch mixing new and old events says accepted_or_duplicate', async () => {
    const server = new FakeIngestServer();
    const { c } = client(server, { maxBatchEvents: 3 });
    const events = range(6).map((i) => ({ ...ev(i), event_id: `m${i}` }));
    server.commit([0, 1, 2, 4].map((i) => events[i]!) as unknown as Record<string, unknown>[]);
    const report = await c.ingest(events);
    expect(report).toMatchObject({ accepted: 2, duplicates: 4 });
    expect(report.outcomes.map((o) => o.status)).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
      'accepted_or_duplicate',
      'accepted_or_duplicate',
      'accepted_or_duplicate',
    ]);
  });

  it('the same event twice in one call: the later copy is a certain duplicate, even across batches and after a retry', async () => {
    const server = new FakeIngestServer();
    server.faults.push(undefined, { type: 'commit-then-drop' });
    const { c } = client(server, { maxBatchEvents: 2 });
    const a = { ...ev(1), event_id: 'twice' };
    const report = await c.ingest([a, ev(2), ev(3), a]);
    expect(report.outcomes.map((o) => [o.event_id === 'twice', o.status, o.retried])).toEqual([
      [true, 'accepted', false],
      [false, 'accepted', false],
      [false, 'accepted', true],
      [true, 'duplicate', true],
    ]);
    expect(report).toMatchObject({ accepted: 3, duplicates: 1, acceptedOnEarlierAttempt: 1 });
  });

  it('an answer whose counts do not fit the batch is an UnexpectedResponseError (and the batch is handed back)', async () => {
    const f = fakeFetch(() => json({ accepted: 5, duplicates: 0, conflicts: 0, rejected: 0, errors: [] }));
    const c = new UsageDbClient({ baseUrl: BASE, fetch: f.fetch });
    const err = await rejection(c.ingest([ev(0), ev(1)]));
    expect(err).toBeInstanceOf(UnexpectedResponseError);
    expect(err.message).toContain('counts add up to 5, the batch had 2 events');
    expect(err.ingest!.unacknowledged.length).toBe(2);
  });

  it('a proxy’s HTML 502 is a retryable BadGatewayError named by status', async () => {
    const f = fakeFetch(() => new Response('<html>502</html>', { status: 502, headers: { 'x-request-id': 'edge-1' } }));
    const c = new UsageDbClient({ baseUrl: BASE, fetch: f.fetch, retry: { attempts: 2, baseDelayMs: 0 } });
    const err = await rejection(c.ingest([ev(0)]));
    expect(err).toBeInstanceOf(BadGatewayError);
    expect(err).toMatchObject({ code: 'http_502', status: 502, requestId: 'edge-1', retryable: true });
    expect(f.seen.length).toBe(2);
    expect(new RateLimitedError({ code: 'x', message: 'y' }).retryable).toBe(true);
  });
});
