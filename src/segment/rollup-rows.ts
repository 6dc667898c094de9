/**
 * First pass of rollup segment encoding: validates rows, interns the id columns and dimension
 * maps into rank codes, sorts by the documented order and merges rows with equal group keys.
 * It never accepts a value it could not store exactly; such input throws TypeError/RangeError.
 */
import { HOUR_MS, ROLLUP_ID_COLUMNS, ROLLUP_NULLABLE_ID_COLUMNS, ROLLUP_QUANTITY_LIMIT, type RollupRow } from './rollup-format.ts';
import { Interner } from './raw-rows.ts';

function kindCode(kind: unknown, i: number): number {
  if (kind === 'Usage') return 0;
  if (kind === 'Correction') return 1;
  if (kind === 'Retraction') return 2;
  throw new TypeError(`rollup row ${i}: unknown kind ${String(kind)}`);
}

function safeInt(v: unknown, i: number, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RangeError(`rollup row ${i}: ${what} is not a safe integer`);
  return v + 0; // never -0
}

function checkQuantity(q: bigint, what: string): void {
  if (q >= ROLLUP_QUANTITY_LIMIT || q <= -ROLLUP_QUANTITY_LIMIT) throw new RangeError(`${what}: quantity_sum outside |q| < 2^256`);
}

/**
 * The canonical `dimensionsKey` of a map: JSON of the entries with keys sorted. Every value must
 * be a string. (Integer-like keys still serialize first, as JS orders them: the key is a
 * function of the map's content either way, and JSON.parse restores the same map.)
 */
function canonicalKey(dims: unknown, i: number): string {
  if (typeof dims !== 'object' || dims === null || Array.isArray(dims)) throw new TypeError(`rollup row ${i}: dimensions must be an object`);
  const d = dims as Record<string, unknown>;
  const keys = Object.keys(d);
  for (const k of keys) if (typeof d[k] !== 'string') throw new TypeError(`rollup row ${i}: dimension ${JSON.stringify(k)} is not a string`);
  keys.sort();
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, d[k]])));
}

/** The rows sorted and merged, column by column; `rep[k]` is an input row with row k's group key. */
export interface MergedRollupRows {
  readonly n: number;
  /** One per ROLLUP_ID_COLUMNS entry; codes by input row. */
  readonly ids: readonly Interner[];
  /** Over canonical dimensionsKey strings; codes by input row. */
  readonly dims: Interner;
  /** Kind codes by input row. */
  readonly kinds: Uint32Array;
  readonly rep: Uint32Array;
  /** By merged row: hour numbers (hour_ms / HOUR_MS), sums, counts, first and last. */
  readonly hours: Float64Array;
  readonly quantities: readonly bigint[];
  readonly counts: Float64Array;
  readonly first: Float64Array;
  readonly last: Float64Array;
}

/**
 * Validates and interns `rows`, sorts them by (account, product, meter, model null first, hour,
 * subscription null first, source, unit, kind, dimensions) and merges runs of equal group keys:
 * quantity sums and event counts added, first_event_ms the minimum, last_event_ms the maximum.
 * Dictionary codes are ranks, so every comparison is an integer comparison.
 */
export function sortAndMergeRollupRows(rows: readonly RollupRow[]): MergedRollupRows {
  const n = rows.length;
  if (n >= 0x80000000) throw new RangeError('too many rows for one segment');
  const ids = ROLLUP_ID_COLUMNS.map(() => new Interner(n));
  const dims = new Interner(n);
  const dimsKeys = new Map<object, string>();
  const kinds = new Uint32Array(n);
  const hours = new Float64Array(n);
  const counts = new Float64Array(n);
  const first = new Float64Array(n);
  const last = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const row = rows[i]!;
    if (typeof row !== 'object' || row === null) throw new TypeError(`rollup row ${i} is not an object`);
    kinds[i] = kindCode(row.kind, i);
    for (let c = 0; c < ROLLUP_ID_COLUMNS.length; c++) {
      const name = ROLLUP_ID_COLUMNS[c]!;
      const v = row[name];
      if (v === null && !ROLLUP_NULLABLE_ID_COLUMNS.has(name)) throw new TypeError(`rollup row ${i}: ${name} is null`);
      ids[c]!.add(i, v);
    }
    const d = row.dimensions;
    let key = typeof d === 'object' && d !== null ? dimsKeys.get(d) : undefined;
    if (key === undefined) {
      key = canonicalKey(d, i);
      dimsKeys.set(d, key);
    }
    dims.add(i, key);
    const hour = safeInt(row.hour_ms, i, 'hour_ms');
    if (hour % HOUR_MS !== 0) throw new RangeError(`rollup row ${i}: hour_ms ${hour} is not the start of an hour`);
    hours[i] = hour / HOUR_MS + 0;
    if (typeof row.quantity_sum !== 'bigint') throw new TypeError(`rollup row ${i}: quantity_sum is not a bigint`);
    checkQuantity(row.quantity_sum, `rollup row ${i}`);
    const count = safeInt(row.event_count, i, 'event_count');
    if (count < 1) throw new RangeError(`rollup row ${i}: event_count must be >= 1`);
    counts[i] = count;
    first[i] = safeInt(row.first_event_ms, i, 'first_event_ms');
    last[i] = safeInt(row.last_event_ms, i, 'last_event_ms');
    if (first[i]! > last[i]!) throw new RangeError(`rollup row ${i}: first_event_ms is after last_event_ms`);
  }
  for (const [c, it] of ids.entries()) it.finish(ROLLUP_ID_COLUMNS[c]!);
  dims.finish('dimensions');

  const [A, S, P, M, D, Src, U] = ids.map((it) => it.codes) as [Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array];
  const K = kinds,
    X = dims.codes,
    H = hours;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const cmp = (x: number, y: number): number =>
    A[x]! - A[y]! ||
    P[x]! - P[y]! ||
    M[x]! - M[y]! ||
    D[x]! - D[y]! ||
    H[x]! - H[y]! ||
    S[x]! - S[y]! ||
    Src[x]! - Src[y]! ||
    U[x]! - U[y]! ||
    K[x]! - K[y]! ||
    X[x]! - X[y]!;
  order.sort(cmp);

  const rep: number[] = [];
  const quantities: bigint[] = [];
  const mHours: number[] = [],
    mCounts: number[] = [],
    mFirst: number[] = [],
    mLast: number[] = [];
  for (let i = 0; i < n; ) {
    const r0 = order[i]!;
    let q = rows[r0]!.quantity_sum;
    let c = counts[r0]!,
      f = first[r0]!,
      l = last[r0]!;
    let j = i + 1;
    for (; j < n && cmp(r0, order[j]!) === 0; j++) {
      const r = order[j]!;
      q += rows[r]!.quantity_sum;
      c += counts[r]!;
      if (first[r]! < f) f = first[r]!;
      if (last[r]! > l) l = last[r]!;
    }
    if (!Number.isSafeInteger(c)) throw new RangeError('merged event_count is not a safe integer');
    checkQuantity(q, 'merged rollup row');
    rep.push(r0);
    mHours.push(H[r0]!);
    quantities.push(q);
    mCounts.push(c);
    mFirst.push(f);
    mLast.push(l);
    i = j;
  }
  return {
    n: rep.length,
    ids,
    dims,
    kinds,
    rep: Uint32Array.from(rep),
    hours: Float64Array.from(mHours),
    quantities,
    counts: Float64Array.from(mCounts),
    first: Float64Array.from(mFirst),
    last: Float64Array.from(mLast),
  };
}
