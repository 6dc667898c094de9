/**
 * First pass of raw segment encoding: validates events, interns every id column, the kinds and
 * the dimension maps into dense codes, and computes the documented row order. It never accepts
 * a value it could not store exactly; such input throws TypeError/RangeError.
 */
import { I128_MAX, I128_MIN, type CorrectionRef, type UsageEvent } from '../model/event.ts';
import { ID_COLUMNS } from './raw-format.ts';
import { assertWellFormed } from './strings.ts';

const NULL_CODE = 0xffffffff;
const NOTHING: unique symbol = Symbol('nothing');

/** Interns one column's values; `finish` sorts the dictionary and rewrites codes to ranks. */
export class Interner {
  readonly map = new Map<string, number>();
  readonly values: string[] = [];
  readonly codes: Uint32Array;
  hasNull = false;
  /** The sorted distinct non-null values, after `finish`. */
  sorted: string[] = [];
  private last: string | null | typeof NOTHING = NOTHING;
  private lastCode = 0;

  constructor(rows: number) {
    this.codes = new Uint32Array(rows);
  }

  add(row: number, v: string | null): void {
    if (v === this.last) {
      this.codes[row] = this.lastCode;
      return;
    }
    let c: number;
    if (v === null) {
      this.hasNull = true;
      c = NULL_CODE;
    } else {
      const known = this.map.get(v);
      if (known === undefined) {
        if (typeof v !== 'string') throw new TypeError(`expected a string, got ${typeof v}`);
        c = this.values.length;
        this.map.set(v, c);
        this.values.push(v);
      } else {
        c = known;
      }
    }
    this.last = v;
    this.lastCode = c;
    this.codes[row] = c;
  }

  /** Sorts the distinct values (JS string order) and turns codes into ranks, null = 0 first. */
  finish(what: string): void {
    const sorted = this.values.slice().sort();
    const shift = this.hasNull ? 1 : 0;
    const rank = new Uint32Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      assertWellFormed(sorted[i]!, what);
      rank[this.map.get(sorted[i]!)!] = i + shift;
    }
    const codes = this.codes;
    for (let i = 0; i < codes.length; i++) codes[i] = codes[i] === NULL_CODE ? 0 : rank[codes[i]!]!;
    this.sorted = sorted;
  }

  /** Dictionary size including null. */
  get size(): number {
    return this.values.length + (this.hasNull ? 1 : 0);
  }
}

function isSortedKeys(keys: string[]): boolean {
  for (let i = 1; i < keys.length; i++) if (!(keys[i - 1]! < keys[i]!)) return false;
  return true;
}

/** The canonical `dimensionsKey` of a map (keys sorted), checking it holds strings only. */
function canonicalKey(dims: Readonly<Record<string, string>>): string {
  if (typeof dims !== 'object' || dims === null || Array.isArray(dims)) throw new TypeError('dimensions must be an object');
  const keys = Object.keys(dims);
  for (const k of keys) {
    assertWellFormed(k, 'dimension key');
    if (typeof dims[k] !== 'string') throw new TypeError(`dimension ${JSON.stringify(k)} is not a string`);
  }
  if (isSortedKeys(keys)) return JSON.stringify(dims);
  keys.sort();
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, dims[k]!])));
}

interface DimsNode {
  /** key → value → node */
  readonly next: Map<string, Map<string, DimsNode>>;
  leaf: number;
}

/**
 * Interns dimension maps as given (key order included) without serializing each one: a trie on
 * (key, value) pairs in Object.keys order. Each distinct map is serialized once.
 */
class DimsInterner {
  private readonly root: DimsNode = { next: new Map(), leaf: -1 };
  /** JSON.stringify of each distinct map as given, and its canonical dimensionsKey. */
  readonly json: string[] = [];
  readonly canonical: string[] = [];

  code(d: Readonly<Record<string, string>>): number {
    if (typeof d !== 'object' || d === null) throw new TypeError('dimensions must be an object');
    const keys = Object.keys(d);
    let node = this.root;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const v = d[k]!;
      let byValue = node.next.get(k);
      if (byValue === undefined) {
        byValue = new Map();
        node.next.set(k, byValue);
      }
      let child = byValue.get(v);
      if (child === undefined) {
        child = { next: new Map(), leaf: -1 };
        byValue.set(v, child);
      }
      node = child;
    }
    if (node.leaf < 0) {
      node.leaf = this.json.length;
      this.json.push(JSON.stringify(d));
      this.canonical.push(canonicalKey(d));
    }
    return node.leaf;
  }
}

/** Every event as codes and typed arrays, by input row. */
export interface Rows {
  readonly n: number;
  readonly eventIds: readonly string[];
  /** One per ID_COLUMNS entry. */
  readonly ids: readonly Interner[];
  /** Over canonical dimensionsKey strings. */
  readonly dims: Interner;
  /** Per row, the code of JSON.stringify(e.dimensions) as given (what canonicalPayload embeds). */
  readonly rawDimsCodes: Uint32Array;
  readonly rawDimsJson: readonly string[];
  readonly kinds: Uint32Array;
  readonly ts: Float64Array;
  readonly ing: Float64Array;
  readonly quantities: readonly bigint[];
  /** The quantity as a Number when |q| <= 2^52 (exact), else NaN. */
  readonly qn: Float64Array;
  readonly refs: readonly (CorrectionRef | null)[];
}

function kindCode(kind: string, i: number): number {
  if (kind === 'Usage') return 0;
  if (kind === 'Correction') return 1;
  if (kind === 'Retraction') return 2;
  throw new TypeError(`event ${i}: unknown kind ${String(kind)}`);
}

const TWO_52 = 4503599627370496;

/** Checks the range; returns q as a Number when |q| <= 2^52 (exact), else NaN. */
function quantityNumber(q: bigint, i: number): number {
  if (typeof q !== 'bigint') throw new TypeError(`event ${i}: quantity is not a bigint`);
  const qn = Number(q);
  if (qn <= TWO_52 && qn >= -TWO_52) return qn;
  if (q > I128_MAX || q < I128_MIN) throw new RangeError(`event ${i}: quantity outside the signed 128-bit range`);
  return NaN;
}

export function collectRows(events: readonly UsageEvent[]): Rows {
  const n = events.length;
  if (n >= 0x80000000) throw new RangeError('too many rows for one segment');
  const ids = ID_COLUMNS.map(() => new Interner(n));
  const [acct, sub, product, meter, model, source, unit] = ids as [Interner, Interner, Interner, Interner, Interner, Interner, Interner];
  const dims = new Interner(n);
  const rawDims = new DimsInterner();
  const rawDimsCodes = new Uint32Array(n);
  const kinds = new Uint32Array(n);
  const ts = new Float64Array(n);
  const ing = new Float64Array(n);
  const quantities = new Array<bigint>(n);
  const qn = new Float64Array(n);
  const refs = new Array<CorrectionRef | null>(n);
  const eventIds = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const e = events[i]!;
    const id = e.event_id;
    if (typeof id !== 'string') throw new TypeError(`event ${i}: event_id is not a string`);
    assertWellFormed(id, 'event_id');
    eventIds[i] = id;
    kinds[i] = kindCode(e.kind, i);
    if (!Number.isSafeInteger(e.timestamp_ms)) throw new RangeError(`event ${i}: timestamp_ms is not a safe integer`);
    if (!Number.isSafeInteger(e.ingested_at_ms)) throw new RangeError(`event ${i}: ingested_at_ms is not a safe integer`);
    ts[i] = e.timestamp_ms;
    ing[i] = e.ingested_at_ms;
    qn[i] = quantityNumber(e.quantity, i);
    quantities[i] = e.quantity;
    const ref = e.correction_ref;
    if (ref === undefined) throw new TypeError(`event ${i}: correction_ref must be null or a ref`);
    if (ref !== null) {
      assertWellFormed(ref.original_event_id, 'correction_ref.original_event_id');
      assertWellFormed(ref.reason, 'correction_ref.reason');
    }
    refs[i] = ref;
    acct.add(i, e.account_id);
    sub.add(i, e.subscription_id);
    product.add(i, e.product_id);
    meter.add(i, e.meter_id);
    model.add(i, e.model_id);
    source.add(i, e.source);
    unit.add(i, e.unit);
    const rc = rawDims.code(e.dimensions);
    rawDimsCodes[i] = rc;
    dims.add(i, rawDims.canonical[rc]!);
  }
  for (const it of [acct, product, meter, source, unit]) if (it.hasNull) throw new TypeError('a required id is null');
  for (const [c, it] of ids.entries()) it.finish(ID_COLUMNS[c]!);
  dims.finish('dimensions');
  return { n, eventIds, ids, dims, rawDimsCodes, rawDimsJson: rawDims.json, kinds, ts, ing, quantities, qn, refs };
}

/**
 * Row order: account, product, meter, model (null first), timestamp, event_id; ties keep input
 * order. Dictionary codes are ranks, so the id comparisons are integer comparisons.
 */
export function sortOrder(rows: Rows): Uint32Array {
  const n = rows.n;
  const [acct, , product, meter, model] = rows.ids as [Interner, Interner, Interner, Interner, Interner];
  // One group rank per row when the four dictionary sizes allow it (they always do in practice).
  const g = new Float64Array(n);
  const span = acct.size * product.size * meter.size * model.size;
  const A = acct.codes,
    P = product.codes,
    M = meter.codes,
    D = model.codes;
  if (span < 2 ** 52) {
    for (let i = 0; i < n; i++) g[i] = ((A[i]! * product.size + P[i]!) * meter.size + M[i]!) * model.size + D[i]!;
  }
  const ts = rows.ts;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  const ids = rows.eventIds;
  const byId = (x: number, y: number): number => {
    const a = ids[x]!,
      b = ids[y]!;
    return a < b ? -1 : a > b ? 1 : x - y;
  };
  if (span < 2 ** 52) order.sort((x, y) => g[x]! - g[y]! || ts[x]! - ts[y]! || byId(x, y));
  else order.sort((x, y) => A[x]! - A[y]! || P[x]! - P[y]! || M[x]! - M[y]! || D[x]! - D[y]! || ts[x]! - ts[y]! || byId(x, y));
  return order;
}
