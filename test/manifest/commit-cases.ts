/**
 * The manifest commit's guarantees, run against the memory store and MinIO: publish only after
 * a successful PUT, a skipped plan or edit touches nothing, lost races re-run the planner on the
 * fresh state, unknown outcomes are decided by read-back, many instances lose nothing, corrupt
 * shards fail closed.
 */
import { describe, expect, it } from 'vitest';
import { CommitOutcomeUnknownError, ManifestContentionError, ManifestCorruptError, UnsupportedFormatError } from '../../src/errors.ts';
import { Database } from '../../src/manifest/database.ts';
import { ShardKeys } from '../../src/manifest/keys.ts';
import { ManifestStore } from '../../src/manifest/manifest-store.ts';
import { AmbiguousWriteError, PreconditionFailedError, StoreRefusedError, TransientStoreError } from '../../src/store/errors.ts';
import { FaultPlan, withFaults } from '../../src/store/faulty.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { realTimeDeps } from '../support/deps.ts';
import { addSegments } from '../support/fixtures.ts';

export interface Backend {
  store: ObjectStore;
  prefix: string;
}

const patient = { maxAttempts: 1000, maxDurationMs: 120_000 };

function shardStore(store: ObjectStore, prefix: string, seed = 1, shard = 0): ManifestStore {
  return new ManifestStore({ store, keys: new ShardKeys(prefix, shard, 4), shard, deps: realTimeDeps(seed), policy: patient });
}

const ids = (ms: ManifestStore) => ms.peek()!.manifest.segments.map((s) => s.id);

export function describeManifestCommit(name: string, make: () => Promise<Backend>): void {
  describe(`manifest commit: ${name}`, () => {
    it('bootstraps once: two instances loading a new shard at the same time end with one manifest', async () => {
      const { store, prefix } = await make();
      const [a, b] = await Promise.all([shardStore(store, prefix, 1).load(), shardStore(store, prefix, 2).load()]);
      expect(a.manifest.commit_id).toBe(b.manifest.commit_id);
      expect(a.etag).toBe(b.etag);
      expect(a.manifest.generation).toBe(1);
    });

    it('commits an edit, publishes it with the ETag the PUT returned, and keeps a history copy', async () => {
      const { store, prefix } = await make();
      const ms = shardStore(store, prefix);
      const res = await ms.commit(addSegments('s1'));
      expect(res.committed).toBe(true);
      expect(res.result).toEqual({ status: 'applied', value: undefined });
      expect(res.state.manifest.generation).toBe(2);
      const head = await store.head(ms.keys.current);
      expect(ms.peek()!.etag).toBe(head!.etag);
      expect(ids(ms)).toEqual(['s1']);
      expect(await ms.history()).toEqual([1, 2]);
      expect((await ms.readGeneration(2)).segments.map((s) => s.id)).toEqual(['s1']);
    });

    it('a failed write leaves the cache exactly as it was and the error reaches the caller', async () => {
      const { store, prefix } = await make();
      const plan = new FaultPlan();
      const ms = shardStore(withFaults(store, plan.injector), prefix);
      await ms.commit(addSegments('kept'));
      const before = ms.peek()!;
      const copy = structuredClone(before);
      plan.add('put', 'current.json', { type: 'fail', error: new StoreRefusedError('disk on fire') });
      await expect(ms.commit(addSegments('lost'))).rejects.toThrow('disk on fire');
      expect(ms.peek()).toBe(before);
      expect(ms.peek()).toEqual(copy);
      expect(ms.peek()!.manifest.generation).toBe(2);
      expect(ids(ms)).toEqual(['kept']);
      const fresh = shardStore(store, prefix, 9);
      expect((await fresh.load()).manifest.segments.map((s) => s.id)).toEqual(['kept']);
    });

    it('a plan of nothing and a skipped edit touch neither the store nor the cache; the edit says why', async () => {
      const { store, prefix } = await make();
      const plan = new FaultPlan();
      const ms = shardStore(withFaults(store, plan.injector), prefix);
      const before = await ms.load();
      const callsBefore = plan.calls.length;
      const r1 = await ms.commit(() => undefined);
      const r2 = await ms.commit({ op: 'reopenPeriod', account_id: 'a', month: '2026-01', at_ms: 1, reason: 'r', actor: 't' });
      expect(r1).toMatchObject({ committed: false, result: undefined });
      expect(r2).toMatchObject({ committed: false, result: { status: 'skipped', reason: 'not_closed' } });
      expect(plan.calls.length).toBe(callsBefore);
      expect(ms.peek()).toBe(before);
      expect(ids(ms)).toEqual([]);
    });

    it('several edits in one generation: each applied or skipped on its own, in order', async () => {
      const { store, prefix } = await make();
      const ms = shardStore(store, prefix);
      await ms.commit(addSegments('old'));
      const res = await ms.commitAll([addSegments('new'), addSegments('old'), addSegments('newer')]);
      expect(res.committed).toBe(true);
      expect(res.results.map((r) => r.status)).toEqual(['applied', 'skipped', 'applied']);
      expect(res.results[1]).toEqual({ status: 'skipped', reason: 'already_listed' });
      expect(res.state.manifest.generation).toBe(3);
      expect(ids(ms)).toEqual(['old', 'new', 'newer']);
    });

    it('publishes to the cache only after the PUT succeeded', async () => {
      const { store, prefix } = await make();
      let seenDuringPut: number | undefined;
      let ms: ManifestStore | undefined;
      const watched = withFaults(store, (call) => {
        if (call.op === 'put' && call.key.endsWith('current.json') && call.put?.ifMatch !== undefined) {
          seenDuringPut = ms!.peek()!.manifest.generation;
          return { type: 'delay', ms: 20 };
        }
        return undefined;
      });
      ms = shardStore(watched, prefix);
      await ms.load();
      const pending = ms.commit(addSegments('x'));
      await new Promise((r) => setTimeout(r, 5));
      expect(ms.peek()!.manifest.generation).toBe(1);
      await pending;
      expect(seenDuringPut).toBe(1);
      expect(ms.peek()!.manifest.generation).toBe(2);
    });

    it('8 instances x 50 concurrent commits: every item exactly once, generation counts every commit', async () => {
      const { store, prefix } = await make();
      const instances = Array.from({ length: 8 }, (_, i) => shardStore(store, prefix, 100 + i));
      let runs = 0;
      await Promise.all(
        instances.map(async (ms, i) => {
          for (let j = 0; j < 50; j++) {
            const id = `item-${i}-${j}`;
            await ms.commit(() => {
              runs++;
              return addSegments(id); // its precondition is re-checked on every attempt
            });
          }
        }),
      );
      const final = await shardStore(store, prefix, 999).load();
      const got = final.manifest.segments.map((s) => s.id);
      expect(got).toHaveLength(400);
      expect(new Set(got).size).toBe(400);
      expect(final.manifest.generation).toBe(1 + 400);
      const conflicts = instances.reduce((n, ms) => n + ms.stats.conflicts, 0);
      expect(runs).toBe(400 + conflicts);
      expect(instances.reduce((n, ms) => n + ms.stats.commits, 0)).toBe(400);
    }, 180_000);

    for (const [label, error] of [
      ['answer lost (timeout after the body was sent)', new AmbiguousWriteError('socket hang up')],
      ['a hidden SDK retry answered 412', new PreconditionFailedError('412 from the retry')],
    ] as const) {
      it(`write landed, ${label}: decided by read-back, mutation applied once`, async () => {
        const { store, prefix } = await make();
        const plan = new FaultPlan();
        const ms = shardStore(withFaults(store, plan.injector), prefix);
        await ms.load();
        plan.add('put', 'current.json', { type: 'land-then-fail', error });
        let runs = 0;
        const res = await ms.commit(() => {
          runs++;
          return addSegments('once');
        });
        expect(res.committed).toBe(true);
        expect(runs).toBe(1);
        const stored = await shardStore(store, prefix, 5).load();
        expect(stored.manifest.segments.map((s) => s.id)).toEqual(['once']);
        expect(stored.manifest.generation).toBe(2);
        expect(ms.peek()!.etag).toBe(stored.etag);
      });
    }

    it('an unknown outcome whose write did not land is retried with the same body, applied once', async () => {
      const { store, prefix } = await make();
      const plan = new FaultPlan();
      const ms = shardStore(withFaults(store, plan.injector), prefix);
      await ms.load();
      plan.add('put', 'current.json', { type: 'fail', error: new AmbiguousWriteError('reset') }, 2);
      plan.add('get', 'current.json', { type: 'fail', error: new TransientStoreError('503') }, 1);
      let runs = 0;
      await ms.commit(() => {
        runs++;
        return addSegments('retry');
      });
      expect(runs).toBe(1);
      expect(ms.stats.ambiguous).toBe(2);
      expect((await shardStore(store, prefix, 6).load()).manifest.segments.map((s) => s.id)).toEqual(['retry']);
    });

    it("a lost race refreshes and re-runs the planner on the other instance's state", async () => {
      const { store, prefix } = await make();
      const a = shardStore(store, prefix, 1);
      const b = shardStore(store, prefix, 2);
      await a.load();
      await b.load();
      await a.commit(addSegments('from-a'));
      const seen: string[][] = [];
      await b.commit((base) => {
        seen.push(base.manifest.segments.map((s) => s.id));
        return addSegments('from-b');
      });
      expect(seen).toEqual([[], ['from-a']]);
      expect(ids(b)).toEqual(['from-a', 'from-b']);
      expect(b.stats.conflicts).toBe(1);
    });

    it("revalidation sees another instance's commit and costs a 304 when nothing changed", async () => {
      const { store, prefix } = await make();
      const plan = new FaultPlan();
      const a = shardStore(store, prefix, 1);
      const b = shardStore(withFaults(store, plan.injector), prefix, 2);
      await a.load();
      const first = await b.load();
      expect(await b.revalidate()).toBe(first);
      await a.commit(addSegments('new'));
      const seen = await b.revalidate();
      expect(seen.manifest.segments.map((s) => s.id)).toEqual(['new']);
      const manifestGets = plan.calls.filter((c) => c.op === 'get' && c.key.endsWith('current.json'));
      expect(manifestGets.every((c) => c.get?.ifNoneMatch !== undefined || c === manifestGets[0])).toBe(true);
    });

    it('gives up with ManifestContentionError after its attempt bound', async () => {
      const { store, prefix } = await make();
      const plan = new FaultPlan();
      const ms = new ManifestStore({
        store: withFaults(store, plan.injector),
        keys: new ShardKeys(prefix, 0, 4),
        shard: 0,
        deps: realTimeDeps(3),
        policy: { maxAttempts: 4, baseDelayMs: 1 },
      });
      await ms.load();
      plan.add('put', 'current.json', { type: 'fail', error: new PreconditionFailedError('lost') }, 100);
      const err = await ms.commit(addSegments('x')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ManifestContentionError);
      expect((err as ManifestContentionError).code).toBe('manifest_contention');
      expect(ms.stats.conflicts).toBe(4);
    });

    it('a per-call policy bounds every step of that commit, read-backs included', async () => {
      const { store, prefix } = await make();
      const plan = new FaultPlan();
      const ms = shardStore(withFaults(store, plan.injector), prefix); // its own bound: 120 s
      await ms.load();
      plan.add('put', 'current.json', { type: 'fail', error: new AmbiguousWriteError('reset') }, 10_000);
      plan.add('get', 'current.json', { type: 'fail', error: new TransientStoreError('503') }, 10_000);
      const started = Date.now();
      const err = await ms.commit(addSegments('x'), { policy: { maxDurationMs: 300, baseDelayMs: 1, maxDelayMs: 20 } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CommitOutcomeUnknownError);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(ms.peek()!.manifest.segments).toEqual([]);
    });

    it('commits to different shards do not conflict', async () => {
      const { store, prefix } = await make();
      const db1 = await Database.open({ store, prefix, deps: realTimeDeps(1), create: { shardCount: 4, bucketCount: 16 } });
      const db2 = await Database.open({ store, prefix, deps: realTimeDeps(2) });
      expect(db2.info).toEqual(db1.info);
      await Promise.all(
        [0, 1, 2, 3].map(async (shard) => {
          const writer = shard % 2 === 0 ? db1 : db2;
          for (let j = 0; j < 10; j++) await writer.shards[shard]!.commit(addSegments(`s${shard}-${j}`));
        }),
      );
      for (const db of [db1, db2]) for (const s of db.shards) expect(s.stats.conflicts).toBe(0);
      for (let shard = 0; shard < 4; shard++) expect((await db1.shards[shard]!.revalidate()).manifest.segments).toHaveLength(10);
    });

    it('a corrupt current.json fails its shard closed; other shards work; restore from history reopens it', async () => {
      const { store, prefix } = await make();
      const db = await Database.open({ store, prefix, deps: realTimeDeps(1), create: { shardCount: 4, bucketCount: 16 } });
      const s0 = db.shards[0]!;
      await s0.commit(addSegments('a'));
      await s0.commit(addSegments('b'));
      await store.put(s0.keys.current, new TextEncoder().encode('{"format":1,"generation":"oops"'));
      const other = (await Database.open({ store, prefix, deps: realTimeDeps(2) })).shards[0]!;
      const e1 = await other.load().catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(ManifestCorruptError);
      expect((e1 as ManifestCorruptError).code).toBe('manifest_corrupt');
      // The instance whose cache was fine learns of the corruption on revalidate and stops writing too.
      await expect(s0.revalidate()).rejects.toBeInstanceOf(ManifestCorruptError);
      await expect(s0.commit(addSegments('c'))).rejects.toBeInstanceOf(ManifestCorruptError);
      await db.shards[1]!.commit(addSegments('elsewhere'));

      const restored = await other.restore(2);
      expect(restored.manifest.segments.map((s) => s.id)).toEqual(['a']);
      expect(restored.manifest.generation).toBe(4);
      expect(restored.manifest.restored_from).toBe(2);
      await s0.revalidate();
      await s0.commit(addSegments('c'));
      expect(ids(s0)).toEqual(['a', 'c']);
      expect(s0.peek()!.manifest.generation).toBe(5);
    });

    it('a shard whose current.json vanished fails closed instead of starting over empty; restore reopens it', async () => {
      const { store, prefix } = await make();
      const ms = shardStore(store, prefix);
      await ms.commit(addSegments('acknowledged'));
      await store.delete(ms.keys.current);
      const cold = shardStore(store, prefix, 7);
      await expect(cold.load()).rejects.toBeInstanceOf(ManifestCorruptError);
      await expect(cold.commit(addSegments('more'))).rejects.toBeInstanceOf(ManifestCorruptError);
      // The instance that had it cached learns it on its next write (If-Match on a missing key).
      await expect(ms.commit(addSegments('more'))).rejects.toBeInstanceOf(ManifestCorruptError);
      expect(await store.head(ms.keys.current)).toBeNull();
      const restored = await cold.restore(2);
      expect(restored.manifest.segments.map((s) => s.id)).toEqual(['acknowledged']);
      await cold.commit(addSegments('more'));
      expect(ids(cold)).toEqual(['acknowledged', 'more']);
    });

    it('a manifest of a newer format is refused, not rewritten', async () => {
      const { store, prefix } = await make();
      const ms = shardStore(store, prefix);
      await ms.load();
      await store.put(ms.keys.current, new TextEncoder().encode(JSON.stringify({ format: 99, generation: 7 })));
      const fresh = shardStore(store, prefix, 4);
      await expect(fresh.load()).rejects.toBeInstanceOf(UnsupportedFormatError);
      await expect(fresh.commit(() => undefined)).rejects.toBeInstanceOf(UnsupportedFormatError);
    });
  });
}
