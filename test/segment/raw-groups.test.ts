/**
 * Grouped lean raw segments (segment/raw-groups.ts over segment/row-groups.ts): for random events
 * the groups in order, joined, decode to exactly the columns one lean container of the same
 * events gives (same rows, order, dictionaries, stats); an account's groups hold exactly its
 * rows, also when it spans several groups; damaged groups, directories and wrong directory
 * lengths are refused with the segment corruption error; a single container reads as before.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { UsageEvent } from '../../src/model/event.ts';
import {
  cutRawGroups,
  decodeRawGroups,
  decodeRawObject,
  decodeRawSegment,
  encodeGroupedRawSegment,
  encodeRawSegment,
  groupsOfAccount,
  groupsRange,
  joinRawColumns,
  rawColumnsToEvents,
  rawDirectoryBytesOf,
  rawDirectoryOf,
} from '../../src/segment/raw.ts';
import { eventArb, realisticEvents } from './arbitraries.ts';
import { expectCorrupt, restamp } from './corruption-helpers.ts';

const bucket = (a: string) => a.length % 7;
const text = (e: UsageEvent) => JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));

/** Random events where every third one belongs to one heavy account, so it spans several groups. */
const eventsArb = fc.array(eventArb, { minLength: 1, maxLength: 60 }).map((events) => events.map((e, i) => (i % 3 === 0 ? { ...e, account_id: 'heavy' } : e)));

describe('grouped lean raw segments', () => {
  it('round trip (random events): the groups in order, joined, decode to exactly the columns and stats of one lean container', () => {
    fc.assert(
      fc.property(eventsArb, fc.integer({ min: 1, max: 9 }), (events, groupRows) => {
        const single = encodeRawSegment(events, bucket, { lean: true });
        const grouped = encodeGroupedRawSegment(events, bucket, { groupRows });
        const dir = rawDirectoryOf(grouped.bytes, grouped.directoryBytes);
        // Same columns as one container: rows, order, dictionaries, quantities, everything.
        expect(decodeRawObject(grouped.bytes, grouped.directoryBytes)).toEqual(decodeRawSegment(single.bytes));
        expect(rawColumnsToEvents(decodeRawObject(grouped.bytes, grouped.directoryBytes)).map(text)).toEqual(
          rawColumnsToEvents(decodeRawSegment(single.bytes)).map(text),
        );
        // Stats of the whole; bytes the whole object; checksum the directory's CRC.
        const { checksum: _a, bytes: _b, ...stats } = grouped.stats;
        const { checksum: _c, bytes: _d, ...singleStats } = single.stats;
        expect(stats).toEqual(singleStats);
        expect(grouped.stats.bytes).toBe(grouped.bytes.length);
        expect(parseInt(grouped.stats.checksum, 16)).toBe(dir.crc);
        // Groups: each a v2 (lean) container of at most groupRows rows, accounts in order.
        expect(dir.groups.reduce((n, g) => n + g.rows, 0)).toBe(events.length);
        for (const g of dir.groups) {
          expect(g.rows).toBeLessThanOrEqual(groupRows);
          expect(grouped.bytes[g.offset + 4]).toBe(2);
        }
        for (let i = 1; i < dir.groups.length; i++) expect(dir.groups[i]!.firstAccount >= dir.groups[i - 1]!.lastAccount).toBe(true);
        // An account fits one group unless it alone is larger than a group.
        const perAccount = new Map<string, number>();
        for (const e of events) perAccount.set(e.account_id, (perAccount.get(e.account_id) ?? 0) + 1);
        for (const [account, n] of perAccount) {
          const { from, to } = groupsOfAccount(dir, account);
          const holding = dir.groups.slice(from, to).filter((g) => g.firstAccount <= account && account <= g.lastAccount).length;
          if (n <= groupRows) expect(holding, account).toBe(1);
          else expect(holding, account).toBe(Math.ceil(n / groupRows));
        }
        // Found without the entry (a replaced segment), and absent for a single container.
        expect(rawDirectoryBytesOf(grouped.bytes)).toBe(grouped.directoryBytes);
        expect(rawDirectoryBytesOf(single.bytes)).toBeUndefined();
      }),
      { numRuns: 150 },
    );
  });

  it("an account's groups, read as one range, hold exactly its rows, also when they span several groups; a time window narrows them", () => {
    fc.assert(
      fc.property(eventsArb, fc.integer({ min: 1, max: 5 }), (events, groupRows) => {
        const grouped = encodeGroupedRawSegment(events, bucket, { groupRows });
        const dir = rawDirectoryOf(grouped.bytes, grouped.directoryBytes);
        for (const account of new Set([...events.map((e) => e.account_id), '', '\uffff'])) {
          const want = events
            .filter((e) => e.account_id === account)
            .map(text)
            .sort();
          const { from, to } = groupsOfAccount(dir, account);
          if (from >= to) {
            expect(want).toEqual([]);
            continue;
          }
          const r = groupsRange(dir, from, to);
          const cols = joinRawColumns(decodeRawGroups(dir, from, to, grouped.bytes.subarray(r.offset, r.offset + r.length)));
          expect(
            rawColumnsToEvents(cols)
              .filter((e) => e.account_id === account)
              .map(text)
              .sort(),
            account,
          ).toEqual(want);
        }
      }),
      { numRuns: 100 },
    );
    // Realistic events: the heavy account spans several groups; a window of its first rows narrows them.
    const events = realisticEvents(3000, 11);
    const grouped = encodeGroupedRawSegment(events, () => 0, { groupRows: 100 });
    const dir = rawDirectoryOf(grouped.bytes, grouped.directoryBytes);
    const counts = new Map<string, number>();
    for (const e of events) counts.set(e.account_id, (counts.get(e.account_id) ?? 0) + 1);
    const heavy = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    const all = groupsOfAccount(dir, heavy);
    expect(all.to - all.from).toBeGreaterThan(2);
    const minTs = Math.min(...events.map((e) => e.timestamp_ms));
    const narrow = groupsOfAccount(dir, heavy, (min, max) => min < minTs + 1 && max >= minTs);
    expect(narrow.to - narrow.from).toBeLessThanOrEqual(all.to - all.from);
  });

  it('cuts keep every event once, in segment order, never more than groupRows a group', () => {
    const events = realisticEvents(1000, 3);
    const groups = cutRawGroups(events, 64);
    expect(groups.flat().length).toBe(events.length);
    expect(groups.every((g) => g.length <= 64 && g.length > 0)).toBe(true);
    const whole = rawColumnsToEvents(decodeRawSegment(encodeRawSegment(events, () => 0, { lean: true }).bytes)).map(text);
    expect(groups.flat().map(text)).toEqual(whole);
  });

  it('a damaged group, a swapped group, a damaged or truncated directory and a wrong directory length are refused with the corruption error', () => {
    const events = realisticEvents(800, 5);
    const grouped = encodeGroupedRawSegment(events, () => 0, { groupRows: 100 });
    const d = grouped.directoryBytes;
    const dir = rawDirectoryOf(grouped.bytes, d);
    expect(dir.groups.length).toBeGreaterThan(4);
    const g2 = dir.groups[2]!;
    const inGroup = grouped.bytes.slice();
    inGroup[g2.offset + Math.floor(g2.length / 2)]! ^= 0x40;
    expectCorrupt(() => decodeRawObject(inGroup, d));
    // Re-stamped: valid alone, but its CRC is not the directory's.
    const restamped = grouped.bytes.slice();
    restamped[g2.offset + Math.floor(g2.length / 2)]! ^= 0x40;
    restamp(restamped.subarray(g2.offset, g2.offset + g2.length));
    expectCorrupt(() => decodeRawObject(restamped, d));
    const inDir = grouped.bytes.slice();
    inDir[grouped.bytes.length - d + 12]! ^= 0x01;
    expectCorrupt(() => decodeRawObject(inDir, d));
    expectCorrupt(() => decodeRawObject(grouped.bytes.subarray(0, grouped.bytes.length - 1), d));
    expectCorrupt(() => decodeRawObject(grouped.bytes, d + 1));
    expectCorrupt(() => decodeRawObject(grouped.bytes, d - 1));
    expectCorrupt(() => decodeRawObject(grouped.bytes, grouped.bytes.length + 1));
    // Groups 3 and 4 read where 2 and 3 should be.
    const r = groupsRange(dir, 2, 4);
    expectCorrupt(() => decodeRawGroups(dir, 3, 5, grouped.bytes.slice(r.offset, r.offset + r.length)));
    // A single container read as grouped: no directory at its end.
    const single = encodeRawSegment(events, () => 0, { lean: true });
    expectCorrupt(() => decodeRawObject(single.bytes, 200));
    // A grouped object read as one container (a build that dropped the field): refused, not misread.
    expectCorrupt(() => decodeRawSegment(grouped.bytes));
  });

  it('an object written before row groups (no directory length) reads as one container, as before', () => {
    const events = realisticEvents(300, 9);
    const single = encodeRawSegment(events, () => 0, { lean: true });
    expect(decodeRawObject(single.bytes, undefined)).toEqual(decodeRawSegment(single.bytes));
    const v1 = encodeRawSegment(events, () => 0);
    expect(decodeRawObject(v1.bytes, undefined)).toEqual(decodeRawSegment(v1.bytes));
  });
});
