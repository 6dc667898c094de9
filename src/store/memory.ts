/**
 * In-memory ObjectStore for unit tests and the simulation. Honours preconditions exactly like
 * S3 (content-hash ETags, so identical bytes give identical ETags) unless told not to, which is
 * how tests build a store the startup probe must refuse. Faults come from wrapping it with
 * `withFaults` (src/store/faulty.ts).
 */
import { ObjectNotFoundError, PreconditionFailedError } from './errors.ts';
import type { GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from './types.ts';
import { normalizeEtag } from './types.ts';
import { contentEtag, pageOfSortedKeys, sliceRange } from './util.ts';

interface Stored {
  readonly body: Uint8Array;
  readonly info: ObjectInfo;
}

export interface MemoryStoreOptions {
  /** false: ignore `ifMatch` / `ifNoneMatch` (a broken backend, for probe tests). */
  readonly enforcePreconditions?: boolean;
  /** Milliseconds since the epoch for `lastModified`; injected for deterministic tests. */
  readonly now?: () => number;
  /**
   * A synchronous content ETag. The default (SHA-256 via Web Crypto) completes off-thread, so
   * concurrent PUTs can finish in any order; the simulation injects a synchronous one to replay.
   */
  readonly etagOf?: (body: Uint8Array) => string;
}

export class MemoryStore implements ObjectStore {
  readonly kind = 'memory';
  private readonly objects = new Map<string, Stored>();
  private readonly enforce: boolean;
  private readonly now: () => number;
  private readonly etagOf: ((body: Uint8Array) => string) | undefined;

  constructor(opts: MemoryStoreOptions = {}) {
    this.enforce = opts.enforcePreconditions ?? true;
    this.now = opts.now ?? (() => Date.now());
    this.etagOf = opts.etagOf;
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult | null> {
    const obj = this.objects.get(key);
    if (obj === undefined) return null;
    if (opts.ifNoneMatch !== undefined && normalizeEtag(opts.ifNoneMatch) === obj.info.etag) {
      return { notModified: true, etag: obj.info.etag };
    }
    return { notModified: false, body: sliceRange(obj.body, opts.range).slice(), info: obj.info };
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<{ etag: string }> {
    if (opts.after !== undefined) await opts.after;
    const etag = this.etagOf !== undefined ? this.etagOf(body) : await contentEtag(body);
    // Everything after the await runs without yielding, so check-and-set is atomic here.
    const current = this.objects.get(key);
    if (this.enforce) {
      if (opts.ifNoneMatch === '*' && current !== undefined) {
        throw new PreconditionFailedError(`${key} already exists`);
      }
      if (opts.ifMatch !== undefined) {
        if (current === undefined) throw new ObjectNotFoundError(`${key} does not exist`);
        if (current.info.etag !== normalizeEtag(opts.ifMatch)) {
          throw new PreconditionFailedError(`${key} changed`);
        }
      }
    }
    const copy = body.slice();
    this.objects.set(key, { body: copy, info: { key, etag, size: copy.byteLength, lastModified: new Date(this.now()) } });
    return { etag };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    return this.objects.get(key)?.info ?? null;
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
    const page = pageOfSortedKeys(keys, opts);
    return { items: page.keys.map((k) => this.objects.get(k)!.info), cursor: page.cursor };
  }

  /** Test helper: every key currently stored. */
  keys(): string[] {
    return [...this.objects.keys()].sort();
  }
}
