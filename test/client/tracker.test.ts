/**
 * track(): flush on size (events, bytes), on the interval, on flush()/close() and at beforeExit;
 * failures reach onError and flush()'s promise; a bounded buffer that keeps every unsent event
 * (same ids) and throws BufferFullError when full rather than dropping.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BufferFullError,
  EventsRejectedError,
  isUlid,
  TrackerClosedError,
  UnavailableError,
  UsageDbClient,
  type TrackerOptions,
  type UsageDbError,
} from '../../src/client/index.ts';
import { Tracker } from '../../src/client/tracker.ts';
import { errorAnswer, ev, FakeIngestServer } from './fake-server.ts';

/** Lets pending I/O-free promise chains (fake fetch, body reads) run; timers stay fake. */
async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

function setup(tracker: TrackerOptions = {}, retryAttempts = 1) {
  const server = new FakeIngestServer();
  const errors: UsageDbError[] = [];
  const c = new UsageDbClient({
    baseUrl: 'http://usagedb.test',
    fetch: server.fetch,
    retry: { attempts: retryAttempts, baseDelayMs: 0 },
    sleep: async () => undefined,
    tracker: { flushIntervalMs: 60_000, flushOnExit: false, onError: (e) => errors.push(e), ...tracker },
  });
  return { server, errors, c };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('track()', () => {
  it('answers the event id (minted once) and flushes when flushEvents are buffered', async () => {
    const { server, c } = setup({ flushEvents: 3 });
    const id1 = c.track(ev(1));
    const id2 = c.track({ ...ev(2), event_id: 'given' });
    await settle();
    expect(server.requests).toEqual([]);
    expect(isUlid(id1)).toBe(true);
    expect(id2).toBe('given');
    c.track(ev(3));
    await settle();
    expect(server.requests.map((r) => r.events.map((e) => e.event_id))).toEqual([[id1, 'given', expect.any(String)]]);
    expect(c.pendingEvents).toBe(0);
  });

  it('flushes when the buffered JSON reaches flushBytes', async () => {
    const { server, c } = setup({ flushBytes: 600 });
    const one = JSON.stringify({ ...ev(0, { dimensions: { pad: 'x'.repeat(150) } }), event_id: '01KD7ZK3Q8XW0M2V9T4N6B8C1D' }).length;
    const needed = Math.ceil(600 / one);
    for (let i = 0; i < needed - 1; i++) c.track(ev(i, { dimensions: { pad: 'x'.repeat(150) } }));
    await settle();
    expect(server.requests.length).toBe(0);
    c.track(ev(99, { dimensions: { pad: 'x'.repeat(150) } }));
    await settle();
    expect(server.requests.map((r) => r.events.length)).toEqual([needed]);
  });

  it('flushes flushIntervalMs after the first event enters an empty buffer, and keeps no timer when idle', async () => {
    const { server, c } = setup({ flushIntervalMs: 1000 });
    expect(vi.getTimerCount()).toBe(0);
    c.track(ev(1));
    vi.advanceTimersByTime(600);
    c.track(ev(2));
    vi.advanceTimersByTime(399);
    await settle();
    expect(server.requests.length).toBe(0);
    vi.advanceTimersByTime(1);
    await settle();
    expect(server.requests.map((r) => r.events.length)).toEqual([2]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close() flushes what is left, then refuses track()', async () => {
    const { server, c } = setup();
    c.track(ev(1));
    c.track(ev(2));
    const report = await c.close();
    expect(report).toMatchObject({ accepted: 2 });
    expect(server.stored.size).toBe(2);
    expect(() => c.track(ev(3))).toThrow(TrackerClosedError);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('server down: flush rejects, onError hears it, nothing is dropped, a full buffer throws, the same ids land later', async () => {
    const { server, errors, c } = setup({ maxBufferedEvents: 5 });
    const down = () => errorAnswer(503, 'store_unavailable', 'the object store did not answer', { 'retry-after': '1' });
    server.faults.push({ type: 'answer', response: down }, { type: 'answer', response: down });
    const ids = [c.track(ev(1)), c.track(ev(2)), c.track(ev(3))];
    const first = await c.flush().catch((e: UsageDbError) => e);
    expect(first).toBeInstanceOf(UnavailableError);
    expect(errors).toEqual([first]);
    expect(c.pendingEvents).toBe(3);
    ids.push(c.track(ev(4)), c.track(ev(5)));
    let full: unknown;
    try {
      c.track(ev(6));
    } catch (e) {
      full = e;
    }
    expect(full).toBeInstanceOf(BufferFullError);
    expect(full).toMatchObject({ code: 'buffer_full', details: { pending: 5, limit: 5 } });
    // The failed flush re-armed the interval timer; it fires and fails again.
    vi.advanceTimersByTime(60_000);
    await settle();
    expect(errors.length).toBe(2);
    expect(c.pendingEvents).toBe(5);
    // The server is back.
    const report = await c.flush();
    expect(report).toMatchObject({ accepted: 5, duplicates: 0 });
    expect([...server.stored.keys()].sort()).toEqual([...ids].sort());
    expect(server.requests.at(-1)!.events.map((e) => e.event_id)).toEqual(ids);
    expect(c.pendingEvents).toBe(0);
  });

  it('a lost answer during a flush: the retry lands the same events, reported accepted', async () => {
    const { server, c } = setup({}, 3);
    server.faults.push({ type: 'commit-then-drop' });
    c.track(ev(1));
    c.track(ev(2));
    const report = await c.flush();
    expect(report).toMatchObject({ accepted: 2, acceptedOnEarlierAttempt: 2, attempts: 2 });
    expect(server.stored.size).toBe(2);
  });

  it('events the server rejects are reported (onError and flush) and not retried', async () => {
    const { server, errors, c } = setup();
    c.track(ev(1));
    const bad = c.track({ ...ev(2), event_id: 'bad-one' });
    server.invalid.set('bad-one', 'quantity: must be an integer');
    const err = (await c.flush().catch((e: unknown) => e)) as EventsRejectedError;
    expect(err).toBeInstanceOf(EventsRejectedError);
    expect(errors).toEqual([err]);
    expect(err.outcomes.map((o) => [o.event_id, o.status, o.reason])).toEqual([[bad, 'rejected', 'quantity: must be an integer']]);
    expect(err.events.map((e) => e.event_id)).toEqual([bad]);
    expect(err.report).toMatchObject({ accepted: 1, rejected: 1 });
    expect(c.pendingEvents).toBe(0);
    expect(await c.flush()).toMatchObject({ accepted: 0, batches: 0 });
  });

  it('flushes at beforeExit when asked to (Node), and the hook goes away on close', async () => {
    const before = process.listenerCount('beforeExit');
    const { server, c } = setup({ flushOnExit: true });
    const t = c.createTracker({ flushOnExit: false, onError: () => undefined });
    c.track(ev(1));
    expect(process.listenerCount('beforeExit')).toBe(before + 1);
    process.emit('beforeExit', 0);
    await settle();
    expect(server.requests.map((r) => r.events.length)).toEqual([1]);
    await c.close();
    await t.close();
    expect(process.listenerCount('beforeExit')).toBe(before);
  });

  it('flushes run one at a time, in order; events tracked during a flush go in the next one', async () => {
    const { server, c } = setup();
    let open!: () => void;
    server.faults.push({ type: 'wait', until: new Promise<void>((r) => (open = r)) });
    c.track(ev(1));
    const a = c.flush();
    await settle();
    expect(server.requests.length).toBe(1);
    c.track(ev(2));
    const b = c.flush();
    await settle();
    expect(server.requests.length).toBe(1);
    expect(c.pendingEvents).toBe(2);
    open();
    expect((await a).accepted).toBe(1);
    expect((await b).accepted).toBe(1);
    expect(server.requests.map((r) => r.events.map((e) => e.quantity))).toEqual([[2], [3]]);
  });

  it('client.flush() without track() sends nothing; close() without track() still refuses later track()', async () => {
    const { server, c } = setup();
    expect(await c.flush()).toMatchObject({ accepted: 0, batches: 0 });
    expect(await c.close()).toMatchObject({ accepted: 0, batches: 0 });
    expect(() => c.track(ev(1))).toThrow(TrackerClosedError);
    expect(server.seen).toEqual([]);
  });

  it('a failure that is not a UsageDbError (a bug) still reaches onError, and the events stay', async () => {
    const seen: UsageDbError[] = [];
    const t = new Tracker(
      { send: async () => Promise.reject(new TypeError('boom')), mintId: () => 'id', now: () => 1 },
      { flushOnExit: false, onError: (e) => seen.push(e) },
    );
    t.track(ev(1));
    await expect(t.flush()).rejects.toThrow('boom');
    expect(seen.map((e) => [e.code, e.message])).toEqual([['client_error', 'flush failed: boom']]);
    expect(t.pending).toBe(1);
  });

  it('a flush failing part-way still reports events refused by the batches before the failure', async () => {
    const { server, errors, c } = setup();
    const tracker = c.createTracker({ flushEvents: 2000, flushIntervalMs: 60_000, flushOnExit: false, onError: (e) => errors.push(e) });
    server.invalid.set('refused', 'unit: is required');
    server.faults.push(undefined, { type: 'answer', response: () => errorAnswer(400, 'invalid_request', 'body: nope') });
    // The client's default maxBatchEvents is 1000: make two batches.
    for (let i = 0; i < 1500; i++) tracker.track({ ...ev(i), ...(i === 3 ? { event_id: 'refused' } : {}) });
    const err = await tracker.flush().catch((e: UsageDbError) => e);
    expect(err).toMatchObject({ code: 'invalid_request' });
    expect(errors.map((e) => e.code)).toEqual(['events_rejected', 'invalid_request']);
    expect((errors[0] as EventsRejectedError).outcomes.map((o) => o.event_id)).toEqual(['refused']);
    expect(tracker.pending).toBe(500);
  });
});
