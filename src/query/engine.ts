/**
 * Runs queries: takes one revalidated manifest snapshot per shard involved (a 304 when nothing
 * changed, so another instance's commit is visible on the next request), plans, reads segments
 * through the per-instance cache and aggregates. One-account queries read one shard; the rest
 * fan out over all shards in parallel. Until rollups exist every source reads raw segments.
 */
import type { Database } from '../manifest/database.ts';
import type { Snapshot } from '../manifest/manifest-store.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { RAW_COLUMN_NAMES } from '../segment/raw-format.ts';
import { Aggregator, neededColumns, type ResultLine } from './aggregate.ts';
import { auditRows, compareRows, encodeCursor, type AuditRow, type Position } from './audit.ts';
import { planRawSegments } from './planner.ts';
import { SegmentCache } from './segment-cache.ts';
import type { Filter, QuerySpec } from './spec.ts';

export interface QueryOptions {
  /** Bytes of segments (encoded + decoded columns) an instance keeps. */
  readonly cacheBytes: number;
  /** Tests switch pruning off to prove it never changes an answer. */
  readonly prune: boolean;
  /** Segments fetched in parallel per query. */
  readonly fetchConcurrency: number;
}

export const DEFAULT_QUERY_OPTIONS: QueryOptions = { cacheBytes: 256 * 1024 * 1024, prune: true, fetchConcurrency: 16 };

export interface AggregateResult {
  /** Per shard read: the manifest generation the answer was computed from. */
  readonly generations: Record<number, number>;
  readonly lines: ResultLine[];
  readonly segmentsRead: number;
  readonly rowsScanned: number;
}

export class QueryEngine {
  readonly db: Database;
  readonly cache: SegmentCache;
  readonly options: QueryOptions;

  constructor(db: Database, options: Partial<QueryOptions> = {}) {
    this.db = db;
    this.options = { ...DEFAULT_QUERY_OPTIONS, ...options };
    this.cache = new SegmentCache(db.store, this.options.cacheBytes);
  }

  /** Fresh snapshots of the shards a spec touches. */
  async snapshots(accountId: string | undefined): Promise<Map<number, Snapshot>> {
    const shards = accountId === undefined ? this.db.shards : [this.db.shardOf(accountId)];
    const snaps = await Promise.all(shards.map((s) => s.revalidate()));
    return new Map(shards.map((s, i) => [s.shard, snaps[i]!]));
  }

  async aggregate(spec: QuerySpec): Promise<AggregateResult> {
    const snaps = await this.snapshots(spec.accountId);
    const agg = new Aggregator(spec);
    const needed = neededColumns(spec);
    let segmentsRead = 0;
    const generations: Record<number, number> = {};
    const work = [];
    for (const [shard, snap] of snaps) {
      generations[shard] = snap.manifest.generation;
      // source=rollup reads rollups only: none exist until the rollup job runs.
      if (spec.source === 'rollup') continue;
      const plan = planRawSegments(snap.manifest.segments, spec, { bucketCount: this.db.info.bucket_count, prune: this.options.prune });
      work.push(...plan.segments);
    }
    await forEachLimit(work, this.options.fetchConcurrency, async (seg) => {
      const cols = await this.cache.columns(seg, needed);
      agg.add(cols);
      segmentsRead++;
    });
    return { generations, lines: agg.lines(), segmentsRead, rowsScanned: agg.rowsScanned };
  }

  /** One page of an account's raw events in (timestamp_ms, event_id) order. */
  async events(q: EventsQuery): Promise<EventsPage> {
    const snap = (await this.snapshots(q.accountId)).values().next().value!;
    const spec = this.accountSpec(q.accountId, q.from, q.to, q.filters);
    const plan = planRawSegments(snap.manifest.segments, spec, { bucketCount: this.db.info.bucket_count, prune: this.options.prune });
    const rows: AuditRow[] = [];
    await forEachLimit(plan.segments, this.options.fetchConcurrency, async (seg) => {
      const cols = await this.cache.columns(seg, RAW_COLUMN_NAMES);
      rows.push(...auditRows(seg, cols, { ...q, accountId: q.accountId }));
    });
    rows.sort((a, b) => compareRows({ ts: a.timestamp_ms, id: a.event_id }, { ts: b.timestamp_ms, id: b.event_id }));
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const more = rows.length > q.limit && last !== undefined;
    return { generation: snap.manifest.generation, events: page, next_cursor: more ? encodeCursor({ ts: last.timestamp_ms, id: last.event_id }) : null };
  }

  /** Invoice-line breakdown with provenance: which segments contributed, corrections apart. */
  async explain(accountId: string, from: number, to: number): Promise<Explanation> {
    const snap = (await this.snapshots(accountId)).values().next().value!;
    const base = this.accountSpec(accountId, from, to, []);
    const usageSpec: QuerySpec = { ...base, groupBy: INVOICE_GROUP, filters: [{ type: 'column', column: 'kind', values: ['Usage'] }] };
    const plan = planRawSegments(snap.manifest.segments, base, { bucketCount: this.db.info.bucket_count, prune: this.options.prune });
    const lines = new Aggregator(usageSpec);
    const adjustments = new Aggregator({ ...base, filters: [{ type: 'column', column: 'kind', values: ['Correction', 'Retraction'] }] });
    const corrections: AuditRow[] = [];
    const segments: Explanation['segments'] = [];
    await forEachLimit(plan.segments, this.options.fetchConcurrency, async (seg) => {
      const cols = await this.cache.columns(seg, RAW_COLUMN_NAMES);
      lines.add(cols);
      adjustments.add(cols);
      const own = new Aggregator(base);
      own.add(cols);
      const total = own.lines()[0];
      if (total !== undefined) {
        segments.push({ id: seg.id, kind: 'raw', rows: Number(total.count), quantity: String(total.quantity), min_ts: seg.min_ts, max_ts: seg.max_ts });
      }
      for (const row of auditRows(seg, cols, { accountId, from, to, filters: [], cursor: undefined })) if (row.kind !== 'Usage') corrections.push(row);
    });
    corrections.sort((a, b) => compareRows({ ts: a.timestamp_ms, id: a.event_id }, { ts: b.timestamp_ms, id: b.event_id }));
    segments.sort((a, b) => (a.id < b.id ? -1 : 1));
    const adj = adjustments.lines()[0];
    return {
      generation: snap.manifest.generation,
      lines: lines.lines(),
      corrections,
      corrections_quantity: adj === undefined ? '0' : String(adj.quantity),
      segments,
      rollups: [],
    };
  }

  /**
   * Totals of one account over [from, to) computed from a given manifest (e.g. a commit's draft),
   * grouped into invoice lines, with the segments that contributed rows.
   */
  async snapshotFrom(
    segments: readonly DeepReadonly<RawSegmentEntry>[],
    accountId: string,
    from: number,
    to: number,
  ): Promise<{ lines: ResultLine[]; quantity: bigint; count: number; sources: string[] }> {
    const spec: QuerySpec = { ...this.accountSpec(accountId, from, to, []), groupBy: SNAPSHOT_GROUP };
    const plan = planRawSegments(segments, spec, { bucketCount: this.db.info.bucket_count, prune: this.options.prune });
    const agg = new Aggregator(spec);
    const sources: string[] = [];
    await forEachLimit(plan.segments, this.options.fetchConcurrency, async (seg) => {
      const cols = await this.cache.columns(seg, neededColumns(spec));
      const own = new Aggregator({ ...spec, groupBy: [] });
      own.add(cols);
      if (own.lines().length > 0) sources.push(seg.id);
      agg.add(cols);
    });
    const lines = agg.lines();
    return {
      lines,
      quantity: lines.reduce((s, l) => s + BigInt(l.quantity as string), 0n),
      count: lines.reduce((s, l) => s + (l.count as number), 0),
      sources: sources.sort(),
    };
  }

  private accountSpec(accountId: string, from: number, to: number, filters: readonly Filter[]): QuerySpec {
    return { accountId, from, to, groupBy: [], filters, metrics: ['sum', 'count'], source: 'raw', orderBy: [], limit: undefined };
  }
}

export interface EventsQuery {
  readonly accountId: string;
  readonly from: number;
  readonly to: number;
  readonly filters: readonly Filter[];
  readonly limit: number;
  readonly cursor: Position | undefined;
}

export interface EventsPage {
  readonly generation: number;
  readonly events: AuditRow[];
  readonly next_cursor: string | null;
}

export interface Explanation {
  readonly generation: number;
  /** Usage events by invoice line. */
  readonly lines: ResultLine[];
  /** Corrections and retractions, listed apart from the lines. */
  readonly corrections: AuditRow[];
  readonly corrections_quantity: string;
  /** Segments that contributed rows, with what they contributed. */
  readonly segments: { id: string; kind: 'raw'; rows: number; quantity: string; min_ts: number; max_ts: number }[];
  readonly rollups: { id: string; inputs: string[] }[];
}

const SNAPSHOT_GROUP: QuerySpec['groupBy'] = (['product_id', 'meter_id', 'model_id', 'unit'] as const).map((column) => ({ type: 'column', column }));
const INVOICE_GROUP: QuerySpec['groupBy'] = (['product_id', 'meter_id', 'model_id', 'source', 'unit'] as const).map((column) => ({ type: 'column', column }));

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
