/**
 * Segments written before hashes were appended to the segment object list a `hashes_key`
 * sidecar. They must keep working everywhere: dedupe warms from the sidecar, queries read the
 * whole object, compaction reads both and writes the new single-object form, GC keeps the
 * sidecar while the segment is referenced and collects it with the segment afterwards.
 */
import { describe, expect, it } from 'vitest';
import { referencedKeys } from '../../src/compact/gc.ts';
import { runJob } from '../../src/jobs/run.ts';
import { rawSegmentsAdded } from '../../src/manifest/edits.ts';
import { bucketOf, shardOfAccount } from '../../src/model/bucket.ts';
import { validateEvent } from '../../src/model/validate.ts';
import { splitRawSegmentObject, writeRawSegment } from '../../src/objects/segment-objects.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { openInstance, postBatch, storedEvents, usage } from '../support/instance.ts';

describe('raw segments with a legacy hashes sidecar', () => {
  it('dedupe, queries, compaction and GC handle them', async () => {
    const store = new MemoryStore();
    const writer = await openInstance(store, 'legacy', { shards: 1, buckets: 4 });
    const wire = Array.from({ length: 50 }, (_, i) => usage(i, { account_id: 'acct-legacy' }));
    const now = writer.clock.now();
    const events = wire.map((w) => {
      const v = validateEvent(w, now);
      if (!v.ok) throw new Error(v.reason);
      return v.event;
    }) as UsageEvent[];
    const shard = writer.db.shards[shardOfAccount('acct-legacy', writer.db.layout)]!;
    // Written the old way: the segment and its hashes as two objects, the entry naming both.
    const written = await writeRawSegment(store, shard.keys, writer.db.deps, events, { bucketOf: (a) => bucketOf(a, writer.db.info.bucket_count) });
    const key = shard.keys.rawSegment('legacy-1');
    const hashesKey = `${key}.hashes`;
    const whole = await store.get(written.key);
    if (whole === null || whole.notModified) throw new Error('segment object missing');
    const { segment, hashes } = splitRawSegmentObject(whole.body);
    await store.put(key, segment, { ifNoneMatch: '*' });
    await store.put(hashesKey, hashes, { ifNoneMatch: '*' });
    await store.delete(written.key);
    const legacy = { ...written, id: 'legacy-1', key, hashes_key: hashesKey };
    expect((await shard.commit(rawSegmentsAdded([legacy], events, now))).committed).toBe(true);

    // A cold instance warms its dedupe index from the sidecar: a retry is all duplicates.
    const cold = await openInstance(store, 'legacy', { seed: 2 });
    const retry = await postBatch(cold.app, wire);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({ accepted: 0, duplicates: 50, conflicts: 0 });
    // New events land in single-object segments next to it; queries read both kinds.
    const fresh = Array.from({ length: 20 }, (_, i) => usage(1000 + i, { account_id: 'acct-legacy' }));
    expect((await postBatch(cold.app, fresh)).body.accepted).toBe(20);
    const want = [...wire, ...fresh].reduce((s, e) => s + BigInt(e.quantity as number), 0n);
    const total = async () => {
      const r = await cold.engine.aggregate({ accountId: 'acct-legacy', from: 0, to: 2 ** 52, groupBy: [], filters: [], metrics: ['sum', 'count'], source: 'raw', orderBy: [], limit: undefined });
      return [BigInt(r.lines[0]!.quantity as string), r.lines[0]!.count];
    };
    expect(await total()).toEqual([want, 70]);
    const live = (await shard.revalidate()).manifest.segments;
    expect(live.filter((s) => s.hashes_key === undefined)).toHaveLength(1);

    // GC keeps the sidecar while its segment is listed.
    const refs = new Set<string>();
    referencedKeys((await shard.revalidate()).manifest, refs);
    expect(refs.has(hashesKey)).toBe(true);
    await runJob(cold.db, 'gc', { gc: { safetyAgeMs: 0 } });
    expect(await store.head(hashesKey)).not.toBeNull();

    // Compaction reads both kinds and writes single objects (no sidecar); totals unchanged.
    await runJob(cold.db, 'compact', { compact: { graceMs: 0 } });
    const after = (await shard.revalidate()).manifest.segments;
    expect(after.every((s) => s.compacted === true && s.hashes_key === undefined)).toBe(true);
    expect((await storedEvents(cold.db)).length).toBe(70);
    expect(await total()).toEqual([want, 70]);
    // Once the replacement's grace has passed and history no longer lists it, GC collects both objects.
    cold.clock.advance(3600_000);
    await runJob(cold.db, 'gc', { gc: { safetyAgeMs: 0, historyKeep: 1 } });
    expect(await store.head(key)).toBeNull();
    expect(await store.head(hashesKey)).toBeNull();
  });
});
