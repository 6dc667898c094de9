/**
 * Reads for queries: one revalidated manifest per shard involved (a 304 when nothing changed,
 * so another instance's commit is visible on the next request), plans the sources, reads
 * segments through the per-instance cache and aggregates. One-account queries read one shard;
 * the rest fan out over all shards in parallel. Explain, verify and period totals are built on
 * it (explain.ts, verify.ts, period/period-totals.ts).
 */
import type { Database } from '../manifest/database.ts';
import type { CommittedManifest } from '../manifest/manifest-store.ts';
import { forEachLimit } from '../lib/pool.ts';
import type { DeepReadonly, RawSegmentEntry, ShardManifest } from '../manifest/schema.ts';
import { joinRawColumns, RAW_COLUMN_NAMES, type RawColumnName, type RawColumns } from '../segment/raw.ts';
import type { RollupColumnName } from '../segment/rollup.ts';
import { Aggregator, neededColumns, type ResultLine } from './aggregate.ts';
import { auditRows, compareRows, encodeCursor, type AuditRow, type Position } from './audit.ts';
import { planRawSegments, planSources, type SourcePlan } from './planner.ts';
import { SegmentCache } from './segment-cache.ts';
import type { Filter, QuerySpec } from './spec.ts';

export interface QueryOptions {
  /** Bytes of segments (encoded + decoded columns) an instance keeps. */
  readonly cacheBytes: number;
  /** Tests switch pruning off to prove it never changes an answer. */
  readonly prune: boolean;
  /** Segments fetched in parallel per query. */
  readonly fetchConcurrency: number;
  /** Whether concurrent queries share one fetch of a segment (false on Workers: see SegmentCache). */
  readonly shareFetches: boolean;
}

export const DEFAULT_QUERY_OPTIONS: QueryOptions = { cacheBytes: 256 * 1024 * 1024, prune: true, fetchConcurrency: 16, shareFetches: true };

export interface AggregateResult {
  /** Per shard read: the manifest generation the answer was computed from. */
  readonly generations: Record<number, number>;
  /** Per shard read: the manifest the answer was computed from (for what a route reports beside it). */
  readonly manifests: ReadonlyMap<number, DeepReadonly<ShardManifest>>;
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
    this.cache = new SegmentCache(db.store, this.options.cacheBytes, this.options.shareFetches);
  }

  /** Revalidated manifests of the shards a query touches (one account: its shard; else all). */
  async freshManifests(accountId: string | undefined): Promise<Map<number, CommittedManifest>> {
    const shards = accountId === undefined ? this.db.shards : [this.db.shardOf(accountId)];
    const snaps = await Promise.all(shards.map((s) => s.revalidate()));
    return new Map(shards.map((s, i) => [s.shard, snaps[i]!]));
  }

  async aggregate(spec: QuerySpec): Promise<AggregateResult> {
    const snaps = await this.freshManifests(spec.accountId);
    const agg = new Aggregator(spec);
    const generations: Record<number, number> = {};
    const plans = [...snaps].map(([shard, snap]) => {
      generations[shard] = snap.manifest.generation;
      return this.plan(snap.manifest, spec);
    });
    const segmentsRead = await this.run(plans, spec, agg);
    const lines = agg.lines();
    // An ungrouped total is one line even over nothing: a billing client never special-cases empty.
    if (spec.groupBy.length === 0 && lines.length === 0 && spec.limit !== 0) lines.push(zeroLine(spec));
    const manifests = new Map([...snaps].map(([shard, snap]) => [shard, snap.manifest]));
    return { generations, manifests, lines, segmentsRead, rowsScanned: agg.rowsScanned };
  }

  /** The sources a spec reads in one shard's manifest. */
  plan(m: DeepReadonly<ShardManifest>, spec: QuerySpec): SourcePlan {
    return planSources(m, spec, { bucketCount: this.db.info.bucket_count, prune: this.options.prune });
  }

  /** Feeds every planned source into `agg`; returns how many segments were read. */
  async run(plans: readonly SourcePlan[], spec: QuerySpec, agg: Aggregator): Promise<number> {
    const needed = neededColumns(spec);
    type Work = () => Promise<void>;
    const work: Work[] = [];
    // A one-account query reads only the account's row groups of a grouped raw segment.
    const window = { from: spec.from, to: spec.to };
    for (const p of plans) {
      for (const seg of p.raw) {
        work.push(async () => {
          for (const cols of await this.cache.rawColumns(seg, needed, spec.accountId, window)) agg.add(cols);
        });
      }
      // Read only for the edges (auto's cut hours; for source=rollup, its window, which may end after `to`).
      const edgeSpan = p.edges.length === 0 ? window : { from: Math.min(...p.edges.map((e) => e.from)), to: Math.max(...p.edges.map((e) => e.to)) };
      for (const seg of p.rolledRaw) {
        work.push(async () => {
          for (const cols of await this.cache.rawColumns(seg, needed, spec.accountId, edgeSpan)) for (const e of p.edges) agg.add(cols, e);
        });
      }
      for (const r of p.rollups) {
        work.push(async () => {
          const groups = await this.cache.rollupColumns(
            r,
            [...needed.filter((c) => c !== 'ingested_at_ms'), 'event_count'] as RollupColumnName[],
            spec.accountId,
            p.rollupWindow,
          );
          for (const cols of groups) agg.add(cols as RawColumns & { event_count?: Float64Array }, p.rollupWindow);
        });
      }
    }
    await forEachLimit(work, this.options.fetchConcurrency, (w) => w());
    return work.length;
  }

  /** One page of an account's raw events in (timestamp_ms, event_id) order. */
  async events(q: EventsQuery): Promise<EventsPage> {
    const snap = await this.accountManifest(q.accountId);
    // Each segment gives at most limit + 1 rows (the first in order); the page is the first of all.
    let rows: AuditRow[] = [];
    const order = (a: AuditRow, b: AuditRow) => compareRows({ ts: a.timestamp_ms, id: a.event_id }, { ts: b.timestamp_ms, id: b.event_id });
    await this.forEachSegment(
      this.rawSegments(snap.manifest.segments, accountSpec(q.accountId, q.from, q.to, q.filters)),
      RAW_COLUMN_NAMES,
      (seg, cols) => {
        for (const row of auditRows(seg, cols, { ...q, accountId: q.accountId, limit: q.limit + 1 })) rows.push(row);
        if (rows.length > 4 * (q.limit + 1)) rows = rows.sort(order).slice(0, q.limit + 1);
      },
      q,
    );
    rows.sort(order);
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const more = rows.length > q.limit && last !== undefined;
    return { generation: snap.manifest.generation, events: page, next_cursor: more ? encodeCursor({ ts: last.timestamp_ms, id: last.event_id }) : null };
  }

  /** The revalidated manifest of an account's shard. */
  async accountManifest(accountId: string): Promise<CommittedManifest> {
    return this.db.shardOf(accountId).revalidate();
  }

  /** The raw segments that may hold rows of `spec` (pruned by bucket, time and value sets). */
  rawSegments(segments: readonly DeepReadonly<RawSegmentEntry>[], spec: QuerySpec): readonly DeepReadonly<RawSegmentEntry>[] {
    return planRawSegments(segments, spec, { bucketCount: this.db.info.bucket_count, prune: this.options.prune }).segments;
  }

  /**
   * Reads each segment's columns (at most `fetchConcurrency` at a time) and hands them to `fn`,
   * once per segment. With `scope`, a grouped segment gives only the row groups that may hold the
   * account's rows in [from, to) (joined); `fn` must then look at that account's rows only.
   */
  async forEachSegment(
    segments: readonly DeepReadonly<RawSegmentEntry>[],
    columns: readonly RawColumnName[],
    fn: (seg: DeepReadonly<RawSegmentEntry>, cols: RawColumns) => void,
    scope?: { readonly accountId: string; readonly from: number; readonly to: number },
  ): Promise<void> {
    await forEachLimit(segments, this.options.fetchConcurrency, async (seg) => {
      if (scope === undefined) return fn(seg, await this.cache.columns(seg, columns));
      const groups = await this.cache.rawColumns(seg, columns, scope.accountId, scope);
      if (groups.length > 0) fn(seg, joinRawColumns(groups));
    });
  }
}

/** The line of an ungrouped total over no events: zero of each requested metric. */
function zeroLine(spec: QuerySpec): ResultLine {
  return { ...(spec.metrics.includes('sum') ? { quantity: '0' } : {}), ...(spec.metrics.includes('count') ? { count: 0 } : {}) };
}

/** An account's raw totals over [from, to): the spec explain, verify and period totals start from. */
export function accountSpec(accountId: string, from: number, to: number, filters: readonly Filter[] = []): QuerySpec {
  return { accountId, from, to, groupBy: [], filters, metrics: ['sum', 'count'], source: 'raw', orderBy: [], limit: undefined };
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
