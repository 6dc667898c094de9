/**
 * Incremental history, against the memory store and MinIO: every committed generation — after a
 * mix of ingests (two instances), compaction, rollup, GC, period close and reopen — is rebuilt
 * from history exactly as it was committed, and restoring it puts exactly that manifest back;
 * full copies written by the previous release stay readable and mix with edit records; a
 * committer that dies between its manifest PUT and its history leaves the generations after it
 * restorable; GC keeps the window restorable and what it references, and deletes the rest.
 */
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { gcShard } from '../../src/compact/gc.ts';
import { runJob, type JobOptions } from '../../src/jobs/run.ts';
import { HistoryIncompleteError, HistoryMismatchError, NotFoundError } from '../../src/errors.ts';
import { HISTORY_GZIP_FROM } from '../../src/manifest/history.ts';
import { ShardKeys } from '../../src/manifest/keys.ts';
import { ManifestStore } from '../../src/manifest/manifest-store.ts';
import type { ManifestEdit } from '../../src/manifest/edits.ts';
import type { ShardManifest } from '../../src/manifest/schema.ts';
import { referencedKeys } from '../../src/manifest/references.ts';
import { seededRandom } from '../../src/model/deps.ts';
import { HOUR_MS } from '../../src/model/time.ts';
import { withFaults } from '../../src/store/faulty.ts';
import { StoreRefusedError } from '../../src/store/errors.ts';
import { listAll, type ObjectStore } from '../../src/store/types.ts';
import { realTimeDeps } from '../support/deps.ts';
import { addSegments, closedWithoutTotals, fakeSegment } from '../support/fixtures.ts';
import { openInstance, postBatch, TestClock, usage } from '../support/instance.ts';
import { readStoredManifest } from '../support/stored-manifest.ts';
import { gcNow } from '../support/gc-options.ts';

export interface Backend {
  store: ObjectStore;
  prefix: string;
}

/** Every manifest a PUT of `current.json` stored (a PUT that succeeded is committed), by key and generation. */
function recording(inner: ObjectStore): { store: ObjectStore; committed: Map<string, Map<number, ShardManifest>> } {
  const committed = new Map<string, Map<number, ShardManifest>>();
  const store = withFaults(inner, () => undefined);
  const put = store.put.bind(store);
  store.put = async (key, body, opts) => {
    const res = await put(key, body, opts);
    if (key.endsWith('/manifest/current.json')) {
      const m = await readStoredManifest(inner, key, body);
      let byGen = committed.get(key);
      if (byGen === undefined) committed.set(key, (byGen = new Map()));
      byGen.set(m.generation, m);
    }
    return res;
  };
  return { store, committed };
}

const FAST: JobOptions = { compact: { graceMs: 0 }, gc: { safetyAgeMs: 0, historyKeep: 10_000 }, rollup: { maxRollups: 3, graceMs: 0 } };
const patient = { maxAttempts: 1000, maxDurationMs: 120_000 };
const actor = { name: 'test', reason: 'history test' };
/** The fields a restore stamps anew; the rest is the restored generation's. */
const content = (m: ShardManifest) => {
  const { generation: _g, commit_id: _c, recent_commit_ids: _r, updated_at_ms: _u, restored_from: _f, ...rest } = m;
  return rest;
};

function shardStore(store: ObjectStore, prefix: string, seed = 1, checkpoints?: { every: number }): ManifestStore {
  return new ManifestStore({
    store,
    keys: new ShardKeys(prefix, 0, 1),
    shard: 0,
    deps: realTimeDeps(seed),
    policy: patient,
    ...(checkpoints === undefined ? {} : { checkpoints }),
  });
}

/** addSegments, with the objects' keys under the shard (where GC looks). */
function addOwnSegments(ms: ManifestStore, ...ids: string[]) {
  const segments = ids.map((id) => ({ ...fakeSegment(id), key: ms.keys.rawSegment(id), hashes_key: `${ms.keys.rawSegment(id)}.hashes` }));
  return { ...addSegments(...ids), segments };
}

async function historyKeys(store: ObjectStore, ms: ManifestStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of listAll(store, ms.keys.historyPrefix)) out.push(o.key);
  return out;
}

export function describeHistory(name: string, make: () => Promise<Backend>): void {
  describe(`incremental history: ${name}`, () => {
    it('every generation after ingests, compaction, rollup, GC, period close and reopen is rebuilt and restored exactly as committed', async () => {
      const backend = await make();
      const { store, committed } = recording(backend.store);
      const a = await openInstance(store, backend.prefix, { seed: 1, shards: 2, buckets: 4 });
      const b = await openInstance(store, backend.prefix, { seed: 2, shards: 2, buckets: 4 });
      let next = 0;
      for (let step = 0; step < 44; step++) {
        const inst = step % 3 === 0 ? b : a;
        const batch = Array.from({ length: 12 }, () => usage(next++));
        expect((await postBatch(inst.app, batch)).status).toBe(200);
        if (step % 5 === 4) await runJob(inst.db, 'compact', FAST);
        if (step % 7 === 6) await runJob(inst.db, 'rollup', FAST);
        if (step % 11 === 10) await runJob(inst.db, 'gc', FAST);
        if (step === 20) expect((await a.periods.close('acct-3', '2026-01', actor)).state).toBe('closed');
        if (step === 33) expect((await b.periods.reopen('acct-3', '2026-01', actor)).reopened).toBe(true);
      }
      await Promise.all([a.ingestor.idle(), b.ingestor.idle()]);
      for (const shard of a.db.shards) {
        const byGen = committed.get(shard.keys.current)!;
        const gens = [...byGen.keys()].sort((x, y) => x - y);
        expect(gens.length).toBeGreaterThan(40);
        expect(gens).toEqual(Array.from({ length: gens.length }, (_, i) => i + 1));
        // Records for every generation after the first, full copies only at checkpoints.
        const keys = await historyKeys(store, shard);
        const records = keys.filter((k) => k.endsWith('.edits.json')).length;
        expect(records).toBe(gens.length - 1);
        expect(keys.length - records).toBeLessThan(gens.length / 4);
        expect(await shard.history()).toEqual(gens);
        const rebuilt = await shard.readGenerations(gens);
        for (const g of gens) expect(rebuilt.get(g), `generation ${g} of shard ${shard.shard}`).toEqual(byGen.get(g));
        // One at a time, through another instance (nothing in its memory).
        for (const g of gens.filter((x) => x % 9 === 0 || x === gens.length)) expect(await b.db.shards[shard.shard]!.readGeneration(g)).toEqual(byGen.get(g));
      }
      // Restoring each generation puts exactly its manifest back, under a new generation number.
      const shard = a.db.shards[0]!;
      const byGen = committed.get(shard.keys.current)!;
      const original = [...byGen.keys()].sort((x, y) => x - y);
      for (const g of original.filter((x) => x % 4 === 1 || x === original.length)) {
        const snap = await shard.restore(g);
        expect(snap.manifest.restored_from).toBe(g);
        expect(content(snap.manifest as ShardManifest)).toEqual(content(byGen.get(g)!));
        expect(await shard.readGeneration(snap.manifest.generation)).toEqual(snap.manifest);
      }
      // Commits after a restore continue the history from it.
      expect((await postBatch(a.app, [usage(next++)])).status).toBe(200);
      await a.ingestor.idle();
      const top = (await shard.revalidate()).manifest;
      expect(await shard.readGeneration(top.generation)).toEqual(top);
    }, 120_000);

    it('full copies written before incremental history stay readable, mixed with edit records, and GC keeps what they reference', async () => {
      const { store, prefix } = await make();
      const { store: rec, committed } = recording(store);
      const old = shardStore(rec, prefix, 1);
      await old.load();
      // Generations 2..4 add old-0..old-2; 5 replaces old-0 (by nothing); 6 expires that record; 7 adds old-3.
      for (let i = 0; i < 3; i++) expect((await old.commit(addOwnSegments(old, `old-${i}`))).committed).toBe(true);
      await old.commit({
        op: 'replaceSegments',
        replacement_id: 'r1',
        at_ms: 1,
        delete_after_ms: 1,
        inputs: ['old-0'],
        outputs: [],
        justified_by: [],
        conflicts: [],
      });
      await old.commit({ op: 'expireReplacements', now_ms: 2 });
      await old.commit(addOwnSegments(old, 'old-3'));
      // What the previous release left: a full copy of every generation, no records.
      const byGen = committed.get(old.keys.current)!;
      expect(byGen.size).toBe(7);
      for (const k of await historyKeys(store, old)) await store.delete(k);
      const enc = new TextEncoder();
      for (const [g, m] of byGen) await store.put(old.keys.history(g), enc.encode(JSON.stringify(m)), { ifNoneMatch: '*' });
      const ms = shardStore(rec, prefix, 2, { every: 4 });
      await ms.load();
      for (let i = 0; i < 7; i++) expect((await ms.commit(addOwnSegments(ms, `new-${i}`))).committed).toBe(true);
      expect(await ms.history()).toEqual(Array.from({ length: 14 }, (_, i) => i + 1));
      for (let g = 1; g <= 14; g++) expect(await ms.readGeneration(g)).toEqual(byGen.get(g));
      // The first new generation replays on the last old full copy.
      expect((await ms.historyRecord(8))?.base_commit_id).toBe(byGen.get(7)!.commit_id);
      expect(await ms.historyRecord(7)).toBeNull();
      // Every object any generation names exists, and one orphan.
      for (const m of byGen.values()) for (const k of referencedKeys(m, new Set())) await store.put(k, enc.encode('x'));
      const orphan = ms.keys.rawSegment('orphan');
      await store.put(orphan, enc.encode('x'));
      const gc = (historyKeep: number) => gcShard(rec, ms, realTimeDeps(3), `${prefix}/_scratch`, gcNow({ historyKeep, maxDeletes: 1000 }));
      // Window 5..14: old-0 is named only by generation 5, an old full copy (no record says what 6 released).
      const report = await gc(10);
      expect((await ms.revalidate()).manifest.generation).toBe(14);
      // (Parts only the rewritten current.json of generations 2..7 named are orphans too.)
      expect(report.keys.filter((k) => !k.includes('/history/') && !k.includes('/manifest/parts/'))).toEqual([orphan]);
      for (let g = 5; g <= 14; g++) {
        const m = await ms.readGeneration(g);
        for (const k of referencedKeys(m, new Set())) expect(await store.head(k), `${k} of generation ${g}`).not.toBeNull();
      }
      // Generations 1..4 are out of the window and not on its chain (5 is a full copy).
      expect(await ms.history()).toEqual(Array.from({ length: 10 }, (_, i) => i + 5));
      await expect(ms.readGeneration(2)).rejects.toThrow(NotFoundError);
      // Window 6..14: nothing names old-0 any more.
      const second = await gc(9);
      expect(second.keys.filter((k) => !k.includes('/history/') && !k.includes('/manifest/parts/'))).toEqual(
        [ms.keys.rawSegment('old-0'), `${ms.keys.rawSegment('old-0')}.hashes`].sort(),
      );
      expect(await ms.history()).toEqual(Array.from({ length: 9 }, (_, i) => i + 6));
    }, 60_000);

    it('a committer that dies between its manifest PUT and its history leaves the generations after it restorable', async () => {
      const { store, prefix } = await make();
      const { store: rec, committed } = recording(store);
      let dead = false;
      // The first instance's history writes are refused from some point on: as if it died right after its PUT.
      const dying = withFaults(rec, (call) =>
        dead && call.op === 'put' && call.key.includes('/history/') ? { type: 'fail', error: new StoreRefusedError('gone') } : undefined,
      );
      const a = shardStore(dying, prefix, 1, { every: 64 });
      const b = shardStore(rec, prefix, 2, { every: 64 });
      await a.load();
      for (let i = 0; i < 3; i++) await a.commit(addSegments(`a-${i}`));
      dead = true;
      await a.commit(addSegments('a-lost')); // generation 5: committed, no history of it
      for (let i = 0; i < 4; i++) await b.commit(addSegments(`b-${i}`)); // 6..9
      const byGen = committed.get(a.keys.current)!;
      await expect(b.readGeneration(5)).rejects.toThrow(NotFoundError);
      // b saw the gap under its first record and wrote a full copy of 6: 6.. replay from there.
      expect(await store.head(b.keys.history(6))).not.toBeNull();
      expect(await store.head(b.keys.history(7))).toBeNull();
      expect(await b.history()).toEqual([1, 2, 3, 4, 6, 7, 8, 9]);
      for (const g of [1, 2, 3, 4, 6, 7, 8, 9]) expect(await b.readGeneration(g)).toEqual(byGen.get(g));
      // The same instance, its history back: its next generation is a full copy (its chain broke).
      dead = false;
      await a.revalidate();
      await a.commit(addSegments('a-back')); // 10
      expect(await store.head(a.keys.history(10))).not.toBeNull();
      dead = true;
      await a.commit(addSegments('a-lost-2')); // 11: no history
      dead = false;
      await a.commit(addSegments('a-next')); // 12: a full copy, since its own record of 11 never landed
      expect(await store.head(a.keys.history(12))).not.toBeNull();
      for (const g of [10, 12]) expect(await a.readGeneration(g)).toEqual(byGen.get(g));
      await expect(a.readGeneration(11)).rejects.toThrow(NotFoundError);
      const restored = await b.restore(12);
      expect(content(restored.manifest as ShardManifest)).toEqual(content(byGen.get(12)!));
    }, 60_000);

    it('8 instances committing concurrently leave one chain: every generation rebuilds as committed', async () => {
      const { store, prefix } = await make();
      const { store: rec, committed } = recording(store);
      const insts = Array.from({ length: 8 }, (_, i) => shardStore(rec, prefix, i + 1, { every: 16 }));
      await Promise.all(insts.map((s) => s.load()));
      await Promise.all(
        insts.map(async (s, i) => {
          for (let j = 0; j < 8; j++) expect((await s.commit(addSegments(`s${i}-${j}`))).committed).toBe(true);
        }),
      );
      const byGen = committed.get(insts[0]!.keys.current)!;
      expect(byGen.size).toBe(65);
      const gens = await insts[0]!.history();
      expect(gens).toEqual(Array.from({ length: 65 }, (_, i) => i + 1));
      const rebuilt = await insts[3]!.readGenerations(gens);
      for (const g of gens) expect(rebuilt.get(g)).toEqual(byGen.get(g));
    }, 60_000);

    it("GC deletes history outside the window except the chain its oldest generation and closed periods' snapshots need", async () => {
      const { store, prefix } = await make();
      const ms = shardStore(store, prefix, 1, { every: 8 });
      await ms.load();
      for (let i = 2; i <= 30; i++) {
        if (i === 11) expect((await ms.commit(closedWithoutTotals('acct', '2026-01'))).committed).toBe(true);
        else expect((await ms.commit(addSegments(`s-${i}`))).committed).toBe(true);
      }
      const snapshotGen = ms.peek()!.manifest.periods[0]!.generation!;
      expect(snapshotGen).toBe(10);
      const report = await gcShard(store, ms, realTimeDeps(2), `${prefix}/_scratch`, gcNow({ historyKeep: 5, maxDeletes: 1000 }));
      // Window 26..30; its chain 24 (full copy), 25; the snapshot's 10 down to 8 (full copy).
      const kept = [ms.keys.history(8), ms.keys.history(24), ...[8, 9, 10, 24, 25, 26, 27, 28, 29, 30].map((g) => ms.keys.historyRecord(g))];
      expect(await historyKeys(store, ms)).toEqual(kept.sort());
      // 1.json, 16.json, records 2..7 and 11..23; besides them, the parts no kept full copy names
      expect(report.keys.filter((k) => !k.includes('/manifest/parts/'))).toHaveLength(21);
      expect(await ms.history()).toEqual([8, 9, 10, 24, 25, 26, 27, 28, 29, 30]);
      for (const g of [8, 9, 10, 24, 25, 26, 27, 28, 29, 30]) expect((await ms.readGeneration(g)).generation).toBe(g);
      await expect(ms.readGeneration(23)).rejects.toThrow(NotFoundError);
    });

    it('GC keeps generations restorable only while they were current within the time window: a segment replaced 30 h ago goes, one replaced 1 h ago stays', async () => {
      const { store, prefix } = await make();
      const clock = new TestClock();
      const ms = new ManifestStore({
        store,
        keys: new ShardKeys(prefix, 0, 1),
        shard: 0,
        deps: { clock, random: seededRandom(4) },
        policy: patient,
        checkpoints: { every: 4 },
      });
      await ms.load();
      const enc = new TextEncoder();
      const replace = (id: string, at: number): ManifestEdit => ({
        op: 'replaceSegments',
        replacement_id: `r-${id}`,
        at_ms: at,
        delete_after_ms: at,
        inputs: [id],
        outputs: [],
        justified_by: [],
        conflicts: [],
      });
      for (const id of ['a', 'b', 'c']) expect((await ms.commit(addOwnSegments(ms, id))).committed).toBe(true); // 2..4
      for (const id of ['a', 'b', 'c', 'd']) await store.put(ms.keys.rawSegment(id), enc.encode('x'));
      await ms.commit(replace('a', clock.now())); // 5: a is named only by 2..4
      await ms.commit({ op: 'expireReplacements', now_ms: clock.now() }); // 6
      clock.advance(29 * HOUR_MS);
      await ms.commit(replace('b', clock.now())); // 7: b is named by 2..6
      await ms.commit({ op: 'expireReplacements', now_ms: clock.now() }); // 8
      clock.advance(HOUR_MS);
      await ms.commit(addOwnSegments(ms, 'd')); // 9
      const gc = (hours: number, dryRun: boolean) =>
        gcShard(store, ms, { clock, random: seededRandom(5) }, `${prefix}/_scratch`, {
          safetyAgeMs: 0,
          historyKeep: 50,
          historyKeepMs: hours * HOUR_MS,
          maxDeletes: 1000,
          dryRun,
        });
      const data = (keys: string[]) => keys.filter((k) => k.includes('/segments/'));
      // 48 h: generations 2..4 were current 30 h ago: a stays.
      expect(data((await gc(48, true)).keys)).toEqual([]);
      // 24 h: 6 was current until 7 was committed (1 h ago), 5 only until 6 was (30 h ago): the
      // window is 6..9, and a (named by 2..4 only) goes; b (named by 6) stays.
      const report = await gc(24, false);
      expect(data(report.keys)).toEqual([ms.keys.rawSegment('a')]);
      expect(await store.head(ms.keys.rawSegment('a'))).toBeNull();
      expect(await store.head(ms.keys.rawSegment('b'))).not.toBeNull();
      for (const g of [6, 7, 8, 9]) {
        const m = await ms.readGeneration(g);
        for (const k of referencedKeys(m, new Set()))
          if (k.includes('/segments/') && !k.endsWith('.hashes')) expect(await store.head(k), `${k} of generation ${g}`).not.toBeNull();
      }
      expect((await ms.restore(6)).manifest.segments.map((x) => x.id)).toEqual(['b', 'c']);
    });

    it('history objects of 2 KiB or more are gzip members of their JSON (gunzip reads them), smaller ones plain; a damaged one is refused, never replayed', async () => {
      const { store, prefix } = await make();
      const ms = shardStore(store, prefix, 1, { every: 4 });
      await ms.load();
      const big = Array.from({ length: 12 }, (_, i) => `b-${i}`);
      await ms.commit(addSegments(...big)); // 2: a record of 12 entries
      for (let i = 0; i < 6; i++) await ms.commit(addSegments(`s-${i}`)); // 3..8
      const bodyOf = async (key: string) => {
        const got = await store.get(key);
        if (got === null || got.notModified) throw new Error(`${key} missing`);
        return got.body;
      };
      const ids = (m: { segments: readonly { id: string }[] }) => m.segments.map((x) => x.id);
      const record2 = await bodyOf(ms.keys.historyRecord(2));
      expect(record2.length).toBeLessThan(HISTORY_GZIP_FROM);
      expect(JSON.parse(gunzipSync(record2).toString('utf8'))).toMatchObject({ format: 1, generation: 2, edits: [{ op: 'addRawSegments' }] });
      expect(JSON.parse(gunzipSync(record2).toString('utf8')).edits[0].segments).toHaveLength(12);
      const record3 = await bodyOf(ms.keys.historyRecord(3));
      expect(JSON.parse(new TextDecoder().decode(record3))).toMatchObject({ generation: 3, edits: [{ segments: [{ id: 's-0' }] }] });
      const copy4 = JSON.parse(gunzipSync(await bodyOf(ms.keys.history(4))).toString('utf8'));
      expect(copy4.generation).toBe(4);
      expect(ids(copy4)).toEqual([...big, 's-0', 's-1']);
      expect(JSON.parse(new TextDecoder().decode(await bodyOf(ms.keys.history(1)))).generation).toBe(1); // empty: plain
      // A damaged full copy is skipped: generation 5 replays from generation 1's copy instead.
      const copy = new Uint8Array(await bodyOf(ms.keys.history(4)));
      copy[copy.length - 6] = copy[copy.length - 6]! ^ 0x01; // the trailer's length
      await store.delete(ms.keys.history(4));
      await store.put(ms.keys.history(4), copy);
      expect(ids(await ms.readGeneration(5))).toEqual([...big, 's-0', 's-1', 's-2']);
      // One flipped byte inside record 2's DEFLATE stream: refused, and so is everything that
      // replays through it; generation 8's full copy still reads.
      const damaged = new Uint8Array(record2);
      damaged[20] = damaged[20]! ^ 0x40;
      await store.delete(ms.keys.historyRecord(2));
      await store.put(ms.keys.historyRecord(2), damaged);
      await expect(ms.readGeneration(2)).rejects.toThrow(HistoryIncompleteError);
      await expect(ms.readGeneration(5)).rejects.toThrow(HistoryIncompleteError);
      await expect(ms.restore(2)).rejects.toThrow(HistoryIncompleteError);
      expect(ids(await ms.readGeneration(8))).toEqual([...big, 's-0', 's-1', 's-2', 's-3', 's-4', 's-5']);
    });

    it('a record that does not replay to what was committed is refused, never restored', async () => {
      const { store, prefix } = await make();
      const ms = shardStore(store, prefix, 1, { every: 64 });
      await ms.load();
      for (let i = 0; i < 4; i++) await ms.commit(addSegments(`s-${i}`));
      const r = (await ms.historyRecord(3))!;
      const forged = { ...r, edits: [addSegments('forged')] };
      await store.delete(ms.keys.historyRecord(3));
      await store.put(ms.keys.historyRecord(3), new TextEncoder().encode(JSON.stringify(forged)));
      await expect(ms.readGeneration(3)).rejects.toThrow(HistoryMismatchError);
      await expect(ms.readGeneration(5)).rejects.toThrow(HistoryMismatchError);
      await expect(ms.restore(5)).rejects.toThrow(HistoryMismatchError);
      expect((await ms.readGeneration(2)).segments.map((s) => s.id)).toEqual(['s-0']);
    });
  });
}
