/**
 * Per-instance cache of raw segments by id, bounded by bytes (object bytes + decoded columns).
 * Segments are immutable, so an entry never goes stale; concurrent queries share one fetch (unless
 * `shareFetches` is off: on Workers a fetch one request started must not be awaited by another,
 * so only fetched bytes are shared). Columns are decoded on demand, so a total query never pays
 * for event ids.
 */
import { readRawSegmentBytes, readRollupSegmentBytes } from '../objects/segment-objects.ts';
import type { DeepReadonly, RawSegmentEntry, RollupSegmentEntry } from '../manifest/schema.ts';
import type { RawColumnName, RawColumns } from '../segment/raw.ts';
import { decodeRawSegment } from '../segment/raw.ts';
import type { RollupColumnName, RollupColumns } from '../segment/rollup.ts';
import { decodeRollupSegment } from '../segment/rollup.ts';
import type { ObjectStore } from '../store/types.ts';

interface Entry {
  bytes: Uint8Array;
  columns: Record<string, unknown> & { rows: number };
  size: number;
}

type CachedSegment = DeepReadonly<RawSegmentEntry> | DeepReadonly<RollupSegmentEntry>;
type Decoder = (bytes: Uint8Array, columns: string[]) => Record<string, unknown>;
const decodeRaw: Decoder = (b, columns) => decodeRawSegment(b, { columns: columns as RawColumnName[] }) as unknown as Record<string, unknown>;
const decodeRollup: Decoder = (b, columns) => decodeRollupSegment(b, { columns: columns as RollupColumnName[] }) as unknown as Record<string, unknown>;

export interface CacheStats {
  hits: number;
  misses: number;
  bytes: number;
  entries: number;
}

export class SegmentCache {
  private readonly store: ObjectStore;
  private readonly maxBytes: number;
  private readonly entries = new Map<string, Entry>();
  private readonly fetching = new Map<string, Promise<Entry>>();
  private total = 0;
  private readonly shareFetches: boolean;
  private readonly counts = { hits: 0, misses: 0 };

  constructor(store: ObjectStore, maxBytes = 256 * 1024 * 1024, shareFetches = true) {
    this.store = store;
    this.maxBytes = maxBytes;
    this.shareFetches = shareFetches;
  }

  stats(): CacheStats {
    return { ...this.counts, bytes: this.total, entries: this.entries.size };
  }

  /** The raw segment's columns, with at least `needed` decoded. */
  async columns(seg: DeepReadonly<RawSegmentEntry>, needed: readonly RawColumnName[]): Promise<RawColumns> {
    return (await this.get(seg, needed, decodeRaw)) as unknown as RawColumns;
  }

  /** The rollup segment's columns, with at least `needed` decoded. */
  async rollupColumns(seg: DeepReadonly<RollupSegmentEntry>, needed: readonly RollupColumnName[]): Promise<RollupColumns> {
    return (await this.get(seg, needed, decodeRollup)) as unknown as RollupColumns;
  }

  private async get(seg: CachedSegment, needed: readonly string[], decode: Decoder): Promise<Entry['columns']> {
    let entry = this.entries.get(seg.id);
    if (entry !== undefined) {
      this.counts.hits++;
      this.entries.delete(seg.id); // LRU: move to the newest end
      this.entries.set(seg.id, entry);
    } else {
      this.counts.misses++;
      entry = await this.load(seg);
    }
    const missing = needed.filter((c) => entry.columns[c] === undefined);
    if (missing.length > 0) {
      const decoded = decode(entry.bytes, missing);
      Object.assign(entry.columns, withoutRows(decoded));
      const grown = columnsSize(entry.columns) + entry.bytes.byteLength;
      this.total += grown - entry.size;
      entry.size = grown;
      this.evict();
    }
    return entry.columns;
  }

  /** A raw segment's container (ranged past its appended hashes) or a rollup segment's object. */
  private async fetchBody(seg: CachedSegment): Promise<Uint8Array> {
    if ('max_ingested' in seg) return readRawSegmentBytes(this.store, seg, ' though it is listed');
    return readRollupSegmentBytes(this.store, seg, ' though it is listed');
  }

  private load(seg: CachedSegment): Promise<Entry> {
    if (!this.shareFetches) return this.fetchEntry(seg);
    let p = this.fetching.get(seg.id);
    if (p === undefined) {
      p = this.fetchEntry(seg).finally(() => this.fetching.delete(seg.id));
      this.fetching.set(seg.id, p);
    }
    return p;
  }

  private async fetchEntry(seg: CachedSegment): Promise<Entry> {
    const body = await this.fetchBody(seg);
    // Another request may have cached it meanwhile (without shared fetches): keep that one.
    const cached = this.entries.get(seg.id);
    if (cached !== undefined) return cached;
    const entry: Entry = { bytes: body, columns: { rows: seg.rows }, size: body.byteLength };
    this.entries.set(seg.id, entry);
    this.total += entry.size;
    this.evict();
    return entry;
  }

  private evict(): void {
    for (const [id, e] of this.entries) {
      if (this.total <= this.maxBytes || this.entries.size <= 1) break;
      this.entries.delete(id);
      this.total -= e.size;
    }
  }
}

function withoutRows(c: Record<string, unknown>): Record<string, unknown> {
  const { rows: _rows, ...rest } = c;
  return rest;
}

/** Rough bytes of decoded columns (typed arrays exactly, strings at two bytes a character). */
function columnsSize(c: Record<string, unknown>): number {
  let n = 0;
  for (const v of Object.values(c)) {
    if (ArrayBuffer.isView(v)) n += v.byteLength;
    else if (Array.isArray(v)) n += v.reduce((s: number, x: unknown) => s + (typeof x === 'string' ? x.length * 2 + 16 : 16), 0);
    else if (v instanceof Map) n += v.size * 64;
    else if (typeof v === 'object' && v !== null) {
      const d = v as { codes?: Uint32Array; dict?: readonly unknown[]; keys?: readonly string[] };
      n += d.codes?.byteLength ?? 0;
      n += (d.dict?.length ?? 0) * 48;
      n += (d.keys ?? []).reduce((s, k) => s + k.length * 2, 0);
    }
  }
  return n;
}
