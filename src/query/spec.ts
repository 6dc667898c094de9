/**
 * The one shape every query takes after parsing (HTTP query strings, JSON queries and the SQL
 * subset all produce a QuerySpec), so planning and execution have a single input.
 */

/** Columns that can be grouped by and filtered on. */
export const COLUMNS = ['account_id', 'subscription_id', 'product_id', 'meter_id', 'model_id', 'source', 'unit', 'kind'] as const;
export type Column = (typeof COLUMNS)[number];

/** Time buckets (UTC) that can be grouped by. */
export const TIME_BUCKETS = ['hour', 'day', 'month'] as const;
export type TimeBucket = (typeof TIME_BUCKETS)[number];

export type GroupKey =
  | { readonly type: 'column'; readonly column: Column }
  | { readonly type: 'time'; readonly bucket: TimeBucket }
  | { readonly type: 'dimension'; readonly key: string };

/** An equality (or IN) filter: the row matches when its value is one of `values`. */
export type Filter =
  | { readonly type: 'column'; readonly column: Column; readonly values: readonly string[] }
  | { readonly type: 'dimension'; readonly key: string; readonly values: readonly string[] };

export type Metric = 'sum' | 'count';
export type Source = 'auto' | 'raw' | 'rollup';

export interface OrderBy {
  /** `sum`, `count`, or the name of a group key (as it appears in result lines). */
  readonly key: string;
  readonly desc: boolean;
}

export interface QuerySpec {
  /** One account (reads one shard), or every account (fans out over all shards). */
  readonly accountId: string | undefined;
  /** Half-open [from, to) in ms since the epoch, UTC. */
  readonly from: number;
  readonly to: number;
  readonly groupBy: readonly GroupKey[];
  readonly filters: readonly Filter[];
  readonly metrics: readonly Metric[];
  readonly source: Source;
  readonly orderBy: readonly OrderBy[];
  readonly limit: number | undefined;
}

/** The name a group key has in result lines and in `order_by`. */
export function groupKeyName(k: GroupKey): string {
  return k.type === 'column' ? k.column : k.type === 'time' ? k.bucket : `dim:${k.key}`;
}

/**
 * The value of dimension `key` in a decoded dimensions map, or null: an own property only, so a
 * key named like an Object property (`toString`, `constructor`, `__proto__`, `valueOf`,
 * `hasOwnProperty`) is an ordinary key — absent unless the event has it — never the inherited one.
 */
export function dimensionValue(m: Readonly<Record<string, string>>, key: string): string | null {
  if (!Object.hasOwn(m, key)) return null;
  const v = m[key];
  return typeof v === 'string' ? v : null;
}
