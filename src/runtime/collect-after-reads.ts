/**
 * A memory-reducing full garbage collection after a burst of store reads (Node, when the process
 * runs with --expose-gc, as `npm start` and the container start it).
 *
 * Why: a fresh process's first ingest on S3 loads the dedupe window — key filters of compacted
 * segments and hashes of recent ones, hundreds of GETs at once. The S3 client allocates ~0.5 MB of
 * short-lived objects per request; with many in flight they outlive young-generation collections
 * and are promoted, and so are the HTTP body chunks (malloc'd buffers) they hold. After the load
 * most of that is garbage, but V8 keeps the old-space pages it grew (pooled, not unmapped) and its
 * young generation at full size, and nothing later makes it give them back: an idle process stays
 * where the burst left it (measured: no change after 20 s). One collection of the "last resort"
 * flavor (V8's memory-reducing full GC: compacts, shrinks the young generation, unmaps pooled
 * pages) right after the burst returns them: docs/deploy.md "Memory settings" has the numbers.
 *
 * When: a burst is the time during which at least one GET is in flight. Once none is (checked
 * after the current turn's callbacks, so GETs that follow one another in a chain stay one burst),
 * a burst of at least `minReads` GETs is followed by one collection, unless the last one ran less
 * than `minIntervalMs` ago. HEADs and LISTs pass through uncounted: they carry no body, and the
 * history copies' HEADs that trail every commit would otherwise hold a first ingest's burst open
 * until after its answer. Steady ingest makes bursts of a GET or two and never triggers it; a
 * first ingest on a large window, a compaction run or a cold query over many segments does (at
 * most once a minute: at most ~0.2 % of the time paused). The collection runs
 * right after the burst's last GET, while the burst's segment and manifest writes are in flight,
 * so it is done before the answer; its pause (a sync full GC of a ~60 MB heap) is paid once.
 */
import type { Logger } from '../api/observability.ts';
import type { GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from '../store/types.ts';

export interface ReadBurstCollection {
  /** GETs in the burst that triggered it. */
  readonly reads: number;
  /** How long the collection blocked (ms). */
  readonly pauseMs: number;
}

export interface CollectAfterReadsOptions {
  /** GETs in one burst that make it worth a collection. */
  readonly minReads: number;
  /** Least time between two collections (ms). */
  readonly minIntervalMs: number;
  /** The collection (Node: `gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })`). */
  readonly collect: () => void;
  /** Runs a function once the current turn's callbacks are done (Node: setImmediate). */
  readonly defer: (fn: () => void) => void;
  /** A monotonic clock in milliseconds. */
  readonly now: () => number;
  /** Told after each collection. */
  readonly collected?: (c: ReadBurstCollection) => void;
}

/** Defaults for a server: a burst of 64 GETs (~30 MB of client garbage on S3), at most one collection a minute. */
export const DEFAULT_COLLECT_AFTER_READS = { minReads: 64, minIntervalMs: 60_000 } as const;

export interface ReadBurstStats {
  /** Collections made. */
  collections: number;
  /** Bursts that ended without one (too few reads, or too soon after the last). */
  skipped: number;
}

/** Wraps `store`: the same answers, and a collection after each large burst of GETs. */
export function collectAfterReads(store: ObjectStore, o: CollectAfterReadsOptions): ObjectStore & { readonly readBursts: ReadBurstStats } {
  return new CollectingStore(store, o);
}

class CollectingStore implements ObjectStore {
  readonly kind: string;
  readonly readBursts: ReadBurstStats = { collections: 0, skipped: 0 };
  private inFlight = 0;
  private burstReads = 0;
  private checkPending = false;
  private lastCollection = Number.NEGATIVE_INFINITY;

  private readonly inner: ObjectStore;
  private readonly o: CollectAfterReadsOptions;

  constructor(inner: ObjectStore, o: CollectAfterReadsOptions) {
    this.inner = inner;
    this.o = o;
    this.kind = inner.kind;
  }

  get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    return this.read(() => this.inner.get(key, opts));
  }

  head(key: string): Promise<ObjectInfo | null> {
    return this.inner.head(key);
  }

  list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    return this.inner.list(prefix, opts);
  }

  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ readonly etag: string }> {
    return this.inner.put(key, body, opts);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  private async read<T>(op: () => Promise<T>): Promise<T> {
    this.inFlight++;
    this.burstReads++;
    try {
      return await op();
    } finally {
      this.inFlight--;
      if (this.inFlight === 0 && !this.checkPending) {
        this.checkPending = true;
        this.o.defer(() => this.burstEnded());
      }
    }
  }

  private burstEnded(): void {
    this.checkPending = false;
    if (this.inFlight > 0) return; // the burst went on: its last read will check again
    const reads = this.burstReads;
    this.burstReads = 0;
    const now = this.o.now();
    if (reads < this.o.minReads || now - this.lastCollection < this.o.minIntervalMs) {
      this.readBursts.skipped++;
      return;
    }
    this.o.collect();
    const end = this.o.now();
    this.lastCollection = end;
    this.readBursts.collections++;
    this.o.collected?.({ reads, pauseMs: end - now });
  }
}

/**
 * With --expose-gc (`npm start` and the container pass it): a memory-reducing full collection after
 * each large burst of store reads, such as a fresh process's first load of the dedupe window
 * (collect-after-reads.ts says why). Without the flag the store is used as built.
 */
export function gcAfterReadBursts(gc: NodeJS.GCFunction | undefined = globalThis.gc): ((store: ObjectStore, logger: Logger) => ObjectStore) | undefined {
  if (typeof gc !== 'function') return undefined;
  return (store, logger) =>
    collectAfterReads(store, {
      ...DEFAULT_COLLECT_AFTER_READS,
      collect: () => gc({ type: 'major', execution: 'sync', flavor: 'last-resort' }),
      defer: (fn) => setImmediate(fn),
      now: () => performance.now(),
      collected: (c) => logger.debug('collected garbage after a burst of store reads', { reads: c.reads, pause_ms: Math.round(c.pauseMs) }),
    });
}
