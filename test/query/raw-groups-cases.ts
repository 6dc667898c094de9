/**
 * Reads of grouped lean raw segments through the query cache and engine helpers, on a real store
 * (memory, MinIO): a one-account read GETs the directory, then only its groups in one range, and
 * returns exactly the account's rows; cached directories and groups are not fetched again; an
 * account spread over several groups is read in one range; a whole read (no account) and every
 * whole-segment reader give all the rows; a damaged group or directory, or a wrong
 * `directory_bytes`, is refused with the segment corruption error; a lean entry without
 * `directory_bytes` (written before row groups) reads as one container in one GET, as before.
 * A segment compacted inside the dedupe window in row groups (key filter and hashes block after
 * the directory) is read the same way, its hashes and key filter where they always were.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ShardKeys } from '../../src/manifest/keys.ts';
import type { DeepReadonly, RawSegmentEntry } from '../../src/manifest/schema.ts';
import { bucketOf } from '../../src/model/bucket.ts';
import type { UsageEvent } from '../../src/model/event.ts';
import {
  readHashPages,
  readKeyFilter,
  readRawColumns,
  readRawEvents,
  readRawHashes,
  hashesOfEvents,
  writeLeanCopy,
  writeRawSegment,
} from '../../src/objects/segment-objects.ts';
import { SegmentCache } from '../../src/query/segment-cache.ts';
import { checkHashes, checkRawSegment } from '../../src/cli/verify-objects.ts';
import {
  joinRawColumns,
  RAW_COLUMN_NAMES,
  rawColumnsToEvents,
  rawGroupsExtentOf,
  SegmentCorruptError,
  type RawColumnName,
  type RawColumns,
} from '../../src/segment/raw.ts';
import { listAll, type ObjectStore } from '../../src/store/types.ts';
import { CountingStore } from '../support/counting-store.ts';
import { realTimeDeps } from '../support/deps.ts';
import { realisticEvents } from '../segment/arbitraries.ts';

export interface Backend {
  store: ObjectStore;
  prefix: string;
}

const ALL: RawColumnName[] = [...RAW_COLUMN_NAMES];
const text = (e: UsageEvent) => JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
const sorted = (events: readonly UsageEvent[]) => events.map(text).sort();
const rowsOf = (cols: readonly RawColumns[], account?: string) =>
  cols.flatMap((c) => rawColumnsToEvents(c)).filter((e) => account === undefined || e.account_id === account);

/**
 * Each account read from a grouped segment through a fresh cache: the directory (first account
 * only, cached after), then one range of groups, a small fraction of the object; exactly its rows
 * (with `thenCached`, read again at once without a GET). Answers the cache, warm.
 */
async function expectAccountsReadByRange(
  store: CountingStore,
  entry: DeepReadonly<RawSegmentEntry>,
  accounts: readonly string[],
  events: readonly UsageEvent[],
  opts: { thenCached?: boolean } = {},
): Promise<SegmentCache> {
  const cache = new SegmentCache(store);
  store.take();
  for (const [i, account] of accounts.entries()) {
    const cols = await cache.rawColumns(entry, ALL, account);
    const gets = store.take();
    expect(gets.length, account).toBe(i === 0 ? 2 : 1);
    for (const g of gets) expect(g.range, account).toBeDefined();
    expect(gets.reduce((n, g) => n + g.bytes, 0)).toBeLessThan(entry.bytes / 8);
    const got = rowsOf(cols, account);
    expect(got.length).toBeGreaterThan(0);
    expect(sorted(got), account).toEqual(sorted(events.filter((e) => e.account_id === account)));
    if (opts.thenCached === true) {
      await cache.rawColumns(entry, ALL, account);
      expect(store.take(), `${account}: cached`).toEqual([]);
    }
  }
  return cache;
}

export function describeRawGroupReads(name: string, make: () => Promise<Backend>): void {
  describe(`grouped raw segment reads (${name})`, () => {
    let store: CountingStore;
    let grouped: RawSegmentEntry;
    let single: RawSegmentEntry;
    /** Compacted inside the dedupe window: groups and directory, then the hashes block and key filter. */
    let windowed: RawSegmentEntry;
    let events: UsageEvent[];
    let keys: ShardKeys;
    let accounts: string[];
    let heavy: string;

    beforeAll(async () => {
      const b = await make();
      store = new CountingStore(b.store);
      keys = new ShardKeys(b.prefix, 0, 1);
      events = realisticEvents(4000, 21);
      const deps = realTimeDeps(7);
      const opts = { bucketOf: (a: string) => bucketOf(a, 16), compacted: true, lean: true } as const;
      grouped = await writeRawSegment(store, keys, deps, events, { ...opts, groupRows: 100 });
      single = await writeRawSegment(store, keys, deps, events, opts);
      windowed = await writeRawSegment(store, keys, deps, events, { bucketOf: opts.bucketOf, compacted: true, groupRows: 100 });
      const counts = new Map<string, number>();
      for (const e of events) counts.set(e.account_id, (counts.get(e.account_id) ?? 0) + 1);
      const byCount = [...counts].sort((a, c) => c[1] - a[1]);
      heavy = byCount[0]![0];
      // Three light accounts (a few rows each).
      accounts = byCount.slice(-3).map(([a]) => a);
    }, 60_000);

    it('a one-account read GETs the directory, then its groups in one range: exactly its rows, a fraction of the bytes; cached after', async () => {
      expect(grouped.directory_bytes).toBeGreaterThan(0);
      expect(grouped.hashes).toBe('none');
      expect(single.directory_bytes).toBeUndefined();
      const cache = await expectAccountsReadByRange(store, grouped, accounts, events, { thenCached: true });
      // An account past every group's range: the directory says so, no group is read.
      expect(await cache.rawColumns(grouped, ALL, '\uffff')).toEqual([]);
      expect(store.take()).toEqual([]);
    });

    it('an account spread over several groups is read in one range; a window narrows it', async () => {
      const cache = new SegmentCache(store);
      store.take();
      const cols = await cache.rawColumns(grouped, ['account_id', 'timestamp_ms', 'quantity'], heavy);
      const gets = store.take();
      expect(cols.length).toBeGreaterThan(2);
      expect(gets.length).toBe(2);
      const want = events.filter((e) => e.account_id === heavy);
      const joined = joinRawColumns(cols);
      let n = 0,
        sum = 0n;
      for (let r = 0; r < joined.rows; r++) {
        if (joined.account_id!.dict[joined.account_id!.codes[r]!] !== heavy) continue;
        n++;
        sum += BigInt(joined.quantity![r]!);
      }
      expect(n).toBe(want.length);
      expect(sum).toBe(want.reduce((s, e) => s + e.quantity, 0n));
      // A window before every row: no group of the account passes.
      const fresh = new SegmentCache(store);
      expect(await fresh.rawColumns(grouped, ALL, heavy, { from: 0, to: 1 })).toEqual([]);
    });

    it('a whole read (no account) and every whole-segment reader give all the rows, in segment order', async () => {
      const cache = new SegmentCache(store);
      const wholeCols = await cache.rawColumns(grouped, ALL);
      expect(wholeCols.length).toBe(1);
      const singleEvents = await readRawEvents(store, single);
      expect(rawColumnsToEvents(wholeCols[0]!).map(text)).toEqual(singleEvents.map(text));
      expect((await readRawEvents(store, grouped)).map(text)).toEqual(singleEvents.map(text));
      expect(await readRawColumns(store, grouped)).toEqual(await readRawColumns(store, single));
      // Cold dedupe's recomputed hashes of a lean segment.
      expect(await readRawHashes(store, grouped)).toEqual(hashesOfEvents(singleEvents));
      // check: nothing to report.
      expect(await checkRawSegment(store, 0, grouped)).toEqual([]);
    });

    it('a lean entry written before row groups (no directory_bytes) reads as one container in one GET, as before', async () => {
      const cache = new SegmentCache(store);
      store.take();
      const cols = await cache.rawColumns(single, ALL, accounts[0]);
      const gets = store.take();
      expect(gets.length).toBe(1);
      expect(gets[0]!.bytes).toBe(single.bytes);
      expect(cols.length).toBe(1);
      expect(sorted(rowsOf(cols))).toEqual(sorted(events));
    });

    it('inside the dedupe window (key filter and hashes block after the directory): one-account reads by range, whole readers, hashes and key filter where they were, check', async () => {
      expect(windowed.hashes).toBeUndefined();
      expect(windowed.directory_bytes).toBeGreaterThan(0);
      expect(windowed.filter_bytes).toBeGreaterThan(0);
      const object = (await store.get(windowed.key))!;
      if (object.notModified) throw new Error('unexpected 304');
      // [0, bytes) is the groups and directory; the key filter and hashes block follow it: the very
      // bytes a single container's write puts after it for the same events.
      expect(rawGroupsExtentOf(object.body)).toEqual({ bytes: windowed.bytes, directoryBytes: windowed.directory_bytes });
      const oneContainer = await writeRawSegment(store, keys, realTimeDeps(10), events, {
        bucketOf: (a: string) => bucketOf(a, 16),
        compacted: true,
        groupRows: 1e9,
      });
      expect(oneContainer.directory_bytes).toBeUndefined();
      const tail = (await store.get(oneContainer.key, { range: { offset: oneContainer.bytes } }))!;
      if (tail.notModified) throw new Error('unexpected 304');
      expect(oneContainer.filter_bytes).toBe(windowed.filter_bytes);
      expect(Buffer.from(object.body.subarray(windowed.bytes)).equals(Buffer.from(tail.body))).toBe(true);
      await expectAccountsReadByRange(store, windowed, accounts, events);
      const singleEvents = await readRawEvents(store, single);
      expect((await readRawEvents(store, windowed)).map(text)).toEqual(singleEvents.map(text));
      expect(rawColumnsToEvents((await new SegmentCache(store).rawColumns(windowed, ALL))[0]!).map(text)).toEqual(singleEvents.map(text));
      // What ingest's dedupe and compaction read: the block and the filter pages, at [bytes, …).
      const hashes = await readRawHashes(store, windowed);
      expect(hashes).toEqual(hashesOfEvents(singleEvents));
      const block = await readKeyFilter(store, { ...windowed, filter_bytes: windowed.filter_bytes! });
      expect(block.rows).toBe(events.length);
      const rows = await readHashPages(store, { ...windowed, filter_bytes: windowed.filter_bytes! }, block, 0, block.fences.length - 1);
      expect(rows.length).toBe(events.length);
      expect(await checkRawSegment(store, 0, windowed)).toEqual([]);
      expect(await checkHashes(store, 0, windowed)).toEqual([]);
      // A damaged group: refused, by the one-account read and the whole readers; the hashes are not affected.
      const bad = object.body.slice();
      bad[200]! ^= 0x20;
      const k = keys.rawSegment('damaged-windowed');
      await store.put(k, bad);
      const damaged = { ...windowed, id: 'damaged-windowed', key: k };
      const first = [...new Set(events.map((e) => e.account_id))].sort()[0]!;
      await expect(new SegmentCache(store).rawColumns(damaged, ALL, first)).rejects.toBeInstanceOf(SegmentCorruptError);
      await expect(readRawEvents(store, damaged)).rejects.toBeInstanceOf(SegmentCorruptError);
      expect((await checkRawSegment(store, 0, damaged)).length).toBeGreaterThan(0);
      expect(await readRawHashes(store, damaged)).toEqual(hashes);
      // The strip step's copy of it is refused before anything is written; of the intact one, it is [0, bytes) as it is.
      const count = async () => {
        let n = 0;
        for await (const _ of listAll(store, keys.dir)) n++;
        return n;
      };
      const before = await count();
      await expect(writeLeanCopy(store, keys, realTimeDeps(8), damaged)).rejects.toBeInstanceOf(SegmentCorruptError);
      expect(await count()).toBe(before);
      const copy = await writeLeanCopy(store, keys, realTimeDeps(9), windowed);
      expect([copy.bytes, copy.checksum, copy.directoryBytes]).toEqual([windowed.bytes, windowed.checksum, windowed.directory_bytes]);
      const copied = (await store.get(copy.key))!;
      if (copied.notModified) throw new Error('unexpected 304');
      expect(Buffer.from(copied.body).equals(Buffer.from(object.body.subarray(0, windowed.bytes)))).toBe(true);
    });

    it('a damaged group or directory, or a wrong directory_bytes, is refused with the segment corruption error', async () => {
      const object = (await store.get(grouped.key))!;
      if (object.notModified) throw new Error('unexpected 304');
      const damage = async (at: number, id: string): Promise<RawSegmentEntry> => {
        const bytes = object.body.slice();
        bytes[at]! ^= 0x20;
        const k = keys.rawSegment(id);
        await store.put(k, bytes);
        return { ...grouped, id, key: k };
      };
      const badDir = await damage(grouped.bytes - 20, 'damaged-dir');
      await expect(new SegmentCache(store).rawColumns(badDir, ALL, accounts[0])).rejects.toBeInstanceOf(SegmentCorruptError);
      await expect(new SegmentCache(store).columns(badDir, ALL)).rejects.toBeInstanceOf(SegmentCorruptError);
      await expect(readRawEvents(store, badDir)).rejects.toBeInstanceOf(SegmentCorruptError);
      expect((await checkRawSegment(store, 0, badDir)).length).toBeGreaterThan(0);
      // Group 0 starts the object: it holds the first account.
      const first = [...new Set(events.map((e) => e.account_id))].sort()[0]!;
      const badGroup = await damage(200, 'damaged-group');
      await expect(new SegmentCache(store).rawColumns(badGroup, ALL, first)).rejects.toBeInstanceOf(SegmentCorruptError);
      await expect(readRawEvents(store, badGroup)).rejects.toBeInstanceOf(SegmentCorruptError);
      const wrong = { ...grouped, directory_bytes: grouped.directory_bytes! + 3 };
      await expect(new SegmentCache(store).rawColumns(wrong, ALL, accounts[0])).rejects.toBeInstanceOf(SegmentCorruptError);
      await expect(readRawEvents(store, wrong)).rejects.toBeInstanceOf(SegmentCorruptError);
      // The field lost (what an earlier build would do): the object is not one container.
      const { directory_bytes: _d, ...lost } = grouped;
      await expect(readRawEvents(store, lost)).rejects.toBeInstanceOf(SegmentCorruptError);
    });
  });
}
