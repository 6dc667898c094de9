/**
 * Runs queries: takes one revalidated manifest snapshot per shard involved (a 304 when nothing
 * changed, so another instance's commit is visible on the next request), plans, reads segments
 * through the per-instance cache and aggregates. One-account queries read one shard; the rest
 * fan out over all shards in parallel. Until rollups exist every source reads raw segments.
 */
import type { Database } from '../manifest/database.ts';
import type { CommittedManifest } from '../manifest/manifest-store.ts';
import type { DeepReadonly, RawSegmentEntry, ShardManifest } from '../manifest/schema.ts';
import type { RawColumns } from '../segment/raw-format.ts';
import type { RollupColumnName } from '../segment/rollup-format.ts';
import { RAW_COLUMN_NAMES } from '../segment/raw-format.ts';
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

  /** Fresh snapshots of the shards a spec touches. */
  async snapshots(accountId: string | undefined): Promise<Map<number, CommittedManifest>> {
    const shards = accountId === undefined ? this.db.shards : [this.db.shardOf(accountId)];
    const snaps = await Promise.all(shards.map((s) => s.revalidate()));
    return new Map(shards.map((s, i) => [s.shard, snaps[i]!]));
  }

  async aggregate(spec: QuerySpec): Promise<AggregateResult> {
    const snaps = await this.snapshots(spec.accountId);
    const agg = new Aggregator(spec);
    const generations: Record<number, number> = {};
    const plans = [...snaps].map(([shard, snap]) => {
      generations[shard] = snap.manifest.generation;
      return this.plan(snap.manifest, spec);
    });
    const segmentsRead = await this.run(plans, spec, agg);
    return { generations, lines: agg.lines(), segmentsRead, rowsScanned: agg.rowsScanned };
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
    for (const p of plans) {
      for (const seg of p.raw) work.push(async () => agg.add(await this.cache.columns(seg, needed)));
      for (const seg of p.rolledRaw) {
        work.push(async () => {
          const cols = await this.cache.columns(seg, needed);
          for (const e of p.edges) agg.add(cols, e);
        });
      }
      for (const r of p.rollups) {
        work.push(async () => {
          const cols = await this.cache.rollupColumns(r, [...needed.filter((c) => c !== 'ingested_at_ms'), 'event_count'] as RollupColumnName[]);
          agg.add(cols as RawColumns & { event_count?: Float64Array }, p.rollupWindow);
        });
      }
    }
    await forEachLimit(work, this.options.fetchConcurrency, (w) => w());
    return work.length;
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
        segments.push({ id: seg.id, kind: 'raw', rows: Number(total.count), quantity: String(total.quantity), min_ts: seg.min_ts, max_ts: seg.max_ts, rolled_by: seg.rolled_by ?? null });
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
      rollups: this.plan(snap.manifest, { ...base, source: 'auto' }).rollups.map((r) => ({
        id: r.id,
        inputs: r.inputs,
        min_hour: new Date(r.min_hour_ms).toISOString(),
        max_hour: new Date(r.max_hour_ms).toISOString(),
        quantity_sum: r.quantity_sum,
        event_count: r.event_count,
      })),
    };
  }

  /** Recomputes an account's range both ways; any drift is a bug. */
  async verify(accountId: string, from: number, to: number): Promise<Verification> {
    const snap = (await this.snapshots(accountId)).values().next().value!;
    const base = this.accountSpec(accountId, from, to, []);
    const raw = new Aggregator(base);
    const auto = new Aggregator({ ...base, source: 'auto' });
    await this.run([this.plan(snap.manifest, base)], base, raw);
    const autoPlan = this.plan(snap.manifest, { ...base, source: 'auto' });
    await this.run([autoPlan], { ...base, source: 'auto' }, auto);
    const r = raw.lines()[0];
    const a = auto.lines()[0];
    const rt = BigInt(String(r?.quantity ?? '0'));
    const at = BigInt(String(a?.quantity ?? '0'));
    const sealed = snap.manifest.periods.some((p) => {
      if (p.account_id !== accountId || p.state === 'open') return false;
      const [y, m] = p.month.split('-').map(Number) as [number, number];
      return Date.UTC(y, m - 1, 1) < to && Date.UTC(y, m, 1) > from;
    });
    return {
      generation: snap.manifest.generation,
      raw_total: rt.toString(),
      raw_count: Number(r?.count ?? 0),
      rollup_total: at.toString(),
      rollup_count: Number(a?.count ?? 0),
      drift: (at - rt).toString(),
      matches: at === rt && Number(r?.count ?? 0) === Number(a?.count ?? 0),
      rolled_segments: autoPlan.rolledRaw.length,
      unrolled_segments: autoPlan.raw.length,
      rollups: autoPlan.rollups.length,
      period_sealed: sealed,
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
  readonly segments: { id: string; kind: 'raw'; rows: number; quantity: string; min_ts: number; max_ts: number; rolled_by: string | null }[];
  /** Rollups covering the range, with the raw segments each aggregates (provenance). */
  readonly rollups: { id: string; inputs: readonly string[]; min_hour: string; max_hour: string; quantity_sum: string; event_count: number }[];
}

export interface Verification {
  readonly generation: number;
  /** Total and count from a scan of raw segments only. */
  readonly raw_total: string;
  readonly raw_count: number;
  /** Total and count as `auto` answers: rollups + unrolled raw (+ rolled raw for cut hours). */
  readonly rollup_total: string;
  readonly rollup_count: number;
  readonly drift: string;
  readonly matches: boolean;
  readonly rolled_segments: number;
  readonly unrolled_segments: number;
  readonly rollups: number;
  /** Whether a closed (or closing) billing period overlaps the range. */
  readonly period_sealed: boolean;
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
