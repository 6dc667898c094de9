/**
 * What an export reads: the live raw segments of one revalidated manifest snapshot per shard
 * (exactly the events queries count), pruned by the query planner, each fetched and decoded
 * once, one segment in memory at a time (plus one prefetched). Runtime-neutral.
 */
import { readRawSegmentBytes } from '../objects/segment-objects.ts';
import type { Database } from '../manifest/database.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { planRawSegments } from '../query/planner.ts';
import type { QuerySpec } from '../query/spec.ts';
import { SegmentCorruptError } from '../segment/errors.ts';
import type { RawColumns } from '../segment/raw.ts';
import { decodeRawObject } from '../segment/raw.ts';
import type { ObjectStore } from '../store/types.ts';

export interface ExportFilter {
  /** One account (reads one shard), or every account. */
  readonly accountId?: string | undefined;
  /** Half-open [from, to) on timestamp_ms; open-ended when absent. */
  readonly from?: number | undefined;
  readonly to?: number | undefined;
}

export interface ExportPlan {
  readonly filter: ExportFilter;
  /** Manifest generation read, per shard read. */
  readonly generations: Record<number, number>;
  readonly segments: readonly { readonly shard: number; readonly entry: DeepReadonly<RawSegmentEntry> }[];
  /** Rows in the planned segments (an upper bound of the rows exported). */
  readonly rowsPlanned: number;
}

/** One decoded segment and the rows of it that pass the filter, in segment order. */
export interface ExportBatch {
  readonly shard: number;
  readonly segment: DeepReadonly<RawSegmentEntry>;
  readonly cols: RawColumns;
  readonly rows: Uint32Array;
}

export async function planExport(db: Database, filter: ExportFilter): Promise<ExportPlan> {
  const shards = filter.accountId === undefined ? db.shards : [db.shardOf(filter.accountId)];
  const snaps = await Promise.all(shards.map((s) => s.revalidate()));
  const spec: QuerySpec = {
    accountId: filter.accountId,
    from: filter.from ?? Number.MIN_SAFE_INTEGER,
    to: filter.to ?? Number.MAX_SAFE_INTEGER,
    groupBy: [],
    filters: [],
    metrics: ['sum', 'count'],
    source: 'raw',
    orderBy: [],
    limit: undefined,
  };
  const generations: Record<number, number> = {};
  const segments: { shard: number; entry: DeepReadonly<RawSegmentEntry> }[] = [];
  let rowsPlanned = 0;
  shards.forEach((shard, i) => {
    const m = snaps[i]!.manifest;
    generations[shard.shard] = m.generation;
    for (const entry of planRawSegments(m.segments, spec, { bucketCount: db.info.bucket_count }).segments) {
      segments.push({ shard: shard.shard, entry });
      rowsPlanned += entry.rows;
    }
  });
  return { filter, generations, segments, rowsPlanned };
}

async function fetchSegment(store: ObjectStore, seg: DeepReadonly<RawSegmentEntry>): Promise<Uint8Array> {
  return readRawSegmentBytes(store, seg, '; if compaction replaced it during the export and GC collected it, run the export again');
}

/** The rows of a decoded segment that pass the filter. */
export function matchingRows(cols: RawColumns, filter: ExportFilter): Uint32Array {
  const ts = cols.timestamp_ms!;
  const acc = cols.account_id!;
  const from = filter.from ?? -Infinity;
  const to = filter.to ?? Infinity;
  const code = filter.accountId === undefined ? -1 : acc.dict.indexOf(filter.accountId);
  if (filter.accountId !== undefined && code < 0) return new Uint32Array(0);
  const out = new Uint32Array(cols.rows);
  let n = 0;
  for (let r = 0; r < cols.rows; r++) {
    if (code >= 0 && acc.codes[r] !== code) continue;
    const t = ts[r]!;
    if (t < from || t >= to) continue;
    out[n++] = r;
  }
  return n === cols.rows ? out : out.slice(0, n);
}

/**
 * Reads the planned segments in order, each exactly once, prefetching the next one while the
 * caller consumes the current batch. `onSegment` is told after each segment (progress).
 */
export async function* readExport(store: ObjectStore, plan: ExportPlan, onSegment?: (done: number) => void): AsyncGenerator<ExportBatch> {
  const segs = plan.segments;
  let pending: Promise<Uint8Array> | undefined = segs.length > 0 ? fetchSegment(store, segs[0]!.entry) : undefined;
  for (let i = 0; i < segs.length; i++) {
    const bytes = await pending!;
    // Start the next fetch now; a failure surfaces when it is awaited.
    pending = i + 1 < segs.length ? fetchSegment(store, segs[i + 1]!.entry) : undefined;
    pending?.catch(() => undefined);
    const { shard, entry } = segs[i]!;
    const cols = decodeRawObject(bytes, entry.directory_bytes);
    if (cols.rows !== entry.rows) throw new SegmentCorruptError(`segment ${entry.id}: ${cols.rows} rows, its manifest entry says ${entry.rows}`);
    const rows = matchingRows(cols, plan.filter);
    if (rows.length > 0) yield { shard, segment: entry, cols, rows };
    onSegment?.(i + 1);
  }
}
