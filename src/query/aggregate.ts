/**
 * Aggregates raw segment columns into result lines: filters and groups on dictionary codes per
 * segment, then merges segments by decoded values. Sums are exact: small quantities accumulate
 * in a Number kept below 2^53 and spill into a BigInt; large ones go to the BigInt directly.
 */
import { EVENT_KINDS } from '../model/event.ts';
import type { RawColumnName, RawColumns } from '../segment/raw.ts';
import { dimensionValue, groupKeyName, type Column, type GroupKey, type QuerySpec } from './spec.ts';
import { timeBucketer } from './time-buckets.ts';

const SPILL = 2 ** 52;

/** Exact running sum: `small` stays within ±2^53, `big` takes the rest. */
export class ExactSum {
  small = 0;
  big = 0n;
  add(q: number, bigValue: bigint | undefined): void {
    if (bigValue !== undefined) {
      this.big += bigValue;
      return;
    }
    if (q >= SPILL || q <= -SPILL) {
      this.big += BigInt(q);
      return;
    }
    this.small += q;
    if (this.small >= SPILL || this.small <= -SPILL) {
      this.big += BigInt(this.small);
      this.small = 0;
    }
  }
  merge(o: ExactSum): void {
    this.big += o.big + BigInt(o.small);
  }
  value(): bigint {
    return this.big + BigInt(this.small);
  }
}

interface Acc {
  readonly values: (string | null)[];
  readonly sum: ExactSum;
  count: number;
  /** The single unit of the line's events, or null when they mix units. */
  unit: string | null | undefined;
}

export interface ResultLine {
  [key: string]: string | number | null;
}

/** Columns a spec needs decoded. */
export function neededColumns(spec: QuerySpec): RawColumnName[] {
  const cols = new Set<RawColumnName>(['timestamp_ms', 'unit']);
  if (spec.accountId !== undefined) cols.add('account_id');
  if (spec.metrics.includes('sum')) cols.add('quantity');
  const add = (c: Column) => cols.add(c as RawColumnName);
  for (const g of spec.groupBy) g.type === 'column' ? add(g.column) : g.type === 'dimension' ? cols.add('dimensions') : undefined;
  for (const f of spec.filters) f.type === 'column' ? add(f.column) : cols.add('dimensions');
  return [...cols];
}

/** Index of `v` in a sorted dictionary, or -1. */
function dictIndex(dict: readonly (string | null)[], v: string): number {
  let lo = 0;
  let hi = dict.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const d = dict[mid];
    if (d === v) return mid;
    if (d === null || d === undefined || d < v) lo = mid + 1;
    else hi = mid - 1;
  }
  // Dictionaries are sorted, but fall back to a scan rather than trust it blindly.
  return dict.indexOf(v);
}

/** First index in the sorted `codes[from, to)` whose code is >= `code`. */
function lowerBound(codes: Uint32Array, code: number, from: number, to: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (codes[mid]! < code) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Per-segment row → small integer code for one group key, and code → value. */
interface Coder {
  readonly radix: number;
  code(row: number): number;
  value(code: number): string | null;
}

export class Aggregator {
  private readonly spec: QuerySpec;
  private readonly groups = new Map<string, Acc>();
  rowsScanned = 0;

  constructor(spec: QuerySpec) {
    this.spec = spec;
  }

  /**
   * Adds one segment's matching rows: raw rows count one event each, rollup rows count their
   * `event_count`. `window` narrows the time range for this segment (edge hours of rolled data).
   */
  add(cols: RawColumns & { event_count?: Float64Array }, window?: { from: number; to: number }): void {
    const { spec } = this;
    const rows = cols.rows;
    let lo = 0;
    let hi = rows;
    if (spec.accountId !== undefined) {
      const acc = cols.account_id!;
      const code = dictIndex(acc.dict, spec.accountId);
      if (code < 0) return;
      // Rows are sorted by account and the dictionary is sorted: the account's rows are one run.
      const codes = acc.codes;
      lo = lowerBound(codes, code, 0, rows);
      hi = lowerBound(codes, code + 1, lo, rows);
    }
    const mask = this.rowMask(cols);
    const coders = spec.groupBy.map((g) => this.coder(g, cols));
    const ts = cols.timestamp_ms!;
    const q = cols.quantity;
    const bigQ = cols.bigQuantities;
    const unitCodes = cols.unit!.codes;
    const from = window?.from ?? spec.from;
    const to = window?.to ?? spec.to;
    const counts = cols.event_count;
    const local = new Map<number | string, { sum: ExactSum; count: number; unit: number }>();
    // Mixed-radix numeric group keys while they stay exact; string keys beyond 2^52 combinations.
    const numeric = coders.reduce((p, c) => p * c.radix, 1) < SPILL;
    for (let r = lo; r < hi; r++) {
      const t = ts[r]!;
      if (t < from || t >= to) continue;
      if (mask !== undefined && !mask(r)) continue;
      let key: number | string = 0;
      if (numeric) for (let i = 0; i < coders.length; i++) key = key * coders[i]!.radix + coders[i]!.code(r);
      else key = coders.map((c) => c.code(r)).join(',');
      let a = local.get(key);
      if (a === undefined) local.set(key, (a = { sum: new ExactSum(), count: 0, unit: unitCodes[r]! }));
      else if (a.unit !== unitCodes[r]) a.unit = -1;
      if (q !== undefined) a.sum.add(q[r]!, Number.isNaN(q[r]!) ? bigQ?.get(r) : undefined);
      a.count += counts === undefined ? 1 : counts[r]!;
    }
    this.rowsScanned += hi - lo;
    for (const [key, a] of local) {
      const values: (string | null)[] = new Array(coders.length);
      if (typeof key === 'string') for (const [i, c] of key.split(',').entries()) values[i] = coders[i]!.value(Number(c));
      else {
        let k = key;
        for (let i = coders.length - 1; i >= 0; i--) {
          const c = coders[i]!;
          values[i] = c.value(k % c.radix);
          k = Math.floor(k / c.radix);
        }
      }
      const id = JSON.stringify(values);
      const unit = a.unit < 0 ? null : cols.unit!.dict[a.unit]!;
      const g = this.groups.get(id);
      if (g === undefined) this.groups.set(id, { values, sum: a.sum, count: a.count, unit });
      else {
        g.sum.merge(a.sum);
        g.count += a.count;
        if (g.unit !== unit) g.unit = null;
      }
    }
  }

  /** Lines ordered by `order_by` (default: group values ascending), limited. */
  lines(): ResultLine[] {
    const names = this.spec.groupBy.map(groupKeyName);
    const withSum = this.spec.metrics.includes('sum');
    const withCount = this.spec.metrics.includes('count');
    const accs = [...this.groups.values()];
    const cmpValues = (a: Acc, b: Acc) => {
      for (let i = 0; i < a.values.length; i++) {
        const x = a.values[i] ?? '';
        const y = b.values[i] ?? '';
        if (x !== y) return x < y ? -1 : 1;
      }
      return 0;
    };
    const order = this.spec.orderBy;
    accs.sort((a, b) => {
      for (const o of order) {
        let c = 0;
        if (o.key === 'sum') {
          const d = a.sum.value() - b.sum.value();
          c = d === 0n ? 0 : d < 0n ? -1 : 1;
        } else if (o.key === 'count') c = a.count - b.count;
        else {
          const i = names.indexOf(o.key);
          const x = a.values[i] ?? '';
          const y = b.values[i] ?? '';
          c = x === y ? 0 : x < y ? -1 : 1;
        }
        if (c !== 0) return o.desc ? -c : c;
      }
      return cmpValues(a, b);
    });
    const limited = this.spec.limit === undefined ? accs : accs.slice(0, this.spec.limit);
    return limited.map((a) => {
      // Null prototype: a line is a plain record of its group keys and metrics, nothing inherited.
      const line: ResultLine = Object.create(null);
      for (const [i, n] of names.entries()) line[n] = a.values[i]!;
      if (withSum) line.quantity = a.sum.value().toString();
      if (withCount) line.count = a.count;
      if (a.unit !== null && a.unit !== undefined && !names.includes('unit')) line.unit = a.unit;
      return line;
    });
  }

  private coder(g: GroupKey, cols: RawColumns): Coder {
    if (g.type === 'column') {
      if (g.column === 'kind') {
        const kinds = cols.kind!;
        return { radix: EVENT_KINDS.length, code: (r) => kinds[r]!, value: (c) => EVENT_KINDS[c]! };
      }
      const col = cols[g.column]!;
      return { radix: col.dict.length, code: (r) => col.codes[r]!, value: (c) => col.dict[c] ?? null };
    }
    if (g.type === 'time') {
      const b = timeBucketer(g.bucket, this.spec.from, this.spec.to);
      const ts = cols.timestamp_ms!;
      return { radix: b.count, code: (r) => b.index(ts[r]!), value: (c) => b.label(c) };
    }
    const dims = cols.dimensions!;
    const valueAt: (string | null)[] = [];
    const codeOf = new Map<string | null, number>();
    const entryCode = dims.dict.map((m) => {
      const v = dimensionValue(m, g.key);
      let c = codeOf.get(v);
      if (c === undefined) {
        c = valueAt.length;
        codeOf.set(v, c);
        valueAt.push(v);
      }
      return c;
    });
    return { radix: Math.max(1, valueAt.length), code: (r) => entryCode[dims.codes[r]!]!, value: (c) => valueAt[c] ?? null };
  }

  /** A row predicate for the spec's filters, or undefined when there are none. */
  private rowMask(cols: RawColumns): ((row: number) => boolean) | undefined {
    const checks: ((row: number) => boolean)[] = [];
    for (const f of this.spec.filters) {
      const wanted = new Set(f.values);
      if (f.type === 'column' && f.column === 'kind') {
        const kinds = cols.kind!;
        const ok = EVENT_KINDS.map((k) => wanted.has(k));
        checks.push((r) => ok[kinds[r]!]!);
      } else if (f.type === 'column') {
        const col = cols[f.column as Exclude<Column, 'kind'>]!;
        const ok = new Uint8Array(col.dict.length);
        for (const [i, v] of col.dict.entries()) ok[i] = v !== null && wanted.has(v) ? 1 : 0;
        const codes = col.codes;
        checks.push((r) => ok[codes[r]!] === 1);
      } else {
        const dims = cols.dimensions!;
        const ok = new Uint8Array(dims.dict.length);
        for (const [i, m] of dims.dict.entries()) {
          const v = dimensionValue(m, f.key);
          ok[i] = v !== null && wanted.has(v) ? 1 : 0;
        }
        const codes = dims.codes;
        checks.push((r) => ok[codes[r]!] === 1);
      }
    }
    if (checks.length === 0) return undefined;
    if (checks.length === 1) return checks[0];
    return (r) => checks.every((c) => c(r));
  }
}
