/**
 * The per-instance, per-shard dedupe index: event_hash → (payload hash, ingested second), in one
 * open-addressing table of Uint32 words (5 words = 20 bytes a slot), no per-entry objects. An
 * entry older than the window (on `ingested_at_ms`, never `timestamp_ms`) is ignored by lookups
 * and dropped at the next rebuild. It never holds an event whose commit has not succeeded.
 *
 * Slot: [e0, e1, e2] = the 80-bit event key (e2 holds its low 16 bits, KEY2_MASK: the bits every
 * hashes block version stores, so an entry loaded from a version 2 block, one from version 3 and
 * one from ingest's own hashes of the same event are equal), [p] = 32 bits of the payload hash,
 * [t] = ingested second + 1 (0 marks an empty slot). A false "duplicate" needs an 80-bit key
 * collision and a 32-bit payload-hash collision at once; an 80-bit collision alone shows as a conflict.
 */
import { DAY_MS } from '../model/time.ts';
import { KEY2_MASK } from '../segment/raw.ts';

export type Classification = 'new' | 'duplicate' | 'conflict';

const WORDS = 5;
const MAX_LOAD = 0.8;
/** Growing by 1.5x (not 2x) keeps the table at least 53% full: at most ~38 bytes per entry. */
const GROWTH = 1.5;

/** Home slot of a hash word in a table of `cap` slots (multiply-shift, any capacity). */
function home(e0: number, cap: number): number {
  return Math.floor(((e0 >>> 0) * cap) / 4294967296);
}

export class DedupeIndex {
  private table: Uint32Array;
  private cap: number;
  private used = 0;
  private lastExpireMs = 0;
  /**
   * Entries ingested before this (ms) are held by key-filtered segments (answered by
   * ColdFilters) and dropped at the next rebuild; -Infinity: keep everything in the window.
   */
  private floorMs = Number.NEGATIVE_INFINITY;
  /** Segment ids whose hashes are in the index. */
  readonly loadedSegments = new Set<string>();

  /** The window in milliseconds (default 35 days). */
  readonly windowMs: number;

  constructor(windowMs: number = 35 * DAY_MS, initialCapacity = 1 << 12) {
    this.windowMs = windowMs;
    this.cap = Math.max(16, Math.ceil(initialCapacity));
    this.table = new Uint32Array(this.cap * WORDS);
  }

  get size(): number {
    return this.used;
  }

  /** Bytes held by the table (what the "bytes per entry" goal measures). */
  get bytes(): number {
    return this.table.byteLength;
  }

  /**
   * Classifies an event against entries still in the window. `e0..e2` are the first three words
   * of its event key (only e2's low 16 bits count), `p` the first word of its payload hash.
   */
  classify(e0: number, e1: number, e2: number, p: number, nowMs: number): Classification {
    const t = this.table;
    const at = this.probe(e0, e1, e2 & KEY2_MASK) * WORDS;
    if (t[at + 4] === 0 || !this.live(t[at + 4]!, nowMs)) return 'new';
    return t[at + 3] === p >>> 0 ? 'duplicate' : 'conflict';
  }

  /** Records a committed event. A newer entry for the same event id replaces the older one. */
  insert(e0: number, e1: number, e2: number, p: number, ingestedAtMs: number): void {
    if (this.used + 1 > this.cap * MAX_LOAD) this.rebuild(ingestedAtMs, true);
    const t = this.table;
    const stamp = Math.floor(ingestedAtMs / 1000) + 1;
    const at = this.probe(e0, e1, e2 & KEY2_MASK) * WORDS;
    if (t[at + 4] === 0) {
      t[at] = e0 >>> 0;
      t[at + 1] = e1 >>> 0;
      t[at + 2] = (e2 & KEY2_MASK) >>> 0;
      t[at + 3] = p;
      t[at + 4] = stamp;
      this.used++;
    } else if (stamp >= t[at + 4]!) {
      t[at + 3] = p;
      t[at + 4] = stamp;
    }
  }

  /** Drops entries outside the window (lookups already ignore them; this frees memory). */
  expire(nowMs: number): void {
    this.rebuild(nowMs, false);
    this.lastExpireMs = nowMs;
  }

  /** Expires at most every eighth of the window, or when half the entries are below the floor. */
  maybeExpire(nowMs: number): void {
    if (nowMs - this.lastExpireMs > this.windowMs / 8) this.expire(nowMs);
  }

  /**
   * Entries ingested before `floorMs` are answered elsewhere (key filters of compacted segments):
   * rebuilds drop them. The caller guarantees every committed event ingested before it is in a
   * key-filtered segment of every manifest it will classify on. Rebuilds now when at least a
   * quarter of the table lies below the floor.
   */
  setFloor(floorMs: number, nowMs: number): void {
    if (floorMs <= this.floorMs) {
      this.floorMs = floorMs;
      return;
    }
    this.floorMs = floorMs;
    const t = this.table;
    let below = 0;
    for (let at = 0; at < t.length; at += WORDS) if (t[at + 4] !== 0 && !this.keep(t[at + 4]!, nowMs)) below++;
    if (below > 0 && below * 4 >= this.used) this.expire(nowMs);
  }

  /** The current floor (ms; -Infinity when nothing is dropped for being filtered). */
  get floor(): number {
    return this.floorMs;
  }

  /** Lowers the floor (before inserting events ingested earlier than it: own commits). */
  lowerFloor(floorMs: number): void {
    this.floorMs = Math.min(this.floorMs, floorMs);
  }

  private live(stamp: number, nowMs: number): boolean {
    return (stamp - 1) * 1000 >= nowMs - this.windowMs - 999;
  }

  /** Live and not below the floor (one second of slack towards keeping). */
  private keep(stamp: number, nowMs: number): boolean {
    return this.live(stamp, nowMs) && (stamp - 1) * 1000 >= this.floorMs - 1000;
  }

  /** The slot holding this event hash, or the empty slot where it would go. */
  private probe(e0: number, e1: number, e2: number): number {
    const t = this.table;
    e0 >>>= 0;
    e1 >>>= 0;
    e2 >>>= 0;
    let i = home(e0, this.cap);
    for (;;) {
      const at = i * WORDS;
      if (t[at + 4] === 0 || (t[at] === e0 && t[at + 1] === e1 && t[at + 2] === e2)) return i;
      if (++i === this.cap) i = 0;
    }
  }

  /** Re-inserts live entries into a table sized for them (doubling when `grow`). */
  private rebuild(nowMs: number, grow: boolean): void {
    const old = this.table;
    let live = 0;
    for (let at = 0; at < old.length; at += WORDS) if (old[at + 4] !== 0 && this.keep(old[at + 4]!, nowMs)) live++;
    let cap = this.cap;
    if (grow && live + 1 > cap * MAX_LOAD * 0.6) cap = Math.ceil(cap * GROWTH);
    while (cap > 16 && live < cap * MAX_LOAD * 0.25) cap = Math.ceil(cap / GROWTH);
    this.table = new Uint32Array(cap * WORDS);
    this.cap = cap;
    this.used = 0;
    const t = this.table;
    for (let at = 0; at < old.length; at += WORDS) {
      const stamp = old[at + 4]!;
      if (stamp === 0 || !this.keep(stamp, nowMs)) continue;
      let i = home(old[at]!, cap);
      while (t[i * WORDS + 4] !== 0) if (++i === cap) i = 0;
      // Word by word: a subarray per entry was most of what a growing index allocated.
      for (let w = 0, to = i * WORDS; w < WORDS; w++) t[to + w] = old[at + w]!;
      this.used++;
    }
  }
}
