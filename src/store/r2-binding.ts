/**
 * ObjectStore over a Cloudflare Workers R2 bucket binding (`[[r2_buckets]]` in wrangler.toml):
 * no request signing, no XML, no SDK. Only in a Worker: the binding is an object workerd hands
 * the entry point in `env`; `runtime/worker.ts` passes it here when USAGEDB_STORE=r2.
 *
 * How the binding differs from the S3 API, and what this driver does about it:
 * - Conditions go in `onlyIf`: `If-Match` is `{ etagMatches }`, create-only is
 *   `{ etagDoesNotMatch: '*' }` (workerd builds a wildcard from a lone `*` since PR 2611, Aug
 *   2024; before that it compared against the literal ETag `*` and overwrote. The startup probe
 *   refuses a store where create-only does not hold, so such a runtime could not lose commits).
 *   Condition ETags are unquoted (workerd throws on quotes); `etag` is unquoted, `httpEtag` is
 *   the quoted header form: this driver uses `etag` only, and strips quotes from what it is given.
 * - A `put` whose condition fails resolves to `null` (no exception): PreconditionFailedError,
 *   also for `If-Match` on a missing key (R2 does not say 404 there).
 * - A `get` whose `onlyIf` fails resolves to an object WITHOUT a body (metadata only), not to
 *   `null`: that is the not-modified answer of a revalidation.
 * - A range that starts at or past the end, or has length 0, is an error in R2 (10039 Invalid
 *   Range) and an empty body in the other drivers: answered as an empty body here too.
 * - Errors are thrown as `Error`s whose message ends in R2's numeric code, e.g.
 *   `put: Reduce your concurrent request rate for the same object. (10058)`. Mapped like the S3
 *   driver maps HTTP statuses: a definite refusal (auth, bad request) is StoreRefusedError; 429
 *   (10058: R2's one-write-per-second-per-key limit) and 503 are throttling; a write that threw
 *   anything else may have landed (the binding cannot tell us), so it is AmbiguousWriteError;
 *   a read, TransientStoreError. TypeError/RangeError from workerd's argument checks are bugs
 *   and pass through unchanged (nothing was sent).
 * There are no hidden retries: the binding makes one attempt, as the commit loop wants.
 */
import { AmbiguousWriteError, ObjectNotFoundError, PreconditionFailedError, StoreError, StoreRefusedError, TransientStoreError } from './errors.ts';
import type { GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from './types.ts';
import { normalizeEtag } from './types.ts';
import { DEFAULT_LIST_LIMIT } from './util.ts';

// The part of the Workers R2 API this driver uses, declared here: @cloudflare/workers-types
// redeclares Request, Response and fetch, which clashes with @types/node in this project.

/** R2Object: metadata of a stored object (`head`, `put`, and a `get` whose condition failed). */
export interface R2ObjectLike {
  readonly key: string;
  /** Unquoted. (`httpEtag` is the quoted header form; not used.) */
  readonly etag: string;
  /** Size of the whole object, also on a ranged `get`. */
  readonly size: number;
  readonly uploaded: Date;
}

/** R2ObjectBody: what `get` resolves to when it has the bytes. */
export interface R2ObjectBodyLike extends R2ObjectLike {
  readonly body: unknown;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** R2Conditional, the subset used: one unquoted ETag, or `*`. */
export interface R2ConditionalLike {
  readonly etagMatches?: string;
  readonly etagDoesNotMatch?: string;
}

export interface R2BucketBinding {
  head(key: string): Promise<R2ObjectLike | null>;
  get(key: string, options?: { onlyIf?: R2ConditionalLike; range?: { offset: number; length?: number } }): Promise<R2ObjectBodyLike | R2ObjectLike | null>;
  put(
    key: string,
    value: ArrayBufferView | ArrayBuffer,
    options?: { onlyIf?: R2ConditionalLike; httpMetadata?: { contentType?: string } },
  ): Promise<R2ObjectLike | null>;
  delete(keys: string | string[]): Promise<void>;
  list(options?: { prefix?: string; cursor?: string; limit?: number }): Promise<{ objects: R2ObjectLike[]; truncated: boolean; cursor?: string }>;
}

/** Whether `value` looks like an R2 bucket binding (Worker `env` values are untyped). */
export function isR2Bucket(value: unknown): value is R2BucketBinding {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return ['head', 'get', 'put', 'delete', 'list'].every((m) => typeof v[m] === 'function');
}

const hasBody = (o: R2ObjectBodyLike | R2ObjectLike): o is R2ObjectBodyLike => 'body' in o && typeof (o as R2ObjectBodyLike).arrayBuffer === 'function';

const infoOf = (key: string, o: R2ObjectLike): ObjectInfo => ({ key, etag: normalizeEtag(o.etag), size: o.size, lastModified: o.uploaded });

export class R2BindingStore implements ObjectStore {
  readonly kind = 'r2';
  private readonly bucket: R2BucketBinding;

  constructor(bucket: R2BucketBinding) {
    this.bucket = bucket;
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult | null> {
    const range = opts.range;
    if (range !== undefined && range.length === 0) return this.emptyRange(key, opts.ifNoneMatch);
    let res: R2ObjectBodyLike | R2ObjectLike | null;
    try {
      res = await this.bucket.get(key, {
        ...(opts.ifNoneMatch === undefined ? {} : { onlyIf: { etagDoesNotMatch: normalizeEtag(opts.ifNoneMatch) } }),
        ...(range === undefined ? {} : { range: range.length === undefined ? { offset: range.offset } : { offset: range.offset, length: range.length } }),
      });
    } catch (err) {
      if (range !== undefined && r2CodeOf(err) === INVALID_RANGE) return this.emptyRange(key, opts.ifNoneMatch);
      throw translate(err, key, 'read');
    }
    if (res === null) return null;
    // The condition failed: R2 answers with the object's metadata and no body.
    if (!hasBody(res)) return { notModified: true, etag: normalizeEtag(res.etag) };
    let body: Uint8Array;
    try {
      body = new Uint8Array(await res.arrayBuffer());
    } catch (err) {
      throw translate(err, key, 'read');
    }
    return { notModified: false, body, info: infoOf(key, res) };
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const res = await this.bucket.head(key);
      return res === null ? null : infoOf(key, res);
    } catch (err) {
      throw translate(err, key, 'read');
    }
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<{ etag: string }> {
    if (opts.after !== undefined) await opts.after;
    const onlyIf: { etagMatches?: string; etagDoesNotMatch?: string } = {};
    if (opts.ifMatch !== undefined) onlyIf.etagMatches = normalizeEtag(opts.ifMatch);
    if (opts.ifNoneMatch === '*') onlyIf.etagDoesNotMatch = '*';
    let res: R2ObjectLike | null;
    try {
      res = await this.bucket.put(key, body, {
        ...(Object.keys(onlyIf).length > 0 ? { onlyIf } : {}),
        httpMetadata: { contentType: opts.contentType ?? 'application/octet-stream' },
      });
    } catch (err) {
      throw translate(err, key, 'write');
    }
    // R2's answer to a failed condition: nothing written (If-Match on a missing key included).
    if (res === null) throw new PreconditionFailedError(`precondition failed on ${key}`);
    if (typeof res.etag !== 'string' || res.etag === '') throw new AmbiguousWriteError(`PUT ${key} answered without an ETag`);
    return { etag: normalizeEtag(res.etag) };
  }

  async delete(key: string): Promise<void> {
    try {
      await this.bucket.delete(key);
    } catch (err) {
      if (r2CodeOf(err) === NO_SUCH_KEY) return;
      throw translate(err, key, 'read');
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    try {
      const res = await this.bucket.list({
        prefix,
        ...(opts.cursor === undefined ? {} : { cursor: opts.cursor }),
        limit: Math.max(1, Math.min(opts.limit ?? DEFAULT_LIST_LIMIT, DEFAULT_LIST_LIMIT)),
      });
      // R2 may return fewer than `limit` objects on a page that is not the last: `truncated` says.
      return { items: res.objects.map((o) => infoOf(o.key, o)), cursor: res.truncated && res.cursor !== undefined ? res.cursor : undefined };
    } catch (err) {
      throw translate(err, prefix, 'read');
    }
  }

  /** An empty range of an existing object, as the other drivers answer it (R2 refuses it). */
  private async emptyRange(key: string, ifNoneMatch: string | undefined): Promise<GetResult | null> {
    const info = await this.head(key);
    if (info === null) return null;
    if (ifNoneMatch !== undefined && normalizeEtag(ifNoneMatch) === info.etag) return { notModified: true, etag: info.etag };
    return { notModified: false, body: new Uint8Array(), info };
  }
}

// R2 error codes (developers.cloudflare.com/r2/api/error-codes) and the HTTP status of each.
const NO_SUCH_KEY = 10007;
const INVALID_RANGE = 10039;
const TOO_MANY_REQUESTS = 10058;
const R2_STATUS: Readonly<Record<number, number>> = {
  10001: 500, // InternalError
  10002: 401, // Unauthorized
  10003: 403, // AccessDenied
  10005: 400, // InvalidBucketName
  10006: 404, // NoSuchBucket
  [NO_SUCH_KEY]: 404,
  10011: 400, // EntityTooSmall
  10012: 400, // MetadataTooLarge
  10013: 400, // IncompleteBody: the body broke off; nothing stored, sending it again may work
  10014: 400, // InvalidDigest
  10018: 400, // ExpiredRequest
  10020: 400, // InvalidObjectName
  10031: 412, // PreconditionFailed (the binding answers null instead; kept for completeness)
  10033: 411, // MissingContentLength
  10035: 403, // SignatureDoesNotMatch
  10037: 400, // BadDigest
  [INVALID_RANGE]: 416,
  10042: 403, // NotEntitled
  10043: 503, // ServiceUnavailable
  10054: 400, // ClientDisconnect: the request did not complete; not a refusal
  [TOO_MANY_REQUESTS]: 429, // one write per second per key
  10069: 403, // ObjectLockedByBucketPolicy
  100100: 400, // EntityTooLarge
};
/** 4xx codes that are not a verdict on the request: the request broke off or may be sent again. */
const NOT_A_REFUSAL = new Set([10013, 10054]);

/** R2's numeric code: a `code` property where the runtime gives one, else the `(NNNNN)` ending the message. */
export function r2CodeOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; v4Code?: unknown; message?: unknown } | null;
  for (const c of [e?.v4Code, e?.code]) if (typeof c === 'number' && c >= 10000) return c;
  const m = typeof e?.message === 'string' ? /\((\d{5,6})\)\s*$/.exec(e.message) : null;
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** The HTTP status an R2 error stands for, from its code, a `status` property, or a 429-like message. */
function statusOf(err: unknown): number | undefined {
  const code = r2CodeOf(err);
  if (code !== undefined && R2_STATUS[code] !== undefined) return R2_STATUS[code];
  const e = err as { status?: unknown; message?: unknown } | null;
  if (typeof e?.status === 'number') return e.status;
  const message = typeof e?.message === 'string' ? e.message : '';
  if (/\b429\b|too many requests|rate limit|reduce your (concurrent )?request rate/i.test(message)) return 429;
  return undefined;
}

/** Maps what the binding threw to the store's typed errors; a write that threw without a verdict is ambiguous. */
function translate(err: unknown, key: string, op: 'read' | 'write'): Error {
  if (err instanceof StoreError) return err;
  // workerd's own argument checks (a bug here, not a store answer): nothing was sent.
  if (err instanceof TypeError || err instanceof RangeError) return err;
  const code = r2CodeOf(err);
  const status = statusOf(err);
  const what = `${status ?? '?'}${code === undefined ? '' : ` R2 ${code}`}`;
  if (status === 412) return new PreconditionFailedError(`precondition failed on ${key}`, { cause: err });
  if (code === 10006) return new StoreRefusedError(`R2 bucket of the binding does not exist (${key})`, { cause: err });
  if (status === 404 && op === 'write') return new ObjectNotFoundError(`${key} does not exist`, { cause: err });
  const throttled = status === 429 || status === 503;
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429 && !(code !== undefined && NOT_A_REFUSAL.has(code))) {
    // A definite refusal (auth, bad request): neither retryable nor ambiguous.
    return new StoreRefusedError(`R2 refused ${op} of ${key}: ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
  }
  if (op === 'write') return new AmbiguousWriteError(`write of ${key} has an unknown outcome (${what})`, { cause: err, throttled });
  return new TransientStoreError(`R2 unavailable reading ${key} (${what})`, { cause: err, throttled });
}
