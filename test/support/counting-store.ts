/** An ObjectStore wrapper that records every GET (key, range, bytes answered), for tests of what a read fetches. */
import type { GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from '../../src/store/types.ts';

export interface CountedGet {
  readonly key: string;
  readonly range: GetOptions['range'];
  readonly bytes: number;
}

export class CountingStore implements ObjectStore {
  readonly kind: string;
  readonly inner: ObjectStore;
  gets: CountedGet[] = [];

  constructor(inner: ObjectStore) {
    this.inner = inner;
    this.kind = inner.kind;
  }

  /** The GETs recorded since the last call, and forget them. */
  take(): CountedGet[] {
    const g = this.gets;
    this.gets = [];
    return g;
  }

  async get(key: string, opts?: GetOptions): Promise<GetResult | null> {
    const r = await this.inner.get(key, opts);
    this.gets.push({ key, range: opts?.range, bytes: r === null || r.notModified ? 0 : r.body.length });
    return r;
  }
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ readonly etag: string }> {
    return this.inner.put(key, body, opts);
  }
  head(key: string): Promise<ObjectInfo | null> {
    return this.inner.head(key);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  list(prefix: string, opts?: ListOptions): Promise<ListPage> {
    return this.inner.list(prefix, opts);
  }
}
