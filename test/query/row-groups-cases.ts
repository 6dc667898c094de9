/**
 * Reads of grouped rollup segments through the query cache, on a real store (memory, MinIO):
 * a one-account read GETs the directory, then only its groups in one range, and returns exactly
 * the rows a whole read filtered to the account gives; cached directories and groups are not
 * fetched again; an account spread over several groups is narrowed by time; a damaged group or
 * directory is refused with the segment corruption error; an entry without `directory_bytes`
 * (written before row groups) reads as one container, as before.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ShardKeys } from '../../src/manifest/keys.ts';
import type { RollupSegmentEntry } from '../../src/manifest/schema.ts';
import { bucketOf } from '../../src/model/bucket.ts';
import { readRollupRows, writeRollupSegment } from '../../src/objects/segment-objects.ts';
import { SegmentCache } from '../../src/query/segment-cache.ts';
import { HOUR_MS, ROLLUP_COLUMN_NAMES, rollupColumnsToRows, SegmentCorruptError, type RollupColumnName, type RollupRow } from '../../src/segment/rollup.ts';
import type { ObjectStore } from '../../src/store/types.ts';
import { CountingStore } from '../support/counting-store.ts';
import { realTimeDeps } from '../support/deps.ts';
import { rollupRows } from '../segment/grouped-rows.ts';

export interface Backend {
  store: ObjectStore;
  prefix: string;
}

const ALL: RollupColumnName[] = [...ROLLUP_COLUMN_NAMES];
const key = (r: RollupRow) => JSON.stringify([r.account_id, r.product_id, r.meter_id, r.model_id, r.subscription_id, r.hour_ms, r.quantity_sum.toString()]);
const sorted = (rows: readonly RollupRow[]) => rows.map(key).sort();

export function describeRowGroupReads(name: string, make: () => Promise<Backend>): void {
  describe(`grouped rollup reads (${name})`, () => {
    let store: CountingStore;
    let grouped: RollupSegmentEntry;
    let single: RollupSegmentEntry;
    let whole: RollupRow[];
    let keys: ShardKeys;

    beforeAll(async () => {
      const b = await make();
      store = new CountingStore(b.store);
      keys = new ShardKeys(b.prefix, 0, 1);
      const rows = rollupRows(3, 150, 400);
      const deps = realTimeDeps(5);
      grouped = await writeRollupSegment(store, keys, deps, rows, [], (a) => bucketOf(a, 16), 40);
      single = await writeRollupSegment(store, keys, deps, rows, [], (a) => bucketOf(a, 16), 1_000_000);
      whole = await readRollupRows(store, single);
    }, 60_000);

    it('a one-account read GETs the directory, then its groups in one range: exactly its rows, a fraction of the bytes; cached after', async () => {
      expect(grouped.directory_bytes).toBeGreaterThan(0);
      expect(single.directory_bytes).toBeUndefined();
      const cache = new SegmentCache(store);
      store.take();
      for (const account of ['acct_0007', 'acct_0100', 'acct_0149']) {
        const cols = await cache.rollupColumns(grouped, ALL, account);
        const gets = store.take();
        // Directory (first account only: then cached), then one range of groups.
        expect(gets.length, account).toBe(account === 'acct_0007' ? 2 : 1);
        for (const g of gets) expect(g.range, account).toBeDefined();
        const read = gets.reduce((n, g) => n + g.bytes, 0);
        expect(read).toBeLessThan(grouped.bytes / 8);
        const got = cols.flatMap((c) => rollupColumnsToRows(c)).filter((r) => r.account_id === account);
        expect(sorted(got), account).toEqual(sorted(whole.filter((r) => r.account_id === account)));
        expect(got.length).toBeGreaterThan(0);
        // Again: nothing fetched.
        await cache.rollupColumns(grouped, ALL, account);
        expect(store.take()).toEqual([]);
      }
      // An account past every group's range: the directory says so, no group is read.
      expect(await cache.rollupColumns(grouped, ALL, 'zzz')).toEqual([]);
      expect(store.take()).toEqual([]);
    });

    it('an account spread over several groups is read in one range, narrowed by the hours asked for', async () => {
      const cache = new SegmentCache(store);
      store.take();
      const all = await cache.rollupColumns(grouped, ALL, 'acct_0000');
      const allGets = store.take();
      expect(all.length).toBeGreaterThan(3);
      expect(allGets.length).toBe(2);
      expect(sorted(all.flatMap((c) => rollupColumnsToRows(c)).filter((r) => r.account_id === 'acct_0000'))).toEqual(
        sorted(whole.filter((r) => r.account_id === 'acct_0000')),
      );
      const window = { from: Date.UTC(2026, 1, 1), to: Date.UTC(2026, 2, 1) };
      const fresh = new SegmentCache(store);
      const month = await fresh.rollupColumns(grouped, ALL, 'acct_0000', window);
      const monthGets = store.take();
      expect(monthGets.length).toBe(2);
      expect(monthGets[1]!.bytes).toBeLessThan(allGets[1]!.bytes);
      const inWindow = (r: RollupRow) => r.account_id === 'acct_0000' && r.hour_ms >= window.from && r.hour_ms + HOUR_MS <= window.to;
      expect(sorted(month.flatMap((c) => rollupColumnsToRows(c)).filter(inWindow))).toEqual(sorted(whole.filter(inWindow)));
    });

    it('a whole read (no account) gives every group in order: all the rows', async () => {
      const cols = await new SegmentCache(store).rollupColumns(grouped, ALL);
      expect(sorted(cols.flatMap((c) => rollupColumnsToRows(c)))).toEqual(sorted(whole));
      expect(sorted(await readRollupRows(store, grouped))).toEqual(sorted(whole));
    });

    it('an entry written before row groups (no directory_bytes) reads as one container in one GET, as before', async () => {
      const cache = new SegmentCache(store);
      store.take();
      const cols = await cache.rollupColumns(single, ALL, 'acct_0007');
      const gets = store.take();
      expect(gets.length).toBe(1);
      expect(gets[0]!.bytes).toBe(single.bytes);
      expect(cols.length).toBe(1);
      expect(sorted(rollupColumnsToRows(cols[0]!))).toEqual(sorted(whole));
    });

    it('a damaged group or directory is refused with the segment corruption error', async () => {
      const object = (await store.get(grouped.key))!;
      if (object.notModified) throw new Error('unexpected 304');
      const damage = async (at: number, id: string) => {
        const bytes = object.body.slice();
        bytes[at]! ^= 0x20;
        const k = keys.rollupSegment(id);
        await store.put(k, bytes);
        return { ...grouped, id, key: k };
      };
      // The directory.
      const badDir = await damage(grouped.bytes - 20, 'damaged-dir');
      await expect(new SegmentCache(store).rollupColumns(badDir, ALL, 'acct_0007')).rejects.toBeInstanceOf(SegmentCorruptError);
      await expect(readRollupRows(store, badDir)).rejects.toBeInstanceOf(SegmentCorruptError);
      // A group: the first bytes of the object are group 0, which holds acct_0000.
      const badGroup = await damage(200, 'damaged-group');
      await expect(new SegmentCache(store).rollupColumns(badGroup, ALL, 'acct_0000')).rejects.toBeInstanceOf(SegmentCorruptError);
      await expect(readRollupRows(store, badGroup)).rejects.toBeInstanceOf(SegmentCorruptError);
      // A wrong directory length in the entry.
      await expect(
        new SegmentCache(store).rollupColumns({ ...grouped, directory_bytes: grouped.directory_bytes! + 3 }, ALL, 'acct_0007'),
      ).rejects.toBeInstanceOf(SegmentCorruptError);
    });
  });
}
