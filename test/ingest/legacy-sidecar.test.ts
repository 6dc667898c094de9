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
import { openInstance, postBatch, storedEvents, TestClock, usage } from '../support/instance.ts';
import { GOLDEN_ULID_EVENTS, hexBytes, ULID_HASHES, ULID_SEGMENT } from '../segment/golden-events.ts';
import { encodeRawSegment } from '../../src/segment/raw.ts';

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
      const r = await cold.engine.aggregate({
        accountId: 'acct-legacy',
        from: 0,
        to: 2 ** 52,
        groupBy: [],
        filters: [],
        metrics: ['sum', 'count'],
        source: 'raw',
        orderBy: [],
        limit: undefined,
      });
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

  it("a version 1 hashes block (event hash of event_id alone) still dedupes: keys come from the segment's columns", async () => {
    const store = new MemoryStore();
    const writer = await openInstance(store, 'v1', { shards: 1, buckets: 4 });
    // Bytes written by an earlier version: the golden segment with its version 1 hashes appended.
    const segment = hexBytes(ULID_SEGMENT);
    const stats = encodeRawSegment(GOLDEN_ULID_EVENTS, (a) => bucketOf(a, 4)).stats;
    const shard = writer.db.shards[0]!;
    const key = shard.keys.rawSegment('v1-segment');
    const object = new Uint8Array(segment.length + ULID_HASHES.length / 2);
    object.set(segment, 0);
    object.set(hexBytes(ULID_HASHES), segment.length);
    await store.put(key, object, { ifNoneMatch: '*' });
    const entry = { ...stats, bytes: segment.length, id: 'v1-segment', key, created_at_ms: 1 };
    expect((await shard.commit(rawSegmentsAdded([entry], GOLDEN_ULID_EVENTS, 1))).committed).toBe(true);

    // A cold instance, within the window of those events' ingestion, sees a retry as duplicates.
    const clock = new TestClock();
    clock.offsetMs = Math.max(...GOLDEN_ULID_EVENTS.map((e) => e.ingested_at_ms)) + 3_600_000 - Date.now();
    const cold = await openInstance(store, 'v1', { clock, seed: 4 });
    const wire = GOLDEN_ULID_EVENTS.map(({ ingested_at_ms: _, quantity, ...e }) => ({ ...e, quantity: quantity.toString() }));
    // (The golden Retraction has no correction_ref: the codec stores it, ingest validation refuses it.)
    const retry = await postBatch(cold.app, wire);
    expect(retry.body).toMatchObject({ accepted: 0, duplicates: 4, conflicts: 0, rejected: 1, errors: [{ event_id: 'custom-id-ü' }] });
    // The same ids under another account are other events.
    const moved = await postBatch(
      cold.app,
      wire.map((e) => ({ ...e, account_id: 'cus_Gamma' })),
    );
    expect(moved.body).toMatchObject({ accepted: 4, duplicates: 0, conflicts: 0, rejected: 1 });
  });
});
