/**
 * The Node runtime's collection after a burst of store GETs (src/runtime/collect-after-reads.ts):
 * when it runs (after the burst's last GET, once; not for small bursts, HEADs or LISTs; not again
 * within the interval), that the store answers the same through it, and that the Node wiring asks
 * V8 for its memory-reducing collection only when the process has `gc`.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/api/observability.ts';
import { boot, configure, type RuntimeTraits } from '../../src/runtime/boot.ts';
import { collectAfterReads, gcAfterReadBursts, type CollectAfterReadsOptions } from '../../src/runtime/collect-after-reads.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { getBytes, type GetOptions, type GetResult, type ObjectStore } from '../../src/store/types.ts';

const enc = new TextEncoder();

/** A MemoryStore whose GETs wait until released, so a test decides when each settles. */
class GatedStore extends MemoryStore {
  private readonly waiting: (() => void)[] = [];
  override async get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    await new Promise<void>((r) => this.waiting.push(r));
    return super.get(key, opts);
  }
  /** Lets the oldest `n` waiting GETs go on. */
  release(n = this.waiting.length): void {
    for (const r of this.waiting.splice(0, n)) r();
  }
  get pending(): number {
    return this.waiting.length;
  }
}

/** Deferred callbacks run only when the test says (stands for setImmediate). */
function harness(over: Partial<CollectAfterReadsOptions> = {}) {
  const deferred: (() => void)[] = [];
  const h = {
    t: 0,
    collections: 0,
    deferred,
    /** Settles pending promise callbacks, then runs what was deferred meanwhile. */
    async turn(): Promise<void> {
      for (let i = 0; i < 10; i++) await Promise.resolve();
      for (const fn of deferred.splice(0)) fn();
    },
  };
  const opts: CollectAfterReadsOptions = {
    minReads: 4,
    minIntervalMs: 60_000,
    collect: () => {
      h.collections++;
      h.t += 5;
    },
    defer: (fn) => deferred.push(fn),
    now: () => h.t,
    ...over,
  };
  return { h, opts };
}

async function seed(store: ObjectStore, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.put(`k${i}`, enc.encode(`v${i}`));
}

describe('collectAfterReads', () => {
  it('collects once, after the last GET of a large burst has settled, not while any is in flight', async () => {
    const inner = new GatedStore();
    await seed(inner, 6);
    const { h, opts } = harness();
    const store = collectAfterReads(inner, opts);
    const reads = Array.from({ length: 6 }, (_, i) => getBytes(store, `k${i}`));
    inner.release(5);
    await h.turn();
    expect(h.collections).toBe(0); // one GET still in flight
    inner.release();
    const bodies = await Promise.all(reads);
    expect(bodies.map((b) => new TextDecoder().decode(b!.body))).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
    expect(h.collections).toBe(0); // deferred: not inside the GET's own continuation
    await h.turn();
    expect(h.collections).toBe(1);
    expect(store.readBursts).toEqual({ collections: 1, skipped: 0 });
  });

  it('counts a GET started before the deferred check as the same burst', async () => {
    const inner = new GatedStore();
    await seed(inner, 4);
    const { h, opts } = harness();
    const store = collectAfterReads(inner, opts);
    const first = Promise.all([0, 1].map((i) => store.get(`k${i}`)));
    inner.release();
    await first; // in flight: none; the check is deferred
    const second = Promise.all([2, 3].map((i) => store.get(`k${i}`)));
    await h.turn(); // the check finds GETs in flight again: no verdict yet
    expect(store.readBursts).toEqual({ collections: 0, skipped: 0 });
    inner.release();
    await second;
    await h.turn();
    expect(store.readBursts).toEqual({ collections: 1, skipped: 0 }); // 2 + 2 GETs: one burst of 4
  });

  it('does not collect after a small burst, nor count HEADs, LISTs or writes', async () => {
    const inner = new GatedStore();
    await seed(inner, 3);
    const { h, opts } = harness();
    const store = collectAfterReads(inner, opts);
    await store.put('w', enc.encode('x'));
    await Promise.all([store.head('k0'), store.head('k1'), store.list('k'), store.delete('w')]);
    const gets = Promise.all([0, 1, 2].map((i) => store.get(`k${i}`)));
    inner.release();
    await gets;
    await h.turn();
    expect(h.collections).toBe(0);
    expect(store.readBursts).toEqual({ collections: 0, skipped: 1 });
    expect(await store.head('w')).toBeNull();
    expect(store.kind).toBe('memory');
  });

  it('waits minIntervalMs after a collection before the next one', async () => {
    const inner = new GatedStore();
    await seed(inner, 4);
    const { h, opts } = harness({ minIntervalMs: 1_000 });
    const store = collectAfterReads(inner, opts);
    const burst = async () => {
      const gets = Promise.all([0, 1, 2, 3].map((i) => store.get(`k${i}`)));
      inner.release();
      await gets;
      await h.turn();
    };
    await burst();
    h.t += 500;
    await burst();
    expect(store.readBursts).toEqual({ collections: 1, skipped: 1 });
    h.t += 600;
    await burst();
    expect(store.readBursts).toEqual({ collections: 2, skipped: 1 });
  });

  it('a failed GET ends the burst like one that answered', async () => {
    const inner = new MemoryStore();
    const failing: ObjectStore = Object.assign(Object.create(inner) as ObjectStore, {
      get: () => Promise.reject(new Error('store down')),
    });
    const { h, opts } = harness({ minReads: 2 });
    const store = collectAfterReads(failing, opts);
    const results = await Promise.allSettled([store.get('a'), store.get('b')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await h.turn();
    expect(h.collections).toBe(1);
  });
});

describe('gcAfterReadBursts (Node wiring)', () => {
  it('leaves the store as it is when the process has no gc (started without --expose-gc)', () => {
    expect(gcAfterReadBursts(undefined)).toBeUndefined();
  });

  it("asks V8 for its memory-reducing full collection ('last-resort', sync) after a burst", async () => {
    const calls: unknown[] = [];
    const gc = ((o?: unknown) => {
      calls.push(o);
    }) as NodeJS.GCFunction;
    const wrap = gcAfterReadBursts(gc)!;
    const inner = new MemoryStore();
    await seed(inner, 64);
    const store = wrap(inner, silentLogger);
    await Promise.all(Array.from({ length: 64 }, (_, i) => store.get(`k${i}`)));
    await new Promise((r) => setImmediate(r));
    expect(calls).toEqual([{ type: 'major', execution: 'sync', flavor: 'last-resort' }]);
  });
});

describe('boot with a runtime that wraps the store', () => {
  it('serves through the wrapped store (the Node runtime passes the collecting wrapper here)', async () => {
    const wrapped: ObjectStore[] = [];
    const rt: RuntimeTraits = {
      name: 'test',
      write: () => undefined,
      loopbackOnly: true,
      crossRequestSharing: true,
      wrapStore: (store) => {
        const w = collectAfterReads(store, harness().opts);
        wrapped.push(w);
        return w;
      },
    };
    const config = configure({ USAGEDB_STORE: 'memory', USAGEDB_LOG_LEVEL: 'error' }, rt);
    const inst = await boot(config, rt);
    expect(wrapped).toHaveLength(1);
    expect(inst.services.db.store).toBe(wrapped[0]);
  });
});
