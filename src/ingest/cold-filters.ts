/**
 * The older part of the dedupe window: compacted segments are not loaded into the exact index;
 * their key filters (2.5 bytes an event) are loaded lazily — for a bucket, the first time an event
 * of that bucket is classified — and kept in an LRU bounded by bytes. A filter hit is confirmed by
 * a ranged read of one page of the segment's sorted hashes block (pages kept in a small LRU), so
 * a false positive never rejects a new event. Exact: a key held by a filtered segment within the
 * window always answers `duplicate` (same 80-bit key and 32-bit payload hash) or `conflict`.
 */
import { forEachLimit } from '../lib/pool.ts';
import type { DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { hasKeyFilter, readHashPages, readKeyFilter, type FilteredRef } from '../objects/segment-objects.ts';
import { filterBlockBytes, KEY2_MASK, pagesFor, type HashRow, type KeyFilterBlock } from '../segment/raw.ts';
import type { ObjectStore } from '../store/types.ts';

export interface ColdFilterOptions {
  /** Bytes of filter blocks kept in memory (least recently used dropped beyond it). */
  readonly maxFilterBytes: number;
  /** Confirming pages kept (each PAGE_ROWS rows). */
  readonly maxPages: number;
  readonly concurrency: number;
}

export const DEFAULT_COLD_FILTER_OPTIONS: ColdFilterOptions = { maxFilterBytes: 32 * 1024 * 1024, maxPages: 256, concurrency: 8 };

/**
 * One event to look up: its event key's first three words (whole: a version 1 filter hashes 96
 * bits; rows are compared on 80, `KEY2_MASK`), the first word of its payload hash, its bucket.
 */
export interface ColdProbe {
  readonly k0: number;
  readonly k1: number;
  readonly k2: number;
  readonly p: number;
  readonly bucket: number;
}

export type ColdAnswer = 'new' | 'duplicate' | 'conflict';

/** Loads a filter block; replaceable in tests (a filter that always says maybe). */
export type FilterLoader = (store: ObjectStore, seg: FilteredRef) => Promise<KeyFilterBlock>;

export class ColdFilters {
  private readonly filters = new Map<string, KeyFilterBlock>();
  private readonly pages = new Map<string, HashRow[]>();
  private filterBytes = 0;
  /** Counters: filter loads, confirming page reads, filter hits that were not in the page (false positives). */
  readonly stats = { filterLoads: 0, pageReads: 0, falsePositives: 0 };

  private readonly opts: ColdFilterOptions;
  /** How filter blocks are read (replaceable: tests inject a filter that always says maybe). */
  loadFilter: FilterLoader;

  constructor(opts: ColdFilterOptions = DEFAULT_COLD_FILTER_OPTIONS, loadFilter: FilterLoader = readKeyFilter) {
    this.opts = opts;
    this.loadFilter = loadFilter;
  }

  /** Bytes of filter blocks held now. */
  get bytes(): number {
    return this.filterBytes;
  }

  /** Filter blocks held now. */
  get size(): number {
    return this.filters.size;
  }

  /** Whether any of `segments` has a key filter and can hold rows of the window (else every lookup answers 'new'). */
  static anyInWindow(segments: readonly DeepReadonly<RawSegmentEntry>[], nowMs: number, windowMs: number): boolean {
    const horizon = nowMs - windowMs;
    for (const s of segments) if (hasKeyFilter(s) && s.max_ingested >= horizon) return true;
    return false;
  }

  /**
   * Answers each probe against the filtered segments of `segments` whose rows can be in the
   * window (`max_ingested ≥ now − window`) and whose buckets hold the probe's.
   */
  async lookup(
    store: ObjectStore,
    segments: readonly DeepReadonly<RawSegmentEntry>[],
    probes: readonly ColdProbe[],
    nowMs: number,
    windowMs: number,
  ): Promise<ColdAnswer[]> {
    const out = new Array<ColdAnswer>(probes.length).fill('new');
    if (probes.length === 0) return out;
    const horizon = nowMs - windowMs;
    const byBucket = new Map<number, (DeepReadonly<RawSegmentEntry> & FilteredRef)[]>();
    for (const s of segments) {
      if (!hasKeyFilter(s) || s.max_ingested < horizon) continue;
      for (const b of s.buckets) {
        let list = byBucket.get(b);
        if (list === undefined) byBucket.set(b, (list = []));
        list.push(s);
      }
    }
    const wanted = new Map<string, DeepReadonly<RawSegmentEntry> & FilteredRef>();
    for (const p of probes) for (const s of byBucket.get(p.bucket) ?? []) wanted.set(s.id, s);
    if (wanted.size === 0) return out;
    const blocks = new Map<string, KeyFilterBlock>();
    const toLoad: (DeepReadonly<RawSegmentEntry> & FilteredRef)[] = [];
    for (const s of wanted.values()) {
      const b = this.filters.get(s.id);
      if (b === undefined) toLoad.push(s);
      else {
        this.filters.delete(s.id); // re-insert: most recently used
        this.filters.set(s.id, b);
        blocks.set(s.id, b);
      }
    }
    await forEachLimit(toLoad, this.opts.concurrency, async (s) => {
      const b = await this.loadFilter(store, s);
      this.stats.filterLoads++;
      blocks.set(s.id, b);
      this.remember(s.id, b);
    });
    // Filter hits, grouped by (segment, pages) so each page range is read once.
    const reads = new Map<string, { seg: FilteredRef; block: KeyFilterBlock; from: number; to: number; probes: number[] }>();
    for (let i = 0; i < probes.length; i++) {
      const p = probes[i]!;
      for (const s of byBucket.get(p.bucket) ?? []) {
        const block = blocks.get(s.id)!;
        if (!block.filter.mayContain(p.k0, p.k1, p.k2)) continue;
        const { from, to } = pagesFor(block, p.k0);
        const key = `${s.id}:${from}:${to}`;
        let r = reads.get(key);
        if (r === undefined) reads.set(key, (r = { seg: s, block, from, to, probes: [] }));
        r.probes.push(i);
      }
    }
    const liveFrom = horizon - 999;
    await forEachLimit([...reads.entries()], this.opts.concurrency, async ([key, r]) => {
      let rows = this.pages.get(key);
      if (rows === undefined) {
        rows = await readHashPages(store, r.seg, r.block, r.from, r.to);
        this.stats.pageReads++;
        this.pages.set(key, rows);
        while (this.pages.size > this.opts.maxPages) this.pages.delete(this.pages.keys().next().value!);
      }
      for (const i of r.probes) {
        const p = probes[i]!;
        let found = false;
        for (const row of rows) {
          // Rows of every version are compared on the 80-bit key and the 32-bit payload.
          if (row.k0 !== p.k0 >>> 0 || row.k1 !== p.k1 >>> 0 || row.k2 !== (p.k2 & KEY2_MASK) >>> 0) continue;
          found = true;
          if (row.ingestedSec * 1000 < liveFrom) continue;
          if (row.p === p.p >>> 0) out[i] = 'duplicate';
          else if (out[i] !== 'duplicate') out[i] = 'conflict';
        }
        if (!found) this.stats.falsePositives++;
      }
    });
    return out;
  }

  private remember(id: string, b: KeyFilterBlock): void {
    const old = this.filters.get(id);
    if (old !== undefined) this.filterBytes -= filterBlockBytes(old);
    this.filters.set(id, b);
    this.filterBytes += filterBlockBytes(b);
    while (this.filterBytes > this.opts.maxFilterBytes && this.filters.size > 1) {
      const [oldest, ob] = this.filters.entries().next().value!;
      this.filters.delete(oldest);
      this.filterBytes -= filterBlockBytes(ob);
    }
  }
}
