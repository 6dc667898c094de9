/**
 * How compaction sizes its outputs (issue 15 item 6): by rows and estimated bytes, not one
 * segment per (UTC day, bucket). Rows are taken in (day, bucket) order; partitions small enough
 * are packed together — adjacent buckets of a day, then the next day — until an output reaches
 * `packBytes`; a partition larger than that gets segments of its own, split evenly into pieces
 * of at most `targetBytes` and `targetRows`. So one day of a small tenant is one segment, not
 * bucket_count tiny ones, and a large partition still keeps its rows apart from the others'.
 * Pure functions: no I/O.
 */

export interface OutputSizing {
  /** Small partitions are packed into one output until it would exceed this (estimated bytes). */
  readonly packBytes: number;
  /** A partition larger than `packBytes` is split into pieces of about this many bytes at most. */
  readonly targetBytes: number;
  /** No output holds more rows than this. */
  readonly targetRows: number;
}

/** A split piece of a large partition holds at least this many rows (estimates are rough). */
const MIN_SPLIT_ROWS = 1000;
/**
 * Estimates are sums of per-row fractions (segment bytes / rows): a group of small segments whose
 * bytes sum to exactly `packBytes` must still pack into one output despite rounding.
 */
const SLACK = 1 + 1e-9;

/**
 * Groups rows into outputs. `partitionOf` gives each row's (day, bucket) partition as one
 * sortable number (day × bucket_count + bucket); `bytesOf` its estimated encoded size.
 * Every row lands in exactly one output; no output is empty.
 */
export function planOutputs<T>(rows: readonly T[], partitionOf: (row: T) => number, bytesOf: (row: T) => number, s: OutputSizing): T[][] {
  const partitions = new Map<number, { rows: T[]; bytes: number }>();
  for (const r of rows) {
    const k = partitionOf(r);
    let p = partitions.get(k);
    if (p === undefined) partitions.set(k, (p = { rows: [], bytes: 0 }));
    p.rows.push(r);
    p.bytes += bytesOf(r);
  }
  const outputs: T[][] = [];
  let packed: T[] = [];
  let packedBytes = 0;
  for (const k of [...partitions.keys()].sort((a, b) => a - b)) {
    const p = partitions.get(k)!;
    if (p.bytes > s.packBytes * SLACK || p.rows.length > s.targetRows) {
      outputs.push(...split(p.rows, p.bytes, s));
      continue;
    }
    if (packed.length > 0 && (packedBytes + p.bytes > s.packBytes * SLACK || packed.length + p.rows.length > s.targetRows)) {
      outputs.push(packed);
      packed = [];
      packedBytes = 0;
    }
    // A loop, not push(...rows): spreading a large partition overflows the call stack.
    for (const r of p.rows) packed.push(r);
    packedBytes += p.bytes;
  }
  if (packed.length > 0) outputs.push(packed);
  return outputs;
}

/** A large partition in even pieces within both targets (no tiny remainder left to re-merge). */
function split<T>(rows: T[], bytes: number, s: OutputSizing): T[][] {
  const wanted = Math.max(Math.ceil(bytes / s.targetBytes), Math.ceil(rows.length / s.targetRows));
  const pieces = Math.max(1, Math.min(wanted, Math.floor(rows.length / MIN_SPLIT_ROWS)));
  const size = Math.ceil(rows.length / pieces);
  const out: T[][] = [];
  for (let at = 0; at < rows.length; at += size) out.push(rows.slice(at, at + size));
  return out;
}

/** What the small-segment re-merge rule needs of a compacted segment entry. */
export interface SizedSegment {
  readonly min_ts: number;
  readonly rows: number;
  readonly bytes: number;
  readonly buckets: readonly number[];
}

/**
 * Small compacted segments in groups that merging shrinks: in (first day, first bucket) order,
 * consecutive segments whose bytes sum to at most `packBytes` and rows to at most `targetRows`,
 * at most `maxSegments` (one run's input bound), two or more per group. Each group fits one
 * packed output and one run, so merging it lowers the segment count — a lone small segment is
 * never rewritten unchanged.
 */
export function smallGroups<T extends SizedSegment>(
  small: readonly T[],
  dayMs: number,
  s: Pick<OutputSizing, 'packBytes' | 'targetRows'> & { readonly maxSegments: number },
): T[][] {
  const order = (seg: T) => [Math.floor(seg.min_ts / dayMs), seg.buckets[0] ?? 0] as const;
  const sorted = [...small].sort((a, b) => {
    const [da, ba] = order(a);
    const [db, bb] = order(b);
    return da - db || ba - bb;
  });
  const groups: T[][] = [];
  let group: T[] = [];
  let bytes = 0;
  let rows = 0;
  for (const seg of sorted) {
    if (group.length > 0 && (bytes + seg.bytes > s.packBytes || rows + seg.rows > s.targetRows || group.length >= s.maxSegments)) {
      if (group.length >= 2) groups.push(group);
      group = [];
      bytes = 0;
      rows = 0;
    }
    group.push(seg);
    bytes += seg.bytes;
    rows += seg.rows;
  }
  if (group.length >= 2) groups.push(group);
  return groups;
}
