/**
 * The two-level manifest (run on the memory store and MinIO): settled months live in immutable parts named by
 * their hash, current.json keeps the recent entries and the references. What a reader sees is
 * the same whole manifest; what is stored stays small; parts are written only when they change,
 * before the commit that names them; GC keeps every part current.json or kept history needs.
 */
import { describe, expect, it } from 'vitest';
import { gcShard } from '../../src/compact/gc.ts';
import { ManifestCorruptError } from '../../src/errors.ts';
import { decodeStored, encodeManifest } from '../../src/manifest/codec.ts';
import { unpackHistory } from '../../src/manifest/history.ts';
import type { EditOf } from '../../src/manifest/edits.ts';
import { ShardKeys } from '../../src/manifest/keys.ts';
import { ManifestStore } from '../../src/manifest/manifest-store.ts';
import { emptyManifest, type RawSegmentEntry, type ShardManifest } from '../../src/manifest/schema.ts';
import { seededRandom, type Deps } from '../../src/model/deps.ts';
import { ConflictError, ObjectNotFoundError, StoreRefusedError } from '../../src/store/errors.ts';
import { FaultPlan, withFaults } from '../../src/store/faulty.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { fakeSegment } from '../support/fixtures.ts';
import { gcNow } from '../support/gc-options.ts';

const DAY = 86_400_000;
/** The commits' clock: November 15, 2026; an entry settles one day after its UTC day of ingestion ended. */
const NOW = Date.UTC(2026, 10, 15);
/** The running test's database prefix. */
let prefix = 'db';

function deps(seed: number, start = NOW): Deps {
  let t = start;
  return { clock: { now: () => (t += 1), sleep: async (ms) => void (t += ms) }, random: seededRandom(seed) };
}

function shardStore(store: ObjectStore, seed = 1, start = NOW): ManifestStore {
  return new ManifestStore({ store, keys: new ShardKeys(prefix, 0, 1), shard: 0, deps: deps(seed, start), checkpoints: { every: 8 } });
}

/**
 * A segment whose data is in the UTC month `month` (0-based, 2026) on day `day`, ingested then.
 * November 15 (the clock's day) is recent; anything ingested before November 14 is settled.
 */
function seg(id: string, month: number, day = 3): RawSegmentEntry {
  const ts = Date.UTC(2026, month, day);
  return {
    ...fakeSegment(id),
    key: `${prefix}/shards/00/segments/raw/${id}.useg`,
    hashes_key: undefined,
    min_ts: ts,
    max_ts: ts + DAY / 2,
    min_ingested: ts,
    max_ingested: ts + DAY / 2,
  } as RawSegmentEntry;
}
/** Ingested now: stays in current.json. */
const recent = (id: string): RawSegmentEntry => seg(id, 10, 15);
const noHashes = (s: RawSegmentEntry): RawSegmentEntry => {
  const { hashes_key: _h, ...rest } = s;
  return rest;
};
const added = (...segments: RawSegmentEntry[]): EditOf<'addRawSegments'> => ({
  op: 'addRawSegments',
  segments: segments.map(noHashes),
  usage_months: [],
  adjustments: [],
  at_ms: 1,
});

async function stored(store: ObjectStore, ms: ManifestStore) {
  const res = await store.get(ms.keys.current);
  if (res === null || res.notModified) throw new Error('no current.json');
  const body = decodeStored(res.body, ms.keys.current);
  if (body.kind !== 'split') throw new Error('not split');
  return { bytes: res.body.byteLength, stored: body.stored };
}

async function partKeys(store: ObjectStore, ms: ManifestStore): Promise<string[]> {
  return (await store.list(ms.keys.partsPrefix)).items.map((i) => i.key).sort();
}

const ids = (m: { segments: readonly { id: string }[] }) => m.segments.map((s) => s.id);

export interface Backend {
  store: ObjectStore;
  prefix: string;
}

export function describeParts(name: string, make: () => Promise<Backend>): void {
  const newStore = async (): Promise<ObjectStore> => {
    const b = await make();
    prefix = b.prefix;
    return b.store;
  };
  describe(`two-level manifest: ${name}`, () => {
    it('stores settled months in parts and reads back exactly the manifest that was committed', async () => {
      const store = await newStore();
      const ms = shardStore(store);
      // Interleaved months, so the order runs matter: Jan, Nov (recent), Feb, Jan, Nov.
      await ms.commit(added(seg('a', 0), recent('b'), seg('c', 1)));
      await ms.commit(added(seg('d', 0), recent('e')));
      const committed = ms.peek()!.manifest;
      const { stored: s } = await stored(store, ms);
      expect(s.format).toBe(2);
      expect(s.parts.map((p) => [p.month, p.segments, p.rows])).toEqual([
        ['2026-01', 2, 2],
        ['2026-02', 1, 1],
      ]);
      expect(ids(s)).toEqual(['b', 'e']);
      expect(await partKeys(store, ms)).toHaveLength(2 + 1); // Jan twice (rewritten by the second commit), Feb once
      const fresh = shardStore(store, 2);
      const loaded = (await fresh.load()).manifest;
      expect(ids(loaded)).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(loaded).toEqual(committed);
      expect(await fresh.readGeneration(3)).toEqual(committed);
      expect(await fresh.readGeneration(2)).toEqual(await ms.readGeneration(2));
    });

    it('keeps current.json small as history grows: settled months move to parts, recent ones stay inline', async () => {
      const store = await newStore();
      const ms = shardStore(store);
      const sizes: number[] = [];
      let n = 0;
      for (let month = 0; month < 9; month++) {
        for (let c = 0; c < 4; c++) {
          await ms.commit(added(...Array.from({ length: 50 }, () => seg(`s${n++}`, month, 1 + (n % 27)))));
        }
        sizes.push((await stored(store, ms)).bytes);
      }
      await ms.commit(added(recent('recent')));
      const whole = new TextEncoder().encode(JSON.stringify(ms.peek()!.manifest)).byteLength;
      const { bytes, stored: s } = await stored(store, ms);
      expect(ms.peek()!.manifest.segments).toHaveLength(1801);
      expect(s.segments.map((x) => x.id)).toEqual(['recent']);
      expect(s.parts.map((p) => p.segments)).toEqual(Array(9).fill(200));
      // 1,801 entries are ~900 KB whole; current.json holds one entry, nine references and the order runs.
      expect(whole).toBeGreaterThan(500_000);
      expect(bytes).toBeLessThan(8_000);
      expect(Math.max(...sizes)).toBeLessThan(8_000);
    });

    it('chunks unsettled entries into recent parts once a chunk is full: current.json keeps fewer than a chunk, a commit writes a part only when one fills', async () => {
      const store = await newStore();
      const plan = new FaultPlan();
      const chunked = (st: ObjectStore, seed: number) =>
        new ManifestStore({ store: st, keys: new ShardKeys(prefix, 0, 1), shard: 0, deps: deps(seed), checkpoints: { every: 8 }, parts: { recentChunk: 4 } });
      const ms = chunked(withFaults(store, plan.injector), 1);
      const partPuts = () => plan.calls.filter((c) => c.op === 'put' && c.key.startsWith(ms.keys.partsPrefix)).length;
      // A settled month between recent entries, so the order runs interleave three kinds of source.
      await ms.commit(added(recent('r1'), seg('jan', 0), recent('r2'), recent('r3')));
      expect((await stored(store, ms)).stored.format).toBe(2); // no chunk yet: readable by the previous build
      expect(partPuts()).toBe(1); // January
      await ms.commit(added(recent('r4')));
      let s = (await stored(store, ms)).stored;
      expect(s.format).toBe(3);
      expect(s.parts.map((p) => [p.month, p.segments])).toEqual([
        ['2026-01', 1],
        ['recent-0', 4],
      ]);
      expect(ids(s)).toEqual([]);
      expect(partPuts()).toBe(2);
      for (const id of ['r5', 'r6', 'r7']) await ms.commit(added(recent(id)));
      expect(partPuts()).toBe(2); // the full chunk is reused; r5-r7 stay inline
      expect(ids((await stored(store, ms)).stored)).toEqual(['r5', 'r6', 'r7']);
      await ms.commit(added(recent('r8'), recent('r9')));
      s = (await stored(store, ms)).stored;
      expect(partPuts()).toBe(3);
      expect(s.parts.map((p) => p.month)).toEqual(['2026-01', 'recent-0', 'recent-1']);
      expect(ids(s)).toEqual(['r9']);
      const committed = ms.peek()!.manifest;
      const fresh = chunked(store, 2);
      expect((await fresh.load()).manifest).toEqual(committed);
      expect(ids(committed)).toEqual(['r1', 'jan', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9']);
      for (let g = 2; g <= committed.generation; g++) expect(await fresh.readGeneration(g)).toEqual(await ms.readGeneration(g));
      // An entry of the first chunk leaving shifts the chunks after it: written again, once.
      const before = partPuts();
      await ms.commit({
        op: 'replaceSegments',
        replacement_id: 'rep-1',
        at_ms: 2,
        delete_after_ms: 3,
        inputs: ['r2', 'r3'],
        outputs: [{ ...noHashes(recent('c1')), compacted: true }],
        justified_by: [],
        conflicts: [],
        quarantine: [],
      });
      s = (await stored(store, ms)).stored;
      expect(s.parts.map((p) => [p.month, p.segments])).toEqual([
        ['2026-01', 1],
        ['recent-0', 4],
        ['recent-1', 4],
      ]);
      expect(ids(s)).toEqual([]);
      expect(partPuts() - before).toBe(2);
      const after = ms.peek()!.manifest;
      expect(ids(after)).toEqual(['r1', 'jan', 'r4', 'r5', 'r6', 'r7', 'r8', 'r9', 'c1']);
      expect((await chunked(store, 3).load()).manifest).toEqual(after);
    });

    it('writes a part only when its month changed, always before the current.json that names it', async () => {
      const store = await newStore();
      const plan = new FaultPlan();
      const ms = shardStore(withFaults(store, plan.injector));
      await ms.commit(added(seg('j1', 0), seg('f1', 1), seg('m1', 2)));
      const puts = () => plan.calls.filter((c) => c.op === 'put');
      const partPuts = () => puts().filter((c) => c.key.startsWith(ms.keys.partsPrefix));
      const before = partPuts().length;
      expect(before).toBe(3);
      // A recent segment: current.json only.
      await ms.commit(added(recent('now1')));
      await ms.commit(added(recent('now2')));
      expect(partPuts()).toHaveLength(3);
      // A late segment of February: that month's part only, then current.json.
      const at = puts().length;
      await ms.commit(added(seg('f2', 1)));
      const after = puts().slice(at);
      expect(after.filter((c) => c.key.startsWith(ms.keys.partsPrefix))).toHaveLength(1);
      const iPart = after.findIndex((c) => c.key.startsWith(ms.keys.partsPrefix));
      const iCurrent = after.findIndex((c) => c.key === ms.keys.current);
      expect(iPart).toBeLessThan(iCurrent);
      expect(ms.partStats.written).toBe(4);
      // A fresh reader fetches each part once; its next commit of a recent segment rewrites none.
      const reader = shardStore(withFaults(store, plan.injector), 2);
      await reader.load();
      expect(reader.partStats.fetched).toBe(3);
      await reader.commit(added(recent('now3')));
      expect(reader.partStats.written).toBe(0);
      expect(partPuts()).toHaveLength(4);
    });

    it('a late event stays in current.json until its day of ingestion settles, then moves into its month part', async () => {
      const store = await newStore();
      const ms = shardStore(store);
      await ms.commit(added(seg('j1', 0)));
      const late = { ...seg('late', 0), min_ingested: NOW, max_ingested: NOW };
      await ms.commit(added(late));
      expect(ms.partStats.written).toBe(1);
      expect(ids((await stored(store, ms)).stored)).toEqual(['late']);
      // Two days on, the next commit (of anything) files it under January: one part written.
      const later = shardStore(store, 2, NOW + 2 * DAY);
      await later.commit(added({ ...recent('now1'), min_ingested: NOW + 2 * DAY, max_ingested: NOW + 2 * DAY }));
      expect(later.partStats.written).toBe(1);
      const { stored: s } = await stored(store, later);
      expect(ids(s)).toEqual(['now1']);
      expect(s.parts.map((p) => [p.month, p.segments])).toEqual([['2026-01', 2]]);
      expect(ids((await shardStore(store, 3).load()).manifest)).toEqual(['j1', 'late', 'now1']);
    });

    it('a crash between the part PUT and the current.json PUT leaves no dangling reference; GC deletes the orphan part', async () => {
      const store = await newStore();
      const plan = new FaultPlan();
      const ms = shardStore(withFaults(store, plan.injector));
      await ms.commit(added(seg('j1', 0)));
      const live = await partKeys(store, ms);
      expect(live).toHaveLength(1);
      plan.add('put', 'current.json', { type: 'fail', error: new StoreRefusedError('process died') });
      await expect(ms.commit(added(seg('j2', 0)))).rejects.toThrow('process died');
      const all = await partKeys(store, ms);
      expect(all).toHaveLength(2);
      const orphan = all.find((k) => !live.includes(k))!;
      // What is stored is the last commit, whole, and names only its own part.
      const fresh = shardStore(store, 2);
      expect(ids((await fresh.load()).manifest)).toEqual(['j1']);
      expect((await stored(store, fresh)).stored.parts.map((p) => fresh.keys.part(p.hash))).toEqual(live);
      const report = await gcShard(store, fresh, deps(3), `${prefix}/_scratch`, gcNow());
      expect(report.keys).toEqual([orphan]);
      expect(await partKeys(store, ms)).toEqual(live);
      expect(ids((await shardStore(store, 4).load()).manifest)).toEqual(['j1']);
    });

    it('full copies are whole manifests: GC keeps only the parts current.json names, and every kept generation still restores', async () => {
      const store = await newStore();
      const ms = shardStore(store);
      // Generation 2: January in part P1 (a checkpoint every 8 generations: 1, 8, 16).
      await ms.commit(added(seg('j1', 0)));
      const p1 = await partKeys(store, ms);
      // Generations 3..9: January changes (P1 is then named by no current.json), then recent commits.
      await ms.commit(added(seg('j2', 0)));
      for (let i = 0; i < 6; i++) await ms.commit(added(recent(`now${i}`)));
      expect(ms.peek()!.manifest.generation).toBe(9);
      // The full copy of 8 names no part: it is the whole manifest.
      const got = await store.get(ms.keys.history(8));
      if (got === null || got.notModified) throw new Error('no full copy of generation 8');
      const copy8 = decodeStored(unpackHistory(got.body), 'copy 8');
      expect(copy8.kind).toBe('whole');
      const gc = (historyKeep: number) => gcShard(store, ms, deps(5), `${prefix}/_scratch`, gcNow({ historyKeep }));
      await gc(8);
      const afterFirst = await partKeys(store, ms);
      expect(afterFirst).toHaveLength(1);
      expect(afterFirst).not.toEqual(p1);
      expect(ids(await ms.readGeneration(2))).toEqual(['j1']);
      // January changes again: only current.json's part is kept; generation 8 restores from its copy.
      for (let i = 0; i < 2; i++) await ms.commit(added(seg(`j${3 + i}`, 0)));
      const current = (await stored(store, ms)).stored.parts.map((p) => ms.keys.part(p.hash));
      await gc(4);
      expect(await partKeys(store, ms)).toEqual(current);
      expect(ids(await ms.readGeneration(8))).toEqual(['j1', 'j2', 'now0', 'now1', 'now2', 'now3', 'now4']);
      for (let i = 0; i < 8; i++) await ms.commit(added(recent(`later${i}`)));
      await gc(2);
      expect(await partKeys(store, ms)).toEqual(current);
      expect((await shardStore(store, 6).load()).manifest).toEqual(ms.peek()!.manifest);
    });

    it('a full copy written in the background after GC listed history still restores its generation (it names no part GC may delete)', async () => {
      const store = await newStore();
      // Instance A's history PUTs wait until released: a slow background write.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const held: ObjectStore = Object.create(store);
      held.put = async (key, body, opts) => {
        if (key.includes('/manifest/history/')) await gate;
        return store.put(key, body, opts);
      };
      const b = shardStore(store, 1);
      await b.commit(added(seg('j1', 0))); // generation 2: January in part P1
      const p1 = await partKeys(store, b);
      for (let i = 0; i < 5; i++) await b.commit(added(recent(`r${i}`))); // 3..7
      const a = shardStore(held, 2);
      await a.load();
      let background!: Promise<unknown>;
      await a.commit(added(recent('x')), { history: (p) => void (background = p) }); // 8: a full copy is due; current.json reuses P1
      await b.load();
      await b.commit(added(seg('j2', 0))); // 9: January in a new part, P1 named by no current.json
      const report = await gcShard(store, shardStore(store, 3), deps(4), `${prefix}/_scratch`, gcNow());
      // P1 is gone (old enough, named by no current.json and by no listed full copy).
      expect(p1).toHaveLength(1);
      expect(report.keys).toContain(p1[0]);
      release();
      await background;
      // The late full copy of 8 is readable by itself: it names no part (P1 is gone).
      const late = await store.get(b.keys.history(8));
      if (late === null || late.notModified) throw new Error('no full copy of generation 8');
      expect(decodeStored(unpackHistory(late.body), 'copy 8').kind).toBe('whole');
      const reader = shardStore(store, 5);
      expect(ids(await reader.readGeneration(8))).toEqual(['j1', 'r0', 'r1', 'r2', 'r3', 'r4', 'x']);
      // A later GC with a small window may take copy 8 as the base of a chain: it still reads.
      for (let i = 0; i < 3; i++) await b.commit(added(recent(`s${i}`)));
      await gcShard(store, shardStore(store, 6), deps(7), `${prefix}/_scratch`, gcNow({ historyKeep: 3 }));
      const later = shardStore(store, 8);
      for (const g of [10, 11, 12]) expect((await later.readGeneration(g)).generation).toBe(g);
    });

    it('a part PUT answered 409 (a conditional write in flight) or 404 is checked and written again: current.json never names a missing part', async () => {
      const store = await newStore();
      const plan = new FaultPlan();
      const ms = shardStore(withFaults(store, plan.injector));
      plan.add('put', /\/manifest\/parts\//, { type: 'fail', error: new ConflictError('conditional write in progress') }, 1);
      plan.add('put', /\/manifest\/parts\//, { type: 'fail', error: new ObjectNotFoundError('no such key') }, 1);
      await ms.commit(added(seg('j1', 0), recent('now1')));
      expect(plan.fired).toHaveLength(2);
      // Every part current.json names is stored, and a fresh reader loads the whole manifest.
      const named = (await stored(store, ms)).stored.parts.map((p) => ms.keys.part(p.hash));
      expect(named).toHaveLength(1);
      for (const key of named) expect(await store.head(key)).not.toBeNull();
      expect(ids((await shardStore(store, 2).load()).manifest)).toEqual(['j1', 'now1']);
    });

    it('restore puts an older generation back with parts of its own', async () => {
      const store = await newStore();
      const ms = shardStore(store);
      await ms.commit(added(seg('j1', 0), recent('now1')));
      await ms.commit(added(seg('j2', 0)));
      const g2 = await ms.readGeneration(2);
      const restored = await ms.restore(2);
      expect(restored.manifest.generation).toBe(4);
      expect(ids(restored.manifest)).toEqual(['j1', 'now1']);
      const fresh = (await shardStore(store, 2).load()).manifest;
      expect({ ...fresh, generation: 0, commit_id: '', recent_commit_ids: [], updated_at_ms: 0, restored_from: undefined }).toEqual({
        ...g2,
        generation: 0,
        commit_id: '',
        recent_commit_ids: [],
        updated_at_ms: 0,
        restored_from: undefined,
      });
      expect(fresh.restored_from).toBe(2);
      expect(ids(await shardStore(store, 3).readGeneration(4))).toEqual(['j1', 'now1']);
    });

    it('a shard whose current.json names a missing part fails closed until a generation is restored', async () => {
      const store = await newStore();
      const ms = shardStore(store);
      await ms.commit(added(seg('j1', 0)));
      await ms.commit(added(recent('now1')));
      for (const k of await partKeys(store, ms)) await store.delete(k);
      const fresh = shardStore(store, 2);
      const err = await fresh.load().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ManifestCorruptError);
      expect((err as ManifestCorruptError).code).toBe('manifest_corrupt');
      await expect(fresh.commit(added(recent('now2')))).rejects.toThrow(ManifestCorruptError);
      // Generation 1 (empty) is a full copy without parts.
      await fresh.restore(1);
      expect((await fresh.commit(added(recent('now2')))).committed).toBe(true);
    });

    it('writes format 5 while a raw entry is lean (its object may be raw format v2), format 2 again once none is', async () => {
      const store = await newStore();
      const ms = shardStore(store);
      await ms.commit(added(seg('jan', 0), recent('now')));
      expect((await stored(store, ms)).stored.format).toBe(2);
      // Settled in a part, not inline: the whole manifest decides the format, not current.json's own entries.
      await ms.commit(added({ ...seg('lean', 0), compacted: true, hashes: 'none' }));
      const s = (await stored(store, ms)).stored;
      // Format 5, not 4: a build that reads format 4 would refuse a v2 segment as corrupt.
      expect(s.format).toBe(5);
      expect(ids(s)).toEqual(['now']);
      const fresh = shardStore(store, 2);
      const loaded = (await fresh.load()).manifest;
      expect(loaded.segments.find((x) => x.id === 'lean')?.hashes).toBe('none');
      expect(loaded).toEqual(ms.peek()!.manifest);
      await ms.commit({
        op: 'replaceSegments',
        replacement_id: 'rep-lean',
        at_ms: 2,
        delete_after_ms: 3,
        inputs: ['lean'],
        outputs: [{ ...noHashes(seg('full', 0)), compacted: true }],
        justified_by: [],
        conflicts: [],
        quarantine: [],
      });
      expect((await stored(store, ms)).stored.format).toBe(2);
    });

    it('writes format 6 while a raw entry is in row groups (directory_bytes), format 5 once only ungrouped lean ones are, and reads the field back', async () => {
      const store = await newStore();
      const ms = shardStore(store);
      await ms.commit(added(seg('jan', 0), recent('now'), { ...seg('lean', 0), compacted: true, hashes: 'none' }));
      expect((await stored(store, ms)).stored.format).toBe(5);
      await ms.commit(added({ ...seg('grouped', 0), compacted: true, hashes: 'none', directory_bytes: 77 }));
      // Format 6, not 5: a build that reads format 5 would read the grouped object as one container and fail as corrupt.
      expect((await stored(store, ms)).stored.format).toBe(6);
      const loaded = (await shardStore(store, 2).load()).manifest;
      expect(loaded.segments.find((x) => x.id === 'grouped')?.directory_bytes).toBe(77);
      expect(loaded.segments.find((x) => x.id === 'lean')?.directory_bytes).toBeUndefined();
      expect(loaded).toEqual(ms.peek()!.manifest);
      await ms.commit({
        op: 'replaceSegments',
        replacement_id: 'rep-grouped',
        at_ms: 2,
        delete_after_ms: 3,
        inputs: ['grouped'],
        outputs: [{ ...seg('single', 0), compacted: true, hashes: 'none' }],
        justified_by: [],
        conflicts: [],
        quarantine: [],
      });
      expect((await stored(store, ms)).stored.format).toBe(5);
    });

    it('writes format 6 for an entry in row groups inside the dedupe window (hashes after the directory, no lean entry listed), and reads the field back', async () => {
      const store = await newStore();
      const ms = shardStore(store);
      await ms.commit(added(seg('jan', 0), recent('now')));
      expect((await stored(store, ms)).stored.format).toBeLessThan(5);
      await ms.commit(added({ ...seg('windowed', 0), compacted: true, filter_bytes: 40, directory_bytes: 55 }));
      // Its groups are raw format v2 and its directory is not one container: builds reading format 5 or older must refuse it.
      expect((await stored(store, ms)).stored.format).toBe(6);
      const loaded = (await shardStore(store, 2).load()).manifest;
      const w = loaded.segments.find((x) => x.id === 'windowed');
      expect([w?.hashes, w?.filter_bytes, w?.directory_bytes]).toEqual([undefined, 40, 55]);
      expect(loaded).toEqual(ms.peek()!.manifest);
    });

    it('reads a format-1 current.json and its history, and migrates it to parts on the next commit', async () => {
      const store = await newStore();
      const keys = new ShardKeys(prefix, 0, 1);
      const old: ShardManifest = {
        ...emptyManifest(0, '01OLD0000000000000000000001', NOW - DAY),
        segments: [seg('j1', 0), seg('f1', 1), recent('now1')].map(noHashes),
      };
      const body = encodeManifest(old);
      await store.put(keys.current, body, { ifNoneMatch: '*' });
      await store.put(keys.history(1), body, { ifNoneMatch: '*' });
      const ms = shardStore(store);
      expect((await ms.load()).manifest).toEqual(old);
      const first = await store.get(keys.current);
      expect(first !== null && !first.notModified && decodeStored(first.body, keys.current).kind).toBe('whole');
      await ms.commit(added(recent('now2')));
      const { stored: s } = await stored(store, ms);
      expect(s.parts.map((p) => p.month)).toEqual(['2026-01', '2026-02']);
      expect(ids(s)).toEqual(['now1', 'now2']);
      const fresh = shardStore(store, 2);
      expect(ids((await fresh.load()).manifest)).toEqual(['j1', 'f1', 'now1', 'now2']);
      expect(await fresh.readGeneration(1)).toEqual(old);
      expect(ids(await fresh.readGeneration(2))).toEqual(['j1', 'f1', 'now1', 'now2']);
    });
  });
}
