/**
 * Shard leases (issue 14): which Node process commits a shard for the others. On the memory
 * store with a clock the test moves: acquisition, following, expiry and takeover, renewal, a race
 * with exactly one winner, release, and the direct fallback when the holder is unreachable.
 */
import { describe, expect, it } from 'vitest';
import { gcShard } from '../../src/compact/gc.ts';
import { ShardLeases, decode, type Route } from '../../src/ingest/shard-lease.ts';
import type { Clock } from '../../src/model/deps.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { ObjectStore, PutOptions } from '../../src/store/types.ts';
import { openInstance } from '../support/instance.ts';
import { gcNow } from '../support/gc-options.ts';

const LEASE_MS = 10_000;
const KEY = 'db/shards/00/lease.json';

class ManualClock implements Clock {
  t = 1_700_000_000_000;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
  }
}

/** Counts PUTs (and their conditions) on the lease key. */
class CountingStore extends MemoryStore {
  puts: PutOptions[] = [];
  override put(key: string, body: Uint8Array, opts?: PutOptions) {
    if (key === KEY) this.puts.push(opts ?? {});
    return super.put(key, body, opts);
  }
}

function leases(store: ObjectStore, clock: Clock, name: string): ShardLeases {
  return new ShardLeases({ store, prefix: 'db', shardCount: 1, clock, url: `http://${name}:8787`, holderId: `id-${name}`, leaseMs: LEASE_MS });
}

async function stored(store: ObjectStore) {
  const res = await store.get(KEY);
  if (res === null || res.notModified) return undefined;
  return decode(res.body);
}

const settle = () => new Promise((r) => setTimeout(r, 5));

/** a holds shard 0 and b follows it there. */
async function aHoldsBFollows() {
  const store = new MemoryStore();
  const clock = new ManualClock();
  const a = leases(store, clock, 'a');
  const b = leases(store, clock, 'b');
  await a.route(0);
  expect(await b.route(0)).toEqual({ kind: 'peer', url: 'http://a:8787' });
  return { store, clock, a, b };
}

/** a holds shard 0; b followed it there, then found it unreachable. */
async function holderUnreachableFromB() {
  const held = await aHoldsBFollows();
  held.b.unreachable(0, 'http://a:8787');
  return held;
}

describe('shard leases', () => {
  it('the first route takes the lease; a second process follows it to the holder', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const a = leases(store, clock, 'a');
    const b = leases(store, clock, 'b');
    expect(await a.route(0)).toEqual({ kind: 'self' });
    expect(await stored(store)).toEqual({
      format: 1,
      holder_url: 'http://a:8787',
      holder_id: 'id-a',
      expires_at_ms: clock.t + LEASE_MS,
      acquired_at_ms: clock.t,
    });
    expect(await b.route(0)).toEqual({ kind: 'peer', url: 'http://a:8787' });
    expect(a.holds(0)).toBe(true);
    expect(b.holds(0)).toBe(false);
    expect(a.stats.acquisitions).toBe(1);
    expect(b.stats.followed).toBe(1);
  });

  it('after the lease expires unrenewed, the other process takes it over, and the first then follows it', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const a = leases(store, clock, 'a');
    const b = leases(store, clock, 'b');
    expect(await a.route(0)).toEqual({ kind: 'self' });
    expect(await b.route(0)).toEqual({ kind: 'peer', url: 'http://a:8787' });
    clock.t += LEASE_MS + 1;
    expect(await b.route(0)).toEqual({ kind: 'self' });
    expect((await stored(store))?.holder_id).toBe('id-b');
    expect(await a.route(0)).toEqual({ kind: 'peer', url: 'http://b:8787' });
  });

  it('the holder renews once half the lease has run out, and keeps it past the first expiry', async () => {
    const store = new CountingStore();
    const clock = new ManualClock();
    const a = leases(store, clock, 'a');
    const b = leases(store, clock, 'b');
    const start = clock.t;
    expect(await a.route(0)).toEqual({ kind: 'self' });
    clock.t += LEASE_MS * 0.4;
    expect(await a.route(0)).toEqual({ kind: 'self' });
    await settle();
    expect(store.puts.length).toBe(1); // more than half left: no renewal
    clock.t += LEASE_MS * 0.2;
    expect(await a.route(0)).toEqual({ kind: 'self' });
    await settle();
    expect(store.puts.length).toBe(2);
    expect(store.puts[1]!.ifMatch).toBeDefined();
    expect(a.stats.renewals).toBe(1);
    clock.t = start + LEASE_MS * 1.3; // past the first expiry, before the renewed one
    expect(await a.route(0)).toEqual({ kind: 'self' });
    expect(await b.route(0)).toEqual({ kind: 'peer', url: 'http://a:8787' });
    expect((await stored(store))?.acquired_at_ms).toBe(start);
  });

  it('touch renews a lease the holder only serves forwarded events with', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    const a = leases(store, clock, 'a');
    await a.route(0);
    clock.t += LEASE_MS * 0.75;
    a.touch(0);
    await settle();
    expect(a.stats.renewals).toBe(1);
    clock.t += LEASE_MS * 0.5;
    expect(a.holds(0)).toBe(true);
  });

  it('two processes racing for a free lease: exactly one holds it, the other follows it', async () => {
    for (let round = 0; round < 20; round++) {
      const store = new MemoryStore();
      const clock = new ManualClock();
      const ls = ['a', 'b', 'c'].map((n) => leases(store, clock, n));
      const routes: Route[] = await Promise.all(ls.map((l) => l.route(0)));
      const holder = (await stored(store))!.holder_url;
      expect(routes.filter((r) => r.kind === 'self')).toHaveLength(1);
      expect(routes.filter((r) => r.kind === 'peer' && r.url === holder)).toHaveLength(2);
      expect(ls.filter((l) => l.holds(0)).map((l) => l.url)).toEqual([holder]);
    }
  });

  it('a racing takeover of an expired lease also has exactly one winner', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    await leases(store, clock, 'old').route(0);
    clock.t += LEASE_MS + 1;
    const ls = ['a', 'b'].map((n) => leases(store, clock, n));
    const routes = await Promise.all(ls.map((l) => l.route(0)));
    expect(routes.filter((r) => r.kind === 'self')).toHaveLength(1);
    expect(routes.filter((r) => r.kind === 'peer')).toHaveLength(1);
  });

  it('concurrent routes of one process share one acquisition', async () => {
    const store = new CountingStore();
    const clock = new ManualClock();
    const a = leases(store, clock, 'a');
    const routes = await Promise.all(Array.from({ length: 10 }, () => a.route(0)));
    expect(routes.every((r) => r.kind === 'self')).toBe(true);
    expect(store.puts).toHaveLength(1);
    expect(store.puts[0]!.ifNoneMatch).toBe('*');
  });

  it('release writes the lease expired: another process takes it at once', async () => {
    const { store, clock, a, b } = await aHoldsBFollows();
    await a.release();
    expect((await stored(store))?.expires_at_ms).toBe(0);
    expect(await a.route(0)).toEqual({ kind: 'direct' });
    // b still has a's lease cached; its next call to a is refused (a exited): direct for a moment,
    // then it reads the lease again and takes it, long before a's lease would have expired.
    b.unreachable(0, 'http://a:8787');
    expect(await b.route(0)).toEqual({ kind: 'direct' });
    clock.t += 1_001;
    expect(await b.route(0)).toEqual({ kind: 'self' });
    expect(a.stats.releases).toBe(1);
    // A fresh process finds it free too.
    const c = leases(store, clock, 'c');
    expect(await c.route(0)).toEqual({ kind: 'peer', url: 'http://b:8787' });
  });

  it('an unreachable holder: direct commits until its lease expires, then the lease is taken', async () => {
    const { clock, b } = await holderUnreachableFromB();
    expect(await b.route(0)).toEqual({ kind: 'direct' });
    clock.t += 1_001;
    // a's lease is still live but a has not renewed it since: not followed to a host that does not
    // answer (each such call waits for a connect timeout); direct until it expires, then taken.
    expect(await b.route(0)).toEqual({ kind: 'direct' });
    clock.t += LEASE_MS / 2;
    expect(await b.route(0)).toEqual({ kind: 'direct' });
    clock.t += LEASE_MS / 2;
    expect(await b.route(0)).toEqual({ kind: 'self' });
  });

  it('a holder that was unreachable once and renews its lease (it is alive) is followed again', async () => {
    const { clock, a, b } = await holderUnreachableFromB();
    clock.t += LEASE_MS / 2 + 1;
    expect(await a.route(0)).toEqual({ kind: 'self' }); // a renews past half its lease
    await settle();
    expect(a.stats.renewals).toBe(1);
    expect(await b.route(0)).toEqual({ kind: 'peer', url: 'http://a:8787' });
  });

  it('a process restarted at the holder URL takes the lease of its earlier incarnation at once', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    await leases(store, clock, 'a').route(0);
    const again = new ShardLeases({ store, prefix: 'db', shardCount: 1, clock, url: 'http://a:8787', holderId: 'id-a2', leaseMs: LEASE_MS });
    expect(await again.route(0)).toEqual({ kind: 'self' });
    expect((await stored(store))?.holder_id).toBe('id-a2');
  });

  it('an unreadable lease object is taken over; a store that fails routes direct', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock();
    await store.put(KEY, new TextEncoder().encode('not json'));
    expect(await leases(store, clock, 'a').route(0)).toEqual({ kind: 'self' });
    const failing: ObjectStore = {
      ...store,
      kind: 'memory',
      get: () => Promise.reject(new Error('down')),
      put: (k, b, o) => store.put(k, b, o),
      head: (k) => store.head(k),
      delete: (k) => store.delete(k),
      list: (p, o) => store.list(p, o),
    };
    const errors: string[] = [];
    const c = new ShardLeases({
      store: failing,
      prefix: 'db',
      shardCount: 1,
      clock,
      url: 'http://c:1',
      holderId: 'c',
      leaseMs: LEASE_MS,
      onError: (_, what) => errors.push(what),
    });
    expect(await c.route(0)).toEqual({ kind: 'direct' });
    expect(errors).toEqual(['acquire']);
  });

  it('GC keeps lease.json while it deletes an unreferenced object beside it', async () => {
    const store = new MemoryStore();
    const inst = await openInstance(store, 'db', { shards: 1 });
    await leases(store, new ManualClock(), 'a').route(0);
    const orphan = 'db/shards/00/segments/raw/01ORPHAN.useg';
    await store.put(orphan, new Uint8Array([1, 2, 3]));
    const report = await gcShard(store, inst.db.shards[0]!, inst.db.deps, 'db/_scratch', gcNow());
    expect(report.keys).toEqual([orphan]);
    expect(await stored(store)).toMatchObject({ holder_id: 'id-a' });
  });
});
