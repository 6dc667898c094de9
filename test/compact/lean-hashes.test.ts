/**
 * Lean hashes (issue 15 item 4): a lean segment (`hashes: 'none'`) is its container alone; its
 * hashes are recomputed from its columns exactly as the block holds them; the `stripHashes` edit
 * and the strip step replace a segment 1:1 and lose every race they should lose.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkHashes } from '../../src/cli/verify-objects.ts';
import { compactShard, DEFAULT_COMPACT_OPTIONS } from '../../src/compact/compact-job.ts';
import { LEAN_SLACK_MS, stripShard } from '../../src/compact/strip-hashes.ts';
import { applyEdit } from '../../src/manifest/edits.ts';
import { emptyManifest, type RawSegmentEntry } from '../../src/manifest/schema.ts';
import { bucketOf } from '../../src/model/bucket.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import { hasKeyFilter, readRawHashes, writeLeanCopy, writeRawSegment } from '../../src/objects/segment-objects.ts';
import { needsLeanV2Format, STORED_MANIFEST_FORMAT_LEAN_V2, STORED_MANIFEST_FORMAT_MAX } from '../../src/manifest/parts.ts';
import { decodeStored } from '../../src/manifest/codec.ts';
import { UnsupportedFormatError } from '../../src/errors.ts';
import { listAll } from '../../src/store/types.ts';
import { EventHasher, HASH_WORDS, SegmentCorruptError, type SegmentHashes } from '../../src/segment/raw.ts';
import { MemoryStore } from '../../src/store/memory.ts';
import { openInstance, postBatch, storedEvents, usage } from '../support/instance.ts';
import { eventArb, realisticEvents } from '../segment/arbitraries.ts';
import { fakeRollup, fakeSegment } from '../support/fixtures.ts';

const WINDOW = 60_000;
const PAST = WINDOW + LEAN_SLACK_MS + 60_000;

/**
 * The same block: keys in the same (sorted) sequence, and the same rows. Rows with one key (a
 * conflict kept twice) may come in another order: the block orders ties by the encoder's input,
 * the recomputation by the segment's; every reader takes all rows of a key.
 */
function expectSameHashes(got: SegmentHashes, want: SegmentHashes): void {
  expect(got.count).toBe(want.count);
  expect(got.keys).toEqual(want.keys);
  const rows = (h: SegmentHashes) =>
    Array.from({ length: h.count }, (_, r) =>
      [h.keys[r * 3], h.keys[r * 3 + 1], h.keys[r * 3 + 2], h.payloads[r], h.ids[r], h.ingestedSec[r]].join(','),
    ).sort();
  expect(rows(got)).toEqual(rows(want));
}

async function written(events: readonly UsageEvent[], opts: { lean?: boolean; hashes?: Uint32Array; compacted?: boolean }) {
  const store = new MemoryStore();
  const inst = await openInstance(store, 'lean', { shards: 1, buckets: 4 });
  const shard = inst.db.shards[0]!;
  const entry = await writeRawSegment(store, shard.keys, inst.db.deps, events, { bucketOf: (a) => bucketOf(a, 4), ...opts });
  const head = await store.head(entry.key);
  return { store, entry, size: head!.size };
}

describe('lean segments', () => {
  it('hashes recomputed from the columns equal the block (property, and a realistic batch with ingest-precomputed hashes)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventArb, { minLength: 1, maxLength: 40 }), async (events) => {
        const full = await written(events, { compacted: true });
        const lean = await written(events, { compacted: true, lean: true });
        expect(lean.entry.hashes).toBe('none');
        expect(lean.size).toBe(lean.entry.bytes);
        expectSameHashes(await readRawHashes(lean.store, lean.entry), await readRawHashes(full.store, full.entry));
      }),
      { numRuns: 40 },
    );
    const events = realisticEvents(3000, 11);
    const words = new Uint32Array(events.length * HASH_WORDS);
    const hasher = new EventHasher();
    events.forEach((e, i) => {
      hasher.hashInto(e, words, i * HASH_WORDS);
    });
    const ingest = await written(events, { hashes: words });
    const lean = await written(events, { lean: true, compacted: true });
    const fromColumns = await readRawHashes(lean.store, lean.entry);
    expectSameHashes(fromColumns, await readRawHashes(ingest.store, ingest.entry));
    expect(fromColumns.count).toBe(3000);
  });

  it('an entry that lost its `hashes: none` (rewritten by an earlier release) still reads: its hashes come from its columns', async () => {
    const events = realisticEvents(200, 5);
    const full = await written(events, { compacted: true });
    const lean = await written(events, { compacted: true, lean: true });
    const { hashes: _dropped, ...unmarked } = lean.entry;
    expectSameHashes(await readRawHashes(lean.store, unmarked), await readRawHashes(full.store, full.entry));
    // A block cut short is still corruption, not a lean object.
    const cut = await written(events, { compacted: true });
    const whole = await cut.store.get(cut.entry.key);
    await cut.store.put(cut.entry.key, (whole as { body: Uint8Array }).body.subarray(0, cut.entry.bytes + 30));
    await expect(readRawHashes(cut.store, { ...cut.entry, filter_bytes: undefined })).rejects.toThrow();
  });

  it('a lean segment has no key filter, and its object is the container alone', async () => {
    const events = realisticEvents(500, 3);
    const full = await written(events, { compacted: true });
    const lean = await written(events, { compacted: true, lean: true });
    expect(hasKeyFilter(full.entry)).toBe(true);
    expect(hasKeyFilter(lean.entry)).toBe(false);
    expect(lean.entry.filter_bytes).toBeUndefined();
    // Raw format v2: the same rows in fewer bytes (test/segment/lean-format.test.ts).
    expect(lean.entry.bytes).toBeLessThan(full.entry.bytes);
    expect(lean.size).toBe(lean.entry.bytes);
    // Container, key filter, hashes block version 3 (16 + 22 bytes a row + 4).
    expect(full.size).toBe(full.entry.bytes + full.entry.filter_bytes! + 16 + 22 * 500 + 4);
    // verify-objects: a lean object must hold its container and nothing after it.
    expect(await checkHashes(lean.store, 0, lean.entry)).toEqual([]);
    const body = await lean.store.get(lean.entry.key);
    if (body === null || body.notModified) throw new Error('missing');
    await lean.store.put(lean.entry.key, new Uint8Array([...body.body, 1, 2, 3]));
    expect(await checkHashes(lean.store, 0, lean.entry)).toEqual([expect.objectContaining({ kind: 'hashes', id: lean.entry.id })]);
  });
});

describe('a lean segment at ingest', () => {
  it('an instance whose window is longer than compaction thought loads a lean segment from its columns: a retry is a duplicate', async () => {
    const store = new MemoryStore();
    const a = await openInstance(store, 'longer', { shards: 1, buckets: 2, ingest: { dedupeWindowMs: WINDOW } });
    const events = Array.from({ length: 20 }, (_, i) => usage(i, { account_id: `acct-${i % 2}` }));
    expect((await postBatch(a.app, events)).body.accepted).toBe(20);
    a.clock.advance(PAST);
    expect((await compactShard(store, a.db.shards[0]!, a.db.deps, 2, { ...DEFAULT_COMPACT_OPTIONS, graceMs: 0, dedupeWindowMs: WINDOW })).committed).toBe(true);
    expect((await a.db.shards[0]!.revalidate()).manifest.segments.every((x) => x.hashes === 'none')).toBe(true);
    const longer = await openInstance(store, 'longer', { shards: 1, buckets: 2, seed: 4, clock: a.clock, ingest: { dedupeWindowMs: 10 * 86_400_000 } });
    expect((await postBatch(longer.app, events)).body).toMatchObject({ accepted: 0, duplicates: 20, conflicts: 0 });
  });
});

describe('the stripHashes edit', () => {
  const seg = (id: string, over: Partial<RawSegmentEntry> = {}): RawSegmentEntry => {
    const { hashes_key: _, ...s } = fakeSegment(id);
    return { ...s, compacted: true, filter_bytes: 9, ...over };
  };
  const strip = (input: string, id: string, over: { bytes?: number; checksum?: string } = {}) => ({
    op: 'stripHashes' as const,
    replacement_id: `r-${id}`,
    at_ms: 5,
    delete_after_ms: 10,
    segments: [{ input, id, key: `k/${id}`, bytes: 10, checksum: '0', ...over }],
  });

  it('replaces in place, keeps rows, stats and rollup status, renames the rollup input, records a replacement', () => {
    const d = emptyManifest(0, 'c', 1);
    d.segments = [seg('a'), seg('b', { rolled_by: 'r1' }), seg('c')];
    d.rollups = [{ ...fakeRollup('r1'), inputs: ['x', 'b'] }];
    expect(applyEdit(d, strip('b', 'b2'))).toEqual({ status: 'applied', value: undefined });
    expect(d.segments.map((s) => s.id)).toEqual(['a', 'b2', 'c']);
    const { id, key, hashes, filter_bytes, ...rest } = d.segments[1]!;
    expect([id, key, hashes, filter_bytes]).toEqual(['b2', 'k/b2', 'none', undefined]);
    const { id: _i, key: _k, filter_bytes: _f, ...before } = seg('b', { rolled_by: 'r1' });
    expect(rest).toEqual(before);
    expect(d.rollups[0]!.inputs).toEqual(['x', 'b2']);
    expect(d.replacements).toEqual([
      { id: 'r-b2', kind: 'raw', inputs: [{ id: 'b', key: 'segments/raw/b.useg' }], outputs: ['b2'], committed_at_ms: 5, delete_after_ms: 10 },
    ]);
  });

  it("takes the rewritten object's bytes and checksum (raw format v2) when the edit names them, nothing else changes", () => {
    const d = emptyManifest(0, 'c', 1);
    d.segments = [seg('a')];
    const e = strip('a', 'a2');
    expect(applyEdit(d, { ...e, segments: [{ ...e.segments[0]!, out_bytes: 7, out_checksum: 'abcdef01' }] }).status).toBe('applied');
    const { id, key, hashes, filter_bytes, bytes, checksum, ...rest } = d.segments[0]!;
    expect([id, key, hashes, filter_bytes, bytes, checksum]).toEqual(['a2', 'k/a2', 'none', undefined, 7, 'abcdef01']);
    const { id: _i, key: _k, filter_bytes: _f, bytes: _b, checksum: _c, ...before } = seg('a');
    expect(rest).toEqual(before);
  });

  it("an input in row groups (inside the window): a re-encoded copy lists only its own directory, a byte copy keeps the input's", () => {
    const d = emptyManifest(0, 'c', 1);
    d.segments = [seg('a', { directory_bytes: 40 }), seg('b', { directory_bytes: 40 }), seg('c', { directory_bytes: 40 })];
    const one = (input: string, id: string, over: Record<string, unknown>) => {
      const e = strip(input, id);
      return { ...e, segments: [{ ...e.segments[0]!, ...over }] };
    };
    expect(applyEdit(d, one('a', 'a2', { out_bytes: 7, out_checksum: 'abcdef01' })).status).toBe('applied');
    expect(applyEdit(d, one('b', 'b2', { out_bytes: 10, out_checksum: '0', out_directory_bytes: 33 })).status).toBe('applied');
    expect(applyEdit(d, one('c', 'c2', {})).status).toBe('applied');
    expect(d.segments.map((s) => [s.id, s.hashes, s.directory_bytes])).toEqual([
      ['a2', 'none', undefined],
      ['b2', 'none', 33],
      ['c2', 'none', 40],
    ]);
  });

  it('is refused when an input is gone (another strip, a compaction), already lean, or not the object copied', () => {
    const d = emptyManifest(0, 'c', 1);
    d.segments = [seg('a'), seg('b')];
    expect(applyEdit(d, strip('a', 'a2')).status).toBe('applied');
    expect(applyEdit(d, strip('a', 'a3'))).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    expect(applyEdit(d, strip('a2', 'a4'))).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    expect(applyEdit(d, strip('b', 'b2', { bytes: 11 }))).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    expect(applyEdit(d, strip('b', 'b2', { checksum: 'f' }))).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    // And a compaction planned on the stripped input loses too.
    const replace = {
      op: 'replaceSegments' as const,
      replacement_id: 'r',
      at_ms: 6,
      delete_after_ms: 7,
      inputs: ['a'],
      outputs: [],
      justified_by: [],
      conflicts: [],
    };
    expect(applyEdit(d, replace)).toEqual({ status: 'skipped', reason: 'inputs_changed' });
    expect(d.segments.map((s) => s.id)).toEqual(['a2', 'b']);
  });
});

describe('the strip step under concurrency', () => {
  const fill = async () => {
    const store = new MemoryStore();
    const a = await openInstance(store, 'race', { shards: 1, buckets: 2, ingest: { dedupeWindowMs: WINDOW } });
    const b = await openInstance(store, 'race', { shards: 1, buckets: 2, seed: 7, clock: a.clock });
    const ts = Date.UTC(2026, 7, 1);
    for (let day = 0; day < 4; day++) {
      await postBatch(
        a.app,
        Array.from({ length: 30 }, (_, i) => usage(day * 100 + i, { account_id: `acct-${i % 3}`, timestamp_ms: ts + day * 86_400_000 + i })),
      );
      // One compaction per day: small compacted segments (each with hashes, in the window).
      expect((await compactShard(store, a.db.shards[0]!, a.db.deps, 2, { ...DEFAULT_COMPACT_OPTIONS, graceMs: 0, dedupeWindowMs: WINDOW })).committed).toBe(
        true,
      );
    }
    a.clock.advance(PAST);
    return { store, a, b };
  };
  const opts = { dedupeWindowMs: WINDOW, maxSegments: 16, maxBytes: 1 << 30, graceMs: 60_000 };

  it('two strips at once: exactly one commits, every row once', async () => {
    const { a, b } = await fill();
    const before = (await a.db.shards[0]!.revalidate()).manifest.segments;
    expect(before.length).toBeGreaterThan(0);
    expect(before.every((s) => s.compacted === true && s.hashes === undefined)).toBe(true);
    const [x, y] = await Promise.all([stripShard(a.db.store, a.db.shards[0]!, a.db.deps, opts), stripShard(b.db.store, b.db.shards[0]!, b.db.deps, opts)]);
    expect([x.committed, y.committed].filter(Boolean)).toHaveLength(1);
    expect(x.stripped + y.stripped).toBe(before.length);
    const after = (await a.db.shards[0]!.revalidate()).manifest.segments;
    expect(after.every((s) => s.hashes === 'none')).toBe(true);
    expect(after.map((s) => s.rows)).toEqual(before.map((s) => s.rows));
    const stored = await storedEvents(a.db);
    expect(stored).toHaveLength(120);
    expect(new Set(stored.map((e) => e.event_id)).size).toBe(120);
  });

  it('a strip and a compaction of the same small segments at once: one wins, nothing lost or doubled', async () => {
    const { store, a, b } = await fill();
    const compact = { ...DEFAULT_COMPACT_OPTIONS, graceMs: 0, dedupeWindowMs: WINDOW, smallBytes: 1 << 30 };
    const [s, c] = await Promise.all([stripShard(store, b.db.shards[0]!, b.db.deps, opts), compactShard(store, a.db.shards[0]!, a.db.deps, 2, compact)]);
    expect(s.committed || c.committed).toBe(true);
    const m = (await a.db.shards[0]!.revalidate()).manifest;
    const stored = await storedEvents(a.db);
    expect(stored).toHaveLength(120);
    expect(new Set(stored.map((e) => e.event_id)).size).toBe(120);
    // Whichever won, what is listed now is past the window: lean, or stripped by the next run.
    await stripShard(store, b.db.shards[0]!, b.db.deps, opts);
    const final = (await a.db.shards[0]!.revalidate()).manifest.segments;
    expect(final.every((x) => x.hashes === 'none')).toBe(true);
    expect(final.reduce((n, x) => n + x.rows, 0)).toBe(120);
    expect(m.segments.reduce((n, x) => n + x.rows, 0)).toBe(120);
  });
});

describe('the strip step rewrites containers as raw format v2', () => {
  it('same rows, totals and recomputed hashes; every v2 object is listed as lean, so the manifest is stored as format 5, which every build before v2 refuses by name', async () => {
    const store = new MemoryStore();
    const a = await openInstance(store, 'v2', { shards: 1, buckets: 2, ingest: { dedupeWindowMs: WINDOW } });
    const ts = Date.UTC(2026, 7, 1);
    for (let day = 0; day < 3; day++) {
      await postBatch(
        a.app,
        Array.from({ length: 40 }, (_, i) =>
          usage(day * 100 + i, { account_id: `acct-${i % 3}`, timestamp_ms: ts + day * 86_400_000 + i * 997, quantity: i === 5 ? -3 : i * 1000 }),
        ),
      );
      await compactShard(store, a.db.shards[0]!, a.db.deps, 2, { ...DEFAULT_COMPACT_OPTIONS, graceMs: 0, dedupeWindowMs: WINDOW });
    }
    const shard = a.db.shards[0]!;
    const before = (await shard.revalidate()).manifest.segments.filter((s) => s.hashes === undefined);
    expect(before.length).toBeGreaterThan(0);
    const hashesBefore = await Promise.all(before.map((s) => readRawHashes(store, s)));
    const eventsBefore = (await storedEvents(a.db)).map((e) => JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).sort();
    a.clock.advance(PAST);
    const report = await stripShard(store, shard, a.db.deps, { dedupeWindowMs: WINDOW, maxSegments: 16, maxBytes: 1 << 30, graceMs: 60_000 });
    expect(report).toMatchObject({ committed: true, stripped: before.length });
    expect(report.bytes_after).toBeLessThan(before.reduce((n, s) => n + s.bytes, 0));
    const m = (await shard.revalidate()).manifest;
    for (const [i, old] of before.entries()) {
      const now = m.segments.find((s) => s.rows === old.rows && s.min_ts === old.min_ts && s.quantity_sum === old.quantity_sum && s.hashes === 'none')!;
      expect(now).toBeDefined();
      expectSameHashes(await readRawHashes(store, now), hashesBefore[i]!);
    }
    const eventsAfter = (await storedEvents(a.db)).map((e) => JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).sort();
    expect(eventsAfter).toEqual(eventsBefore);
    // The gate older builds rely on: a v2 object is only ever listed by a lean entry (format 5)
    // or as the row groups of an entry with `directory_bytes` (format 6, inside the window too),
    // which they refuse by name (builds that know lean entries but not v2 read format 4 at most;
    // those before, 3 or 2).
    for (const s of m.segments) {
      const obj = await store.get(s.key);
      if (obj === null || obj.notModified) throw new Error(`missing ${s.key}`);
      if (obj.body[4] === 2) expect(s.hashes === 'none' || s.directory_bytes !== undefined, s.id).toBe(true);
    }
    expect(m.segments.some((s) => s.hashes === 'none')).toBe(true);
    expect(needsLeanV2Format(m)).toBe(true);
    const current = await store.get(shard.keys.current);
    if (current === null || current.notModified) throw new Error('no current.json');
    expect(JSON.parse(new TextDecoder().decode(current.body)).format).toBe(STORED_MANIFEST_FORMAT_LEAN_V2);
    // What a build that reads formats up to 4 does with it: the same check with its maximum.
    const asFormat = (format: number) => {
      const raw = JSON.parse(new TextDecoder().decode(current.body));
      return new TextEncoder().encode(JSON.stringify({ ...raw, format }));
    };
    // A format past this build's maximum (6 since raw row groups) is refused by name.
    expect(() => decodeStored(asFormat(STORED_MANIFEST_FORMAT_MAX + 1), 'current.json')).toThrow(UnsupportedFormatError);
    expect(decodeStored(asFormat(5), 'current.json').kind).toBe('split');
  });

  it('refuses to rewrite a container that does not match its entry (rows, totals, checksum): nothing is written', async () => {
    const events = realisticEvents(200, 8);
    const full = await written(events, { compacted: true });
    const keys = { rawSegment: (id: string) => `leancopy/${id}.useg` } as never;
    const deps = { clock: { now: () => 1 }, random: Math.random } as never;
    for (const over of [{ quantity_sum: '1' }, { rows: 199 }, { checksum: '00000000' }, { max_ts: 0 }]) {
      await expect(writeLeanCopy(full.store, keys, deps, { ...full.entry, ...over })).rejects.toBeInstanceOf(SegmentCorruptError);
    }
    for await (const o of listAll(full.store, 'leancopy/')) throw new Error(`written: ${o.key}`);
    const ok = await writeLeanCopy(full.store, keys, deps, full.entry);
    expect(ok.bytes).toBeLessThan(full.entry.bytes);
  });
});
