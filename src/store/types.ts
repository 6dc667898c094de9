/**
 * The ObjectStore interface every driver implements (s3, fs, memory, and wrappers such as the
 * fault injector). ETags cross this interface unquoted; each driver quotes them as its backend
 * wants. A missing key is `null`, not an exception; failed preconditions throw typed errors.
 */

export interface ObjectInfo {
  readonly key: string;
  /**
   * What conditions compare. From a ranged GET or a listing it may be a weak validator that
   * matches no condition (the fs store answers one rather than hash the whole file): take the
   * ETag for `ifMatch` / `ifNoneMatch` from a whole GET, HEAD or PUT.
   */
  readonly etag: string;
  readonly size: number;
  /** As the store reports it: the only clock GC trusts. */
  readonly lastModified: Date;
}

export interface ByteRange {
  readonly offset: number;
  /** Bytes to read from `offset`; to the end of the object when absent. */
  readonly length?: number;
}

export interface GetOptions {
  readonly range?: ByteRange;
  /** Revalidate: answer `notModified` when the object's ETag still equals this one. */
  readonly ifNoneMatch?: string;
}

export type GetResult =
  | { readonly notModified: false; readonly body: Uint8Array; readonly info: ObjectInfo }
  | { readonly notModified: true; readonly etag: string };

export interface PutOptions {
  /** Replace only if the current ETag equals this one. */
  readonly ifMatch?: string;
  /** Create only: fail if the key exists. */
  readonly ifNoneMatch?: '*';
  readonly contentType?: string;
  /**
   * A write this one depends on (a segment the new manifest lists): this PUT is made only after
   * `after` fulfilled; if it rejects, nothing is written and this PUT rejects with that error.
   * A driver may chain it to its own pending write instead of waiting on the event loop.
   */
  readonly after?: Promise<unknown>;
}

export interface ListOptions {
  /** Opaque continuation from the previous page. */
  readonly cursor?: string;
  readonly limit?: number;
}

export interface ListPage {
  readonly items: readonly ObjectInfo[];
  readonly cursor: string | undefined;
}

export interface ObjectStore {
  /** A short name for logs and the probe report, e.g. `s3`, `fs`, `memory`. */
  readonly kind: string;
  get(key: string, opts?: GetOptions): Promise<GetResult | null>;
  put(key: string, body: Uint8Array, opts?: PutOptions): Promise<{ readonly etag: string }>;
  head(key: string): Promise<ObjectInfo | null>;
  /** Deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** Keys in ascending byte order. */
  list(prefix: string, opts?: ListOptions): Promise<ListPage>;
}

/** Strips the quotes (and a weak `W/` prefix) some backends put around ETags. */
export function normalizeEtag(etag: string): string {
  let e = etag.trim();
  if (e.startsWith('W/')) e = e.slice(2);
  if (e.length >= 2 && e.startsWith('"') && e.endsWith('"')) e = e.slice(1, -1);
  return e;
}

export function quoteEtag(etag: string): string {
  return `"${normalizeEtag(etag)}"`;
}

/** Every object under a prefix, page by page. */
export async function* listAll(store: ObjectStore, prefix: string, pageSize = 1000): AsyncGenerator<ObjectInfo> {
  let cursor: string | undefined;
  do {
    const page = await store.list(prefix, { cursor, limit: pageSize });
    yield* page.items;
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/** Fetches a whole object's bytes; `null` when missing. */
export async function getBytes(store: ObjectStore, key: string): Promise<{ body: Uint8Array; info: ObjectInfo } | null> {
  const res = await store.get(key);
  if (res === null) return null;
  if (res.notModified) throw new Error('unconditional get answered not-modified');
  return { body: res.body, info: res.info };
}
