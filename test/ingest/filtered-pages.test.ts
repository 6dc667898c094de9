/**
 * The filtered tier's reads of a compacted segment, byte for byte: written now, the object is
 * container | key filter v2 | hashes v3 (22-byte rows), and a confirming page read is the range
 * of that page's 22-byte rows after the filter; a segment of an earlier release (container |
 * hashes v2 | filter v1) is still found (its filter by a second read) and read page by page with
 * 28-byte rows. Damage to either is refused.
 */
import { describe, expect, it } from 'vitest';
import { checkHashes } from '../../src/cli/verify-objects.ts';
import { bucketOf } from '../../src/model/bucket.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { readHashPages, readKeyFilter, readRawHashes, splitRawSegmentObject, writeRawSegment } from '../../src/objects/segment-objects.ts';
import { eventKey, pagesFor, SegmentCorruptError } from '../../src/segment/raw.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import type { GetOptions, GetResult, ObjectStore } from '../../src/store/types.ts';
import { encodeHashesV2, rewriteAsV2 } from '../support/hashes-v2.ts';
import { openInstance } from '../support/instance.ts';
import { realisticEvents } from '../segment/arbitraries.ts';

/** A store that records the ranges of its GETs. */
function recording(store: ObjectStore): { store: ObjectStore; ranges: { offset: number; length?: number }[] } {
  const ranges: { offset: number; length?: number }[] = [];
  const wrapped: ObjectStore = {
    kind: store.kind,
    get: async (key: string, opts?: GetOptions): Promise<GetResult | null> => {
      if (opts?.range !== undefined) ranges.push({ ...opts.range });
      return store.get(key, opts);
    },
    put: (k, b, o) => store.put(k, b, o),
    head: (k) => store.head(k),
    delete: (k) => store.delete(k),
    list: (p, o) => store.list(p, o),
  };
  return { store: wrapped, ranges };
}

async function compactedSegment(events: readonly UsageEvent[]) {
  const store = new MemoryStore();
  const inst = await openInstance(store, 'pages', { shards: 1, buckets: 4 });
  const entry = await writeRawSegment(store, inst.db.shards[0]!.keys, inst.db.deps, events, { bucketOf: (a) => bucketOf(a, 4), compacted: true });
  return { store, entry: { ...entry, filter_bytes: entry.filter_bytes! } };
}

describe('filtered segments: where the filter and the pages are', () => {
  const events = realisticEvents(1000, 21);

  it('written now: one read for the filter at `bytes`, a page read of 22-byte rows right after it', async () => {
    const { store, entry } = await compactedSegment(events);
    const size = (await store.head(entry.key))!.size;
    expect(size).toBe(entry.bytes + entry.filter_bytes + 16 + 22 * 1000 + 4);
    const rec = recording(store);
    const block = await readKeyFilter(rec.store, entry);
    expect(rec.ranges).toEqual([{ offset: entry.bytes, length: entry.filter_bytes }]);
    expect([block.rowBytes, block.hashesAt, block.pageRows]).toEqual([22, entry.filter_bytes, 256]);
    // Every event is found on the page its key's first word points to, read at exactly that page's bytes.
    for (const e of events.slice(0, 50)) {
      const k = eventKey(e.account_id, e.event_id);
      expect(block.filter.mayContain(k[0]!, k[1]!, k[2]!)).toBe(true);
      const { from, to } = pagesFor(block, k[0]!);
      rec.ranges.length = 0;
      const rows = await readHashPages(rec.store, entry, block, from, to);
      const last = Math.min(1000, (to + 1) * 256);
      expect(rec.ranges).toEqual([{ offset: entry.bytes + entry.filter_bytes + 16 + from * 256 * 22, length: (last - from * 256) * 22 }]);
      expect(rows.some((r) => r.k0 === k[0] && r.k1 === k[1] && r.k2 === (k[2]! & 0xffff))).toBe(true);
    }
  });

  it('written by an earlier release (hashes v2, filter v1 after them): found by a second read, same rows', async () => {
    const { store, entry: now } = await compactedSegment(events);
    const nowHashes = await readRawHashes(store, now);
    const entry = await rewriteAsV2(store, now);
    expect((await store.head(entry.key))!.size).toBe(entry.bytes + 16 + 28 * 1000 + 4 + entry.filter_bytes);
    const rec = recording(store);
    const block = await readKeyFilter(rec.store, entry);
    expect(rec.ranges).toEqual([
      { offset: entry.bytes, length: entry.filter_bytes },
      { offset: entry.bytes + 16 + 28 * 1000 + 4, length: entry.filter_bytes },
    ]);
    expect([block.rowBytes, block.hashesAt]).toEqual([28, 0]);
    for (const e of events.slice(0, 50)) {
      const k = eventKey(e.account_id, e.event_id);
      const { from, to } = pagesFor(block, k[0]!);
      rec.ranges.length = 0;
      const rows = await readHashPages(rec.store, entry, block, from, to);
      expect(rec.ranges[0]!.offset).toBe(entry.bytes + 16 + from * 256 * 28);
      expect(rows.some((r) => r.k0 === k[0] && r.k1 === k[1] && r.k2 === (k[2]! & 0xffff))).toBe(true);
    }
    // The whole block reads the same (80-bit keys, 32-bit payloads) from either layout.
    const old = await readRawHashes(store, entry);
    expect([old.keys, old.payloads, old.ids, old.ingestedSec]).toEqual([nowHashes.keys, nowHashes.payloads, nowHashes.ids, nowHashes.ingestedSec]);
    // Splitting the object without its entry finds the hashes in both layouts.
    const whole = await store.get(entry.key);
    if (whole === null || whole.notModified) throw new Error('missing');
    expect(splitRawSegmentObject(whole.body).hashes).toEqual(encodeHashesV2(events));
    expect(await checkHashes(store, 0, entry)).toEqual([]);
  });

  it('the object written now splits into container and v3 hashes; verify-objects accepts it', async () => {
    const { store, entry } = await compactedSegment(events);
    const whole = await store.get(entry.key);
    if (whole === null || whole.notModified) throw new Error('missing');
    const { segment, hashes } = splitRawSegmentObject(whole.body);
    expect(segment.length).toBe(entry.bytes);
    expect([hashes[4], hashes.length]).toEqual([3, 16 + 22 * 1000 + 4]);
    expect(await checkHashes(store, 0, entry)).toEqual([]);
  });

  it('refuses a damaged filter, a damaged page, and a damaged v3 block', async () => {
    const { store, entry } = await compactedSegment(events);
    const whole = await store.get(entry.key);
    if (whole === null || whole.notModified) throw new Error('missing');
    const damage = async (at: number) => {
      const bad = whole.body.slice();
      bad[at]! ^= 0x04;
      await store.put(entry.key, bad);
    };
    await damage(entry.bytes + 40); // a fingerprint
    await expect(readKeyFilter(store, entry)).rejects.toThrow(SegmentCorruptError);
    await store.put(entry.key, whole.body);
    const block = await readKeyFilter(store, entry);
    await damage(entry.bytes + entry.filter_bytes + 16 + 300 * 22 + 5); // a row of page 1
    await expect(readHashPages(store, entry, block, 1, 1)).rejects.toThrow(/page 1: checksum mismatch/);
    expect(await readHashPages(store, entry, block, 0, 0)).toHaveLength(256);
    await expect(readRawHashes(store, entry)).rejects.toThrow(/checksum mismatch/);
    expect(await checkHashes(store, 0, entry)).not.toEqual([]);
  });
});
