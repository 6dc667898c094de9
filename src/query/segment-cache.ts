/**
 * Per-instance cache of raw segments by id, bounded by bytes (object bytes + decoded columns).
 * Segments are immutable, so an entry never goes stale; concurrent queries share one fetch (unless
 * `shareFetches` is off: on Workers a fetch one request started must not be awaited by another,
 * so only fetched bytes are shared). Columns are decoded on demand, so a total query never pays
 * for event ids. A segment written as row groups (a rollup, or a compacted raw segment) is cached
 * group by group for one-account reads (key `id#group`) with its directory (plain data, at most
 * MAX_DIRECTORIES, counted in the bytes): a one-account query fetches the directory once, then
 * only its groups not cached yet. A read without an account caches the whole object (key `id`),
 * its groups' columns joined.
 */
import { readGroupBytes, readGroupDirectory, readRawSegmentBytes, readRollupSegmentBytes, type GroupedRef } from '../objects/segment-objects.ts';
import type { DeepReadonly, RawSegmentEntry, RollupSegmentEntry } from '../manifest/schema.ts';
import type { RawColumnName, RawColumns } from '../segment/raw.ts';
import { decodeRawObject, decodeRawSegment, SegmentCorruptError } from '../segment/raw.ts';
import type { RollupColumnName, RollupColumns } from '../segment/rollup.ts';
import { decodeRollupSegment, groupsOfAccount, HOUR_MS, splitGroups, type GroupDirectory } from '../segment/rollup.ts';
import type { ObjectStore } from '../store/types.ts';

interface Entry {
  bytes: Uint8Array;
  columns: Record<string, unknown> & { rows: number };
  size: number;
}

type CachedSegment = DeepReadonly<RawSegmentEntry> | DeepReadonly<RollupSegmentEntry>;
/** Directories kept (LRU): a year of rollups of every shard is a few hundred. */
const MAX_DIRECTORIES = 4096;
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
  private readonly fetchingOther = new Map<string, Promise<unknown>>();
  private readonly directories = new Map<string, { dir: GroupDirectory; size: number }>();
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

  /** The raw segment's columns, with at least `needed` decoded (a grouped segment whole: its groups joined). */
  async columns(seg: DeepReadonly<RawSegmentEntry>, needed: readonly RawColumnName[]): Promise<RawColumns> {
    const d = seg.directory_bytes;
    const decode: Decoder =
      d === undefined ? decodeRaw : (b, columns) => decodeRawObject(b, d, { columns: columns as RawColumnName[] }) as unknown as Record<string, unknown>;
    return (await this.get(seg.id, seg.rows, () => this.fetchBody(seg), needed, decode)) as unknown as RawColumns;
  }

  /**
   * The raw segment's columns, with at least `needed` decoded: one set per row group read. With
   * `accountId`, a grouped segment gives only the groups that may hold the account's rows (with
   * timestamps in `window`, when given); other segments, or no account, give the whole segment.
   */
  async rawColumns(
    seg: DeepReadonly<RawSegmentEntry>,
    needed: readonly RawColumnName[],
    accountId?: string,
    window?: { readonly from: number; readonly to: number },
  ): Promise<RawColumns[]> {
    const d = seg.directory_bytes;
    if (d === undefined || accountId === undefined) return [await this.columns(seg, needed)];
    const overlaps = (min: number, max: number) => window === undefined || (min < window.to && max >= window.from);
    const grouped = { id: seg.id, key: seg.key, bytes: seg.bytes, directory_bytes: d };
    return (await this.groupColumns(grouped, needed, decodeRaw, accountId, overlaps)) as unknown as RawColumns[];
  }

  /**
   * The rollup segment's columns, with at least `needed` decoded: one set per row group read. With
   * `accountId`, a grouped segment gives only the groups that may hold the account's rows (in
   * `window`, when given).
   */
  async rollupColumns(
    seg: DeepReadonly<RollupSegmentEntry>,
    needed: readonly RollupColumnName[],
    accountId?: string,
    window?: { readonly from: number; readonly to: number },
  ): Promise<RollupColumns[]> {
    const d = seg.directory_bytes;
    if (d === undefined) return [(await this.get(seg.id, seg.rows, () => this.fetchBody(seg), needed, decodeRollup)) as unknown as RollupColumns];
    const grouped = { id: seg.id, key: seg.key, bytes: seg.bytes, directory_bytes: d };
    // A group's rows lie in hours [minTime, maxTime + 1 h).
    const overlaps = (min: number, max: number) => window === undefined || (min < window.to && max + HOUR_MS > window.from);
    return (await this.groupColumns(grouped, needed, decodeRollup, accountId, overlaps)) as unknown as RollupColumns[];
  }

  /** Groups of a grouped segment that may hold `accountId` in times passing `overlaps` (all without an account), decoded and cached. */
  private async groupColumns(
    seg: GroupedRef,
    needed: readonly string[],
    decode: Decoder,
    accountId: string | undefined,
    overlaps: (min: number, max: number) => boolean,
  ): Promise<Entry['columns'][]> {
    const dir = await this.directory(seg);
    const { from, to } = accountId === undefined ? { from: 0, to: dir.groups.length } : groupsOfAccount(dir, accountId, overlaps);
    if (from >= to) return [];
    const ids = Array.from({ length: to - from }, (_, k) => `${seg.id}#${from + k}`);
    // Groups not cached are fetched together: one ranged GET from the first to the last of them.
    const absent = ids.flatMap((id, k) => (this.entries.has(id) ? [] : [from + k]));
    const fetched = new Map<number, Uint8Array>();
    if (absent.length > 0) {
      const a = absent[0]!;
      const b = absent[absent.length - 1]! + 1;
      const bytes = await this.shared(`${seg.id}#${a}-${b}`, () => readGroupBytes(this.store, seg, dir, a, b, ' though it is listed'));
      for (const [k, g] of splitGroups(dir, a, b, bytes).entries()) fetched.set(a + k, g);
    }
    const out: Entry['columns'][] = [];
    for (let i = from; i < to; i++) {
      const one = async () => fetched.get(i) ?? splitGroups(dir, i, i + 1, await readGroupBytes(this.store, seg, dir, i, i + 1, ' though it is listed'))[0]!;
      out.push(await this.get(ids[i - from]!, dir.groups[i]!.rows, one, needed, decode));
    }
    return out;
  }

  /** A grouped segment's directory, cached. */
  private async directory(seg: GroupedRef): Promise<GroupDirectory> {
    const hit = this.directories.get(seg.id);
    if (hit !== undefined) {
      this.directories.delete(seg.id);
      this.directories.set(seg.id, hit);
      return hit.dir;
    }
    const dir = await this.shared(`${seg.id}#dir`, () => readGroupDirectory(this.store, seg, ' though it is listed'));
    if (!this.directories.has(seg.id)) {
      // Decoded size, roughly: the account strings and numbers of each group.
      const size = dir.groups.reduce((n, g) => n + 64 + (g.firstAccount.length + g.lastAccount.length) * 2, 0);
      this.directories.set(seg.id, { dir, size });
      this.total += size;
      for (const [id, e] of this.directories) {
        if (this.directories.size <= MAX_DIRECTORIES) break;
        this.directories.delete(id);
        this.total -= e.size;
      }
    }
    return dir;
  }

  /** One fetch shared by concurrent callers (when fetches may be shared). */
  private shared<T>(key: string, fetch: () => Promise<T>): Promise<T> {
    if (!this.shareFetches) return fetch();
    let p = this.fetchingOther.get(key) as Promise<T> | undefined;
    if (p === undefined) {
      p = fetch().finally(() => this.fetchingOther.delete(key));
      this.fetchingOther.set(key, p);
    }
    return p;
  }

  private async get(id: string, rows: number, fetch: () => Promise<Uint8Array>, needed: readonly string[], decode: Decoder): Promise<Entry['columns']> {
    let entry = this.entries.get(id);
    if (entry !== undefined) {
      this.counts.hits++;
      this.entries.delete(id); // LRU: move to the newest end
      this.entries.set(id, entry);
    } else {
      this.counts.misses++;
      entry = await this.load(id, rows, fetch);
    }
    const missing = needed.filter((c) => entry.columns[c] === undefined);
    if (missing.length > 0) {
      const decoded = decode(entry.bytes, missing);
      // The rows the manifest entry or the group directory lists: a container of other rows is not the one listed.
      if (decoded.rows !== entry.columns.rows) throw new SegmentCorruptError(`segment ${id}: ${String(decoded.rows)} rows, listed as ${entry.columns.rows}`);
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

  private load(id: string, rows: number, fetch: () => Promise<Uint8Array>): Promise<Entry> {
    if (!this.shareFetches) return this.fetchEntry(id, rows, fetch);
    let p = this.fetching.get(id);
    if (p === undefined) {
      p = this.fetchEntry(id, rows, fetch).finally(() => this.fetching.delete(id));
      this.fetching.set(id, p);
    }
    return p;
  }

  private async fetchEntry(id: string, rows: number, fetch: () => Promise<Uint8Array>): Promise<Entry> {
    const body = await fetch();
    // Another request may have cached it meanwhile (without shared fetches): keep that one.
    const cached = this.entries.get(id);
    if (cached !== undefined) return cached;
    const entry: Entry = { bytes: body, columns: { rows }, size: body.byteLength };
    this.entries.set(id, entry);
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
