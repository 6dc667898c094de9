/**
 * Simulated time for bench:scale: a clock the builder sets (it keeps ticking in real time from
 * the last set, so code that waits on it never stalls), and a store wrapper whose LastModified
 * is the simulated time of each write, so GC — which trusts only the store's clock — sees
 * objects age as the simulated days pass, exactly as the scheduler's GC would in real time.
 */
import type { Clock } from '../../../src/model/deps.ts';
import type { GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from '../../../src/store/types.ts';

export class SimClock implements Clock {
  private base: number;
  private anchor = performance.now();
  constructor(startMs: number) {
    this.base = startMs;
  }
  now = (): number => Math.floor(this.base + (performance.now() - this.anchor));
  sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  /** Jumps to `ms` (never backwards). */
  set(ms: number): void {
    this.base = Math.max(ms, this.now());
    this.anchor = performance.now();
  }
}

export class SimTimeStore implements ObjectStore {
  readonly kind: string;
  readonly inner: ObjectStore;
  private readonly clock: Clock;
  private readonly written = new Map<string, number>();
  constructor(inner: ObjectStore, clock: Clock) {
    this.inner = inner;
    this.clock = clock;
    this.kind = inner.kind;
  }
  private info(i: ObjectInfo): ObjectInfo {
    const at = this.written.get(i.key);
    return at === undefined ? i : { ...i, lastModified: new Date(at) };
  }
  async get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    const r = await this.inner.get(key, opts);
    return r === null || r.notModified ? r : { ...r, info: this.info(r.info) };
  }
  async put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ readonly etag: string }> {
    const r = await this.inner.put(key, body, opts);
    this.written.set(key, this.clock.now());
    return r;
  }
  async head(key: string): Promise<ObjectInfo | null> {
    const r = await this.inner.head(key);
    return r === null ? null : this.info(r);
  }
  async delete(key: string): Promise<void> {
    await this.inner.delete(key);
    this.written.delete(key);
  }
  async list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    const r = await this.inner.list(prefix, opts);
    return { ...r, items: r.items.map((i) => this.info(i)) };
  }
}
