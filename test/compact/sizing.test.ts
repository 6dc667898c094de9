/**
 * Compaction output sizing (issue 15 item 6): small (day, bucket) partitions are packed into one
 * output up to the pack size, large ones split evenly within the byte and row targets, every row
 * in exactly one output; small compacted segments are re-merged only in groups that fit one output.
 */
import { describe, expect, it } from 'vitest';
import { planOutputs, smallGroups, type OutputSizing } from '../../src/compact/sizing.ts';

const MIB = 1024 * 1024;
const DAY = 86_400_000;
const SIZING: OutputSizing = { packBytes: 2 * MIB, targetBytes: 16 * MIB, targetRows: 1_000_000 };
const LIMITS = { ...SIZING, maxSegments: 64 };

interface Row {
  readonly id: number;
  readonly partition: number;
  readonly bytes: number;
}

function rows(partitions: readonly { partition: number; rows: number; bytes: number }[]): Row[] {
  let id = 0;
  return partitions.flatMap((p) => Array.from({ length: p.rows }, () => ({ id: id++, partition: p.partition, bytes: p.bytes })));
}

const plan = (rs: readonly Row[], s: OutputSizing = SIZING) =>
  planOutputs(
    rs,
    (r) => r.partition,
    (r) => r.bytes,
    s,
  );

function expectEveryRowOnce(input: readonly Row[], outputs: readonly (readonly Row[])[]): void {
  const ids = outputs.flat().map((r) => r.id);
  expect(ids.length).toBe(input.length);
  expect(new Set(ids).size).toBe(input.length);
  expect(outputs.every((o) => o.length > 0)).toBe(true);
}

describe('compaction output sizing', () => {
  it('packs one day of 64 small bucket partitions into one output', () => {
    const input = rows(Array.from({ length: 64 }, (_, b) => ({ partition: 20_000 * 64 + b, rows: 5, bytes: 20 })));
    const out = plan(input);
    expect(out.length).toBe(1);
    expectEveryRowOnce(input, out);
  });

  it('packs adjacent days while small, and starts a new output when the pack size would be exceeded', () => {
    // 30 days x 4 buckets of 10 rows x 20 bytes: 24,000 bytes in all, one output.
    const month = rows(Array.from({ length: 120 }, (_, i) => ({ partition: i, rows: 10, bytes: 20 })));
    expect(plan(month).length).toBe(1);
    // Partitions of 0.6 of the pack size: two never fit together, so each is its own output.
    const big = rows(Array.from({ length: 3 }, (_, i) => ({ partition: i, rows: 6, bytes: (0.6 * 2 * MIB) / 6 })));
    const out = plan(big);
    expect(out.map((o) => o.length)).toEqual([6, 6, 6]);
    expectEveryRowOnce(big, out);
  });

  it('splits a large partition evenly within the byte target and keeps it apart from the small ones', () => {
    // 5,000 rows of 10 KB (about 48 MiB) between two small partitions: 3 even pieces of its own.
    const input = rows([
      { partition: 1, rows: 10, bytes: 20 },
      { partition: 2, rows: 5000, bytes: 10_000 },
      { partition: 3, rows: 10, bytes: 20 },
    ]);
    const out = plan(input);
    expectEveryRowOnce(input, out);
    const large = out.filter((o) => o.every((r) => r.partition === 2));
    expect(large.map((o) => o.length)).toEqual([1667, 1667, 1666]);
    const small = out.filter((o) => o.some((r) => r.partition !== 2));
    expect(small.length).toBe(1);
    expect(small[0]!.map((r) => r.partition).sort()).toEqual([...Array(10).fill(1), ...Array(10).fill(3)]);
  });

  it('splits by rows too: no output above targetRows, no piece below 1,000 rows', () => {
    const input = rows([{ partition: 7, rows: 5000, bytes: 1 }]);
    expect(plan(input, { ...SIZING, targetRows: 2000 }).map((o) => o.length)).toEqual([1667, 1667, 1666]);
    // A tiny row target cannot make pieces of fewer than 1,000 rows.
    expect(plan(input, { ...SIZING, targetRows: 10 }).map((o) => o.length)).toEqual([1000, 1000, 1000, 1000, 1000]);
    // Packing stops at targetRows as well.
    const many = rows(Array.from({ length: 10 }, (_, i) => ({ partition: i, rows: 300, bytes: 1 })));
    expect(plan(many, { ...SIZING, targetRows: 1000 }).map((o) => o.length)).toEqual([900, 900, 900, 300]);
  });

  it('a group of segments whose estimated bytes sum to exactly the pack size is one output despite rounding', () => {
    // Per-row estimates are segment bytes / rows: 1 MiB over 2 rows, then 1 MiB over 21 rows
    // (21 additions of MIB / 21 come to a little more than 1 MiB in floating point).
    const input = [
      ...rows([{ partition: 1, rows: 2, bytes: MIB / 2 }]),
      ...rows([{ partition: 2, rows: 21, bytes: MIB / 21 }]).map((r) => ({ ...r, id: r.id + 2 })),
    ];
    expect(plan(input).length).toBe(1);
  });

  it('groups small compacted segments in day order only where a group fits one output', () => {
    const seg = (id: string, day: number, bucket: number, mib: number, rows = 100) => ({
      id,
      min_ts: day * DAY + 5,
      rows,
      bytes: mib * MIB,
      buckets: [bucket],
    });
    const segs = [seg('c', 3, 0, 0.9), seg('a', 1, 5, 0.9), seg('b', 1, 9, 0.9), seg('d', 4, 1, 0.3), seg('e', 9, 0, 0.1)];
    // a + b = 1.8 MiB; c + d + e = 1.3 MiB. A lone segment never forms a group.
    expect(smallGroups(segs, DAY, LIMITS).map((g) => g.map((s) => s.id))).toEqual([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
    expect(smallGroups([seg('x', 1, 0, 0.9)], DAY, LIMITS)).toEqual([]);
    expect(smallGroups([seg('x', 1, 0, 0.9), seg('y', 2, 0, 1.5)], DAY, LIMITS)).toEqual([]);
    // Rows bound a group too: three 1,000-row pieces of a split partition are not merged back.
    const pieces = [seg('p', 1, 0, 0.1, 1000), seg('q', 1, 0, 0.1, 1000), seg('r', 1, 0, 0.1, 1000)];
    expect(smallGroups(pieces, DAY, { ...LIMITS, targetRows: 1000 })).toEqual([]);
    expect(smallGroups(pieces, DAY, { ...LIMITS, targetRows: 2000 }).map((g) => g.map((s) => s.id))).toEqual([['p', 'q']]);
    // And a run's input bound: 5 tiny segments, at most 2 a group.
    const tiny = ['t1', 't2', 't3', 't4', 't5'].map((id, i) => seg(id, i, 0, 0.01));
    expect(smallGroups(tiny, DAY, { ...LIMITS, maxSegments: 2 }).map((g) => g.map((s) => s.id))).toEqual([
      ['t1', 't2'],
      ['t3', 't4'],
    ]);
  });
});
