/**
 * Several Node processes on one bucket, in one test process (issue 14): each "process" is its own
 * buildServices over a shared memory store, with USAGEDB_PEER_URL set, and the forwarder's fetch
 * dispatches to the app of the URL it calls. Covers the internal route's auth and input checks,
 * forwarding to the lease holder (one committer, exact totals), and the failure rules: a refused
 * connection commits locally, a call that may have been received is commit_outcome_unknown and
 * its retry is answered by dedupe.
 */
import type { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../src/api/env.ts';
import { silentLogger } from '../../src/api/observability.ts';
import { decodeSubmit, encodeSubmit, fromBase64, fromBase64Js, toBase64Js } from '../../src/ingest/peer-wire.ts';
import type { PendingEvent } from '../../src/ingest/shard-writer.ts';
import { seededRandom } from '../../src/model/deps.ts';
import { loadConfig } from '../../src/runtime/config.ts';
import { notConnected } from '../../src/runtime/peer-forwarder.ts';
import { buildServices, type Services } from '../../src/runtime/services.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { usage } from '../support/fixtures.ts';
import { pendingOf } from '../support/pending.ts';
import { storedEvents, TestClock } from '../support/instance.ts';

const TOKEN = 'peer-token-0123456789-0123456789-abcdef';
const KEY = 'ingest-key-0123456789';

interface Proc {
  readonly url: string;
  readonly s: Services;
}

/** `n` processes on one store; `fetchFor(url)` lets a test break the link to one of them. */
async function cluster(
  n: number,
  opts: { store?: ObjectStore; fetchOverride?: (url: string, init: RequestInit | undefined, real: () => Promise<Response>) => Promise<Response> } = {},
) {
  const store = opts.store ?? new MemoryStore();
  const procs: Proc[] = [];
  const apps = new Map<string, Hono<AppEnv>>();
  const peerFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    const base = /^https?:\/\/[^/]+/.exec(url)![0];
    const real = () => {
      const app = apps.get(base);
      if (app === undefined) throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
      return Promise.resolve(app.request(url, init));
    };
    return opts.fetchOverride === undefined ? real() : opts.fetchOverride(url, init, real);
  }) as typeof fetch;
  for (let i = 0; i < n; i++) {
    const url = `http://p${i}.test:8787`;
    const config = loadConfig({
      USAGEDB_STORE: 'memory',
      USAGEDB_PREFIX: 'db',
      USAGEDB_SHARDS: '2',
      USAGEDB_BUCKETS: '16',
      USAGEDB_API_KEYS: `k:${KEY}:admin`,
      USAGEDB_PEER_URL: url,
      USAGEDB_PEER_TOKEN: TOKEN,
    });
    const s = await buildServices({
      config,
      store,
      deps: { clock: new TestClock(), random: seededRandom(i + 1) },
      logger: silentLogger,
      loopbackOnly: true,
      peerFetch,
    });
    apps.set(url, s.app);
    procs.push({ url, s });
  }
  return { store, procs, apps };
}

async function post(p: Proc, events: unknown[]): Promise<{ status: number; body: any }> {
  const res = await p.s.app.request('/v1/usage/batch', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ events }),
  });
  return { status: res.status, body: await res.json() };
}

const pending = (events: Record<string, unknown>[]): PendingEvent[] => pendingOf(events);

const submit = (p: Proc, shard: string, body: string, auth: string | null = `Bearer ${TOKEN}`) =>
  p.s.app.request(`/internal/v1/shards/${shard}/submit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth === null ? {} : { authorization: auth }) },
    body,
  });

const counter = (text: string, name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
const metrics = async (p: Proc) => (await p.s.app.request('/metrics', { headers: { authorization: `Bearer ${KEY}` } })).text();

describe('internal peer route', () => {
  it('refuses a call without the peer token, with a wrong one, and with an API key: 401, nothing committed', async () => {
    const { procs, store } = await cluster(1);
    const body = encodeSubmit(pending([usage(1)]));
    for (const auth of [null, `Bearer ${TOKEN}x`, `Bearer ${KEY}`, TOKEN]) {
      const res = await submit(procs[0]!, '0', body, auth);
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error.code).toBe('unauthorized');
    }
    expect(await storedEvents(procs[0]!.s.db)).toHaveLength(0);
    expect((await store.list('db/shards/')).items.filter((o) => o.key.includes('/segments/'))).toHaveLength(0);
  });

  it('is not served without USAGEDB_PEER_URL', async () => {
    const config = loadConfig({ USAGEDB_STORE: 'memory', USAGEDB_SHARDS: '1' });
    const s = await buildServices({
      config,
      store: new MemoryStore(),
      deps: { clock: new TestClock(), random: seededRandom(1) },
      logger: silentLogger,
      loopbackOnly: true,
    });
    const res = await s.app.request('/internal/v1/shards/0/submit', { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{}' });
    expect(res.status).toBe(404);
    expect(s.peers).toBeUndefined();
  });

  it('answers 400 naming the field on a malformed body or shard', async () => {
    const { procs } = await cluster(1);
    const p = procs[0]!;
    const good = JSON.parse(encodeSubmit(pending([usage(1), usage(2)]))) as { v: number; events: unknown[][]; hashes: string };
    expect(good.v).toBe(1);
    /** Event row `i` of the good body with field `at` set to `v` (rows: peer-wire.ts). */
    const withField = (i: number, at: number, v: unknown) => good.events.map((r, j) => (j === i ? r.map((x, k) => (k === at ? v : x)) : r));
    const cases: [string, string, string][] = [
      ['0', 'not json', 'body'],
      ['0', JSON.stringify({ events: good.events, hashes: good.hashes }), 'v'],
      ['0', JSON.stringify({ v: 2, events: good.events, hashes: good.hashes }), 'v'],
      ['0', JSON.stringify({ v: '1', events: good.events, hashes: good.hashes }), 'v'],
      ['0', JSON.stringify({ v: 1, hashes: good.hashes }), 'events'],
      ['0', JSON.stringify({ v: 1, events: good.events, hashes: good.hashes.slice(0, -4) }), 'hashes'],
      ['0', JSON.stringify({ v: 1, events: good.events.slice(0, 1), hashes: good.hashes }), 'hashes'],
      ['0', JSON.stringify({ v: 1, events: good.events, hashes: 7 }), 'hashes'],
      ['0', JSON.stringify({ v: 1, events: good.events, hashes: good.hashes, extra: 1 }), 'extra'],
      ['0', JSON.stringify({ v: 1, events: good.events, hashes: `${good.hashes.slice(0, -4)}!!!!` }), 'hashes'],
      ['0', JSON.stringify({ v: 1, events: withField(1, 10, 5), hashes: good.hashes }), 'events.1.quantity'],
      ['0', JSON.stringify({ v: 1, events: withField(1, 10, '1e3'), hashes: good.hashes }), 'events.1.quantity'],
      ['0', JSON.stringify({ v: 1, events: withField(0, 2, null), hashes: good.hashes }), 'events.0.account_id'],
      ['0', JSON.stringify({ v: 1, events: withField(0, 1, 'Bogus'), hashes: good.hashes }), 'events.0.kind'],
      ['0', JSON.stringify({ v: 1, events: withField(0, 9, 1.5), hashes: good.hashes }), 'events.0.timestamp_ms'],
      ['0', JSON.stringify({ v: 1, events: withField(0, 11, { region: 1 }), hashes: good.hashes }), 'events.0.dimensions'],
      ['0', JSON.stringify({ v: 1, events: withField(0, 12, ['only-one']), hashes: good.hashes }), 'events.0.correction_ref'],
      ['0', JSON.stringify({ v: 1, events: [[...good.events[0]!, 'surprise'], good.events[1]], hashes: good.hashes }), 'events.0'],
      ['0', JSON.stringify({ v: 1, events: [{ event_id: 'x' }, good.events[1]], hashes: good.hashes }), 'events.0'],
      ['2', JSON.stringify(good), 'shard'],
      ['x', JSON.stringify(good), 'shard'],
    ];
    for (const [shard, body, field] of cases) {
      const res = await submit(p, shard, body);
      const json = (await res.json()) as any;
      expect({ shard, field, status: res.status }).toEqual({ shard, field, status: 400 });
      expect(json.error.details?.field ?? json.error.field).toBe(field);
    }
    expect(await storedEvents(p.s.db)).toHaveLength(0);
  });

  it('commits a well-formed forwarded submit on its own writer and answers the outcomes', async () => {
    const { procs } = await cluster(1);
    const p = procs[0]!;
    const events = [usage(1), usage(2), usage(1)];
    const res = await submit(p, '0', encodeSubmit(pending(events)));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, value: ['accepted', 'accepted', 'duplicate'] });
    const stored = await storedEvents(p.s.db);
    expect(stored.map((e) => e.event_id).sort()).toEqual(['evt-1', 'evt-2']);
    expect(stored.find((e) => e.event_id === 'evt-2')!.quantity).toBe(102n);
    // The remembered token does not let another one in.
    expect((await submit(p, '0', encodeSubmit(pending([usage(9)])), `Bearer ${TOKEN.slice(0, -1)}`)).status).toBe(401);
    expect((await submit(p, '0', encodeSubmit(pending([usage(9)])), `Bearer ${TOKEN}`)).status).toBe(200);
  });
});

describe('the forwarded body', () => {
  it('round-trips events (corrections, nulls, 128-bit quantities) and hash words exactly', () => {
    const events = pending([
      usage(1),
      usage(2, { quantity: '-170141183460469231731687303715884105728', model_id: null, dimensions: {} }),
      usage(3, { kind: 'Correction', quantity: -5, correction_ref: { original_event_id: 'evt-1', reason: 'over-count' } }),
    ]);
    const back = decodeSubmit(JSON.parse(encodeSubmit(events)), 10);
    expect(back.events).toEqual(events.map((p) => p.event));
    expect([...back.hashes]).toEqual([...events[0]!.hashes]);
  });

  it('the JS base64 (runtimes without Buffer) agrees with Buffer and refuses what is not base64', () => {
    for (let n = 0; n < 40; n++) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 97 + n) & 255);
      const s = toBase64Js(b);
      expect(s).toBe(Buffer.from(b).toString('base64'));
      expect(fromBase64Js(s)).toEqual(b);
      expect(new Uint8Array(fromBase64(s)!)).toEqual(b);
    }
    for (const bad of ['abc', 'ab!d', 'a===', '====x===']) {
      expect(fromBase64Js(bad)).toBeUndefined();
      expect(fromBase64(bad)).toBeUndefined();
    }
  });
});

describe('which fetch failures mean nothing was sent', () => {
  const failed = (cause: unknown) => new TypeError('fetch failed', { cause });
  it('refused, unreachable, unresolvable and connect timeouts did not send; anything else may have', async () => {
    for (const code of ['ECONNREFUSED', 'EHOSTUNREACH', 'ENOTFOUND', 'UND_ERR_CONNECT_TIMEOUT'])
      expect(notConnected(failed(Object.assign(new Error(code), { code })))).toBe(true);
    // Several addresses tried: only when every one refused.
    const refused = Object.assign(new Error('r'), { code: 'ECONNREFUSED' });
    expect(notConnected(failed(Object.assign(new AggregateError([refused, refused]), { code: undefined })))).toBe(true);
    expect(notConnected(failed(new AggregateError([refused, Object.assign(new Error('x'), { code: 'ECONNRESET' })])))).toBe(false);
    for (const code of ['ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'EPIPE'])
      expect(notConnected(failed(Object.assign(new Error(code), { code })))).toBe(false);
    expect(notConnected(new DOMException('timed out', 'TimeoutError'))).toBe(false);
    expect(notConnected(new Error('no cause'))).toBe(false);
  });
});

describe('forwarding to the shard lease holder', () => {
  it('three processes, concurrent ingest round-robin with duplicates: exact totals, and only the holders commit', async () => {
    const { procs } = await cluster(3);
    const batches: Record<string, unknown>[][] = [];
    for (let b = 0; b < 30; b++) batches.push(Array.from({ length: 20 }, (_, j) => usage(b * 15 + j))); // overlapping ids
    const answers = await Promise.all(batches.map((events, i) => post(procs[i % 3]!, events)));
    expect(answers.map((a) => a.status)).toEqual(batches.map(() => 200));
    const distinct = new Set(batches.flat().map((e) => e.event_id as string));
    expect(answers.reduce((n, a) => n + a.body.accepted, 0)).toBe(distinct.size);
    expect(answers.reduce((n, a) => n + a.body.accepted + a.body.duplicates, 0)).toBe(600);
    const stored = await storedEvents(procs[0]!.s.db);
    expect(stored).toHaveLength(distinct.size);
    expect(new Set(stored.map((e) => e.event_id)).size).toBe(distinct.size);
    // Each shard was committed by one process only, and no commit lost a race.
    for (const shard of [0, 1]) {
      const committers = procs.filter((p) => p.s.db.shards[shard]!.stats.commits > 0);
      expect(committers).toHaveLength(1);
      expect(committers[0]!.s.peers!.leases.holds(shard)).toBe(true);
      expect(procs.reduce((n, p) => n + p.s.db.shards[shard]!.stats.conflicts, 0)).toBe(0);
    }
    const texts = await Promise.all(procs.map(metrics));
    const forwarded = texts.reduce((n, t) => n + counter(t, 'usagedb_peer_forwarded_events_total'), 0);
    const received = texts.reduce((n, t) => n + counter(t, 'usagedb_peer_received_events_total'), 0);
    const self = texts.reduce((n, t) => n + counter(t, 'usagedb_peer_self_events_total'), 0);
    expect(forwarded).toBe(received);
    expect(forwarded).toBeGreaterThan(0);
    expect(forwarded + self).toBe(600);
    expect(texts.reduce((n, t) => n + counter(t, 'usagedb_peer_direct_events_total'), 0)).toBe(0);
  });

  it('a holder that refuses connections: its shard is committed locally, nothing lost', async () => {
    const { procs, apps } = await cluster(2);
    // p0 takes both shards' leases, then goes away (connection refused).
    expect((await post(procs[0]!, [usage(1), usage(2), usage(3)])).status).toBe(200);
    apps.delete(procs[0]!.url);
    const res = await post(procs[1]!, [usage(3), usage(4), usage(5)]);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ accepted: 2, duplicates: 1 });
    expect((await storedEvents(procs[1]!.s.db)).map((e) => e.event_id).sort()).toEqual(['evt-1', 'evt-2', 'evt-3', 'evt-4', 'evt-5']);
    const t = await metrics(procs[1]!);
    expect(counter(t, 'usagedb_peer_direct_fallbacks_total')).toBeGreaterThan(0);
    expect(counter(t, 'usagedb_peer_forwarded_requests_total')).toBe(0);
  });

  it('a forwarded call that may have been received is 503 commit_outcome_unknown; the retry is answered by dedupe', async () => {
    let dropAnswer = true;
    const { procs } = await cluster(2, {
      fetchOverride: async (url, _init, real) => {
        if (!url.includes('/internal/')) return real();
        const res = await real(); // the holder receives and commits ...
        if (dropAnswer) throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
        return res;
      },
    });
    expect((await post(procs[0]!, [usage(1)])).status).toBe(200); // p0 holds the shards now
    const events = [usage(10), usage(11), usage(12)];
    const lost = await procs[1]!.s.app.request('/v1/usage/batch', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ events }),
    });
    expect(lost.status).toBe(503);
    expect(lost.headers.get('retry-after')).toBe('1');
    expect(((await lost.json()) as any).error.code).toBe('commit_outcome_unknown');
    dropAnswer = false;
    const retry = await post(procs[1]!, events);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ accepted: 0, duplicates: 3 });
    expect(await storedEvents(procs[0]!.s.db)).toHaveLength(4);
    expect(counter(await metrics(procs[1]!), 'usagedb_peer_forward_unknown_total')).toBeGreaterThan(0);
  });

  it('a holder whose route refuses the call before committing (401, 404, 413, 400 of another wire version): committed locally, exact, nothing lost', async () => {
    for (const [status, body] of [
      [
        400,
        JSON.stringify({
          error: { code: 'validation_error', message: 'v: the call has version 1; this process speaks peer wire version 2', details: { field: 'v' } },
        }),
      ],
      [401, JSON.stringify({ error: { code: 'unauthorized', message: 'authorization: this route takes the peer token' } })],
      [404, '<html>not here</html>'],
      [413, JSON.stringify({ error: { code: 'payload_too_large', message: 'body: larger than …' } })],
    ] as const) {
      const { procs } = await cluster(2, {
        fetchOverride: async (url, _init, real) => (url.includes('/internal/') ? new Response(body, { status }) : real()),
      });
      expect((await post(procs[0]!, [usage(1), usage(2)])).status).toBe(200); // p0 holds the shards now
      const res = await post(procs[1]!, [usage(2), usage(3), usage(4)]);
      expect(res.status, `holder answered ${status}`).toBe(200);
      expect(res.body).toMatchObject({ accepted: 2, duplicates: 1 });
      expect((await storedEvents(procs[0]!.s.db)).map((e) => e.event_id).sort()).toEqual(['evt-1', 'evt-2', 'evt-3', 'evt-4']);
      const t = await metrics(procs[1]!);
      expect(counter(t, 'usagedb_peer_direct_fallbacks_total')).toBeGreaterThan(0);
      expect(counter(t, 'usagedb_peer_forward_unknown_total')).toBe(0);
    }
  });

  it('an error the holder answers comes back with its code', async () => {
    const { procs } = await cluster(2, {
      fetchOverride: async (url, _init, real) =>
        url.includes('/internal/')
          ? Response.json({ ok: false, error: { code: 'manifest_contention', kind: 'retryable', message: 'busy', retryAfterSeconds: 1 } })
          : real(),
    });
    expect((await post(procs[0]!, [usage(1)])).status).toBe(200);
    const res = await post(procs[1]!, [usage(2)]);
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('manifest_contention');
  });
});
