/**
 * Grouped rollup segments (segment/row-groups.ts, segment/rollup-groups.ts): a round trip gives
 * the rows and stats one container would; an account's groups hold exactly its rows, also when
 * they span several groups; a group or directory that is damaged, swapped or truncated is refused
 * with the segment corruption error; a single container (the format before groups) still reads.
 */
import { describe, expect, it } from 'vitest';
import { bucketOf } from '../../src/model/bucket.ts';
import {
  cutRollupGroups,
  decodeRollupGroups,
  decodeRollupObject,
  encodeGroupedRollupSegment,
  encodeRollupSegment,
  groupsOfAccount,
  groupsRange,
  HOUR_MS,
  rollupColumnsToRows,
  rollupDirectoryBytesOf,
  rollupDirectoryOf,
  type RollupRow,
} from '../../src/segment/rollup.ts';
import { expectCorrupt, restamp } from './corruption-helpers.ts';
import { H0, rollupRows } from './grouped-rows.ts';

const buckets = (a: string) => bucketOf(a, 16);

const key = (r: RollupRow) => JSON.stringify([r.account_id, r.product_id, r.meter_id, r.model_id, r.subscription_id, r.hour_ms]);
const sortRows = (rows: RollupRow[]) => rows.map((r) => ({ ...r, k: key(r) })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));

describe('grouped rollup segments', () => {
  const rows = rollupRows(1, 120, 300);
  const whole = encodeRollupSegment(rows, buckets);
  const grouped = encodeGroupedRollupSegment(rows, buckets, { groupRows: 40 });
  const wholeRows = rollupColumnsToRows(decodeRollupObject(whole.bytes, undefined)[0]!);

  it('round trip: every group in order gives the rows and stats of one container; the checksum is the directory CRC', () => {
    const groups = decodeRollupObject(grouped.bytes, grouped.directoryBytes);
    expect(groups.length).toBeGreaterThan(5);
    expect(sortRows(groups.flatMap((c) => rollupColumnsToRows(c)))).toEqual(sortRows(wholeRows));
    const { checksum: _a, bytes: _b, ...stats } = grouped.stats;
    const { checksum: _c, bytes: _d, ...wholeStats } = whole.stats;
    expect(stats).toEqual(wholeStats);
    expect(grouped.stats.bytes).toBe(grouped.bytes.length);
    expect(parseInt(grouped.stats.checksum, 16)).toBe(rollupDirectoryOf(grouped.bytes, grouped.directoryBytes).crc);
    // Groups are in account order, each at most groupRows rows unless one account's hour alone is more.
    const dir = rollupDirectoryOf(grouped.bytes, grouped.directoryBytes);
    for (let i = 1; i < dir.groups.length; i++) expect(dir.groups[i]!.firstAccount >= dir.groups[i - 1]!.lastAccount).toBe(true);
    expect(dir.groups.reduce((n, g) => n + g.rows, 0)).toBe(whole.stats.rows);
    // Read without the entry (a replaced rollup): the directory is found by walking the groups.
    expect(rollupDirectoryBytesOf(grouped.bytes)).toBe(grouped.directoryBytes);
    expect(rollupDirectoryBytesOf(whole.bytes)).toBeUndefined();
  });

  it("an account's groups hold exactly its rows, read as one range, also when they span several groups", () => {
    const dir = rollupDirectoryOf(grouped.bytes, grouped.directoryBytes);
    for (const account of ['acct_0000', 'acct_0001', 'acct_0057', 'acct_0119', 'acct_9999', '']) {
      const { from, to } = groupsOfAccount(dir, account);
      const want = sortRows(wholeRows.filter((r) => r.account_id === account));
      if (want.length === 0) {
        // No rows: no group, or only groups around it that hold none of its rows.
        const r = from < to ? groupsRange(dir, from, to) : { offset: 0, length: 0 };
        const got = from < to ? decodeRollupGroups(dir, from, to, grouped.bytes.subarray(r.offset, r.offset + r.length)) : [];
        expect(got.flatMap((c) => rollupColumnsToRows(c)).filter((x) => x.account_id === account)).toEqual([]);
        continue;
      }
      const range = groupsRange(dir, from, to);
      const cols = decodeRollupGroups(dir, from, to, grouped.bytes.subarray(range.offset, range.offset + range.length));
      expect(sortRows(cols.flatMap((c) => rollupColumnsToRows(c)).filter((r) => r.account_id === account)), account).toEqual(want);
      if (account === 'acct_0000') expect(to - from).toBeGreaterThan(3);
      else expect(to - from).toBe(1);
    }
    // The heavy account's groups are cut between hours: a time window narrows them.
    const all = groupsOfAccount(dir, 'acct_0000');
    const firstMonth = groupsOfAccount(dir, 'acct_0000', (min, max) => min < H0 + 30 * 24 * HOUR_MS && max + HOUR_MS > H0);
    expect(firstMonth.to - firstMonth.from).toBeLessThan(all.to - all.from);
    expect(firstMonth.from).toBe(all.from);
  });

  it('cuts never split a group key and keep every row once', () => {
    const groups = cutRollupGroups(rows, 40);
    expect(groups.flat().length).toBe(rows.length);
    const where = new Map<string, number>();
    groups.forEach((g, i) => {
      for (const r of g) {
        const k = JSON.stringify([key(r), r.source, r.unit, r.kind]);
        expect(where.get(k) ?? i).toBe(i);
        where.set(k, i);
      }
    });
  });

  it('a damaged group, a damaged or truncated directory, and a swapped group are refused with the corruption error', () => {
    const dir = rollupDirectoryOf(grouped.bytes, grouped.directoryBytes);
    const g2 = dir.groups[2]!;
    // A byte inside a group: its CRC fails.
    const inGroup = grouped.bytes.slice();
    inGroup[g2.offset + Math.floor(g2.length / 2)]! ^= 0x40;
    expectCorrupt(() => decodeRollupObject(inGroup, grouped.directoryBytes));
    // The same group with its CRC re-stamped: it decodes alone, but not against the directory.
    const restamped = grouped.bytes.slice();
    restamped[g2.offset + Math.floor(g2.length / 2)]! ^= 0x40;
    restamp(restamped.subarray(g2.offset, g2.offset + g2.length));
    expectCorrupt(() => decodeRollupObject(restamped, grouped.directoryBytes));
    // A byte of the directory, a truncated object, a wrong directory length.
    const inDir = grouped.bytes.slice();
    inDir[grouped.bytes.length - grouped.directoryBytes + 12]! ^= 0x01;
    expectCorrupt(() => decodeRollupObject(inDir, grouped.directoryBytes));
    expectCorrupt(() => decodeRollupObject(grouped.bytes.subarray(0, grouped.bytes.length - 1), grouped.directoryBytes));
    expectCorrupt(() => decodeRollupObject(grouped.bytes, grouped.directoryBytes + 1));
    expectCorrupt(() => decodeRollupObject(grouped.bytes, grouped.bytes.length + 1));
    // Group 3's bytes read where group 2's should be: the directory's CRC of group 2 refuses them.
    const range = groupsRange(dir, 2, 4);
    const swapped = grouped.bytes.slice(range.offset, range.offset + range.length);
    expectCorrupt(() => decodeRollupGroups(dir, 3, 5, swapped));
    // A single-container object read as grouped has no directory at its end.
    expectCorrupt(() => decodeRollupObject(whole.bytes, 200));
  });

  it('an object written before row groups (no directory length) reads as one container, as before', () => {
    const groups = decodeRollupObject(whole.bytes, undefined);
    expect(groups.length).toBe(1);
    expect(groups[0]!.rows).toBe(whole.stats.rows);
  });
});
