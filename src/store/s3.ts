/**
 * S3-compatible ObjectStore on @aws-sdk/client-s3 (AWS S3, Cloudflare R2's S3 API, MinIO).
 * Runs in Node and in workerd. Writes go through a client with the SDK's own retries switched
 * off: a hidden retry of a PUT that landed would come back 412 and look like a lost race, so
 * the manifest layer retries itself, knowing the three outcomes. Reads keep the SDK's retries.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import {
  AmbiguousWriteError,
  ConflictError,
  ObjectNotFoundError,
  PreconditionFailedError,
  StoreError,
  StoreRefusedError,
  TransientStoreError,
} from './errors.ts';
import type { GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from './types.ts';
import { normalizeEtag, quoteEtag } from './types.ts';
import { DEFAULT_LIST_LIMIT } from './util.ts';

export interface S3StoreOptions {
  readonly bucket: string;
  readonly endpoint?: string;
  readonly region?: string;
  readonly accessKeyId?: string;
  readonly secretAccessKey?: string;
  /** Path-style addressing (MinIO, most self-hosted servers). */
  readonly forcePathStyle?: boolean;
  /** Milliseconds before a request is abandoned (a write abandoned this way is ambiguous). */
  readonly requestTimeoutMs?: number;
  /** Attempts for reads, lists and deletes (the SDK's retry); writes always make one. */
  readonly readAttempts?: number;
}

interface SdkError {
  name?: string;
  code?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

export class S3Store implements ObjectStore {
  readonly kind = 's3';
  readonly bucket: string;
  private readonly reads: S3Client;
  private readonly writes: S3Client;

  constructor(opts: S3StoreOptions) {
    this.bucket = opts.bucket;
    const timeout = opts.requestTimeoutMs ?? 15_000;
    const base: S3ClientConfig = {
      region: opts.region ?? 'auto',
      forcePathStyle: opts.forcePathStyle ?? false,
      // Checksums the SDK adds by default are not understood by every S3-compatible server.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { requestTimeout: timeout, connectionTimeout: Math.min(timeout, 5_000) },
    };
    if (opts.endpoint !== undefined) base.endpoint = opts.endpoint;
    if (opts.accessKeyId !== undefined && opts.secretAccessKey !== undefined) {
      base.credentials = { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey };
    }
    this.reads = new S3Client({ ...base, maxAttempts: opts.readAttempts ?? 3 });
    this.writes = new S3Client({ ...base, maxAttempts: 1 });
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult | null> {
    let range: string | undefined;
    if (opts.range !== undefined) {
      const { offset, length } = opts.range;
      range = length === undefined ? `bytes=${offset}-` : `bytes=${offset}-${offset + length - 1}`;
    }
    try {
      const res = await this.reads.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Range: range,
          IfNoneMatch: opts.ifNoneMatch === undefined ? undefined : quoteEtag(opts.ifNoneMatch),
        }),
      );
      const body = res.Body === undefined ? new Uint8Array() : await bodyBytes(res.Body, res.ContentLength);
      const total = totalSize(res.ContentRange) ?? res.ContentLength ?? body.byteLength;
      return {
        notModified: false,
        body,
        info: { key, etag: normalizeEtag(res.ETag ?? ''), size: total, lastModified: res.LastModified ?? new Date(0) },
      };
    } catch (err) {
      const status = statusOf(err);
      if (status === 304) return { notModified: true, etag: normalizeEtag(opts.ifNoneMatch ?? '') };
      if (status === 404) return null;
      throw translate(err, key, 'read');
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    try {
      const res = await this.reads.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, etag: normalizeEtag(res.ETag ?? ''), size: res.ContentLength ?? 0, lastModified: res.LastModified ?? new Date(0) };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw translate(err, key, 'read');
    }
  }

  async put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<{ etag: string }> {
    if (opts.after !== undefined) await opts.after;
    try {
      const res = await this.writes.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.byteLength,
          ContentType: opts.contentType ?? 'application/octet-stream',
          IfMatch: opts.ifMatch === undefined ? undefined : quoteEtag(opts.ifMatch),
          IfNoneMatch: opts.ifNoneMatch,
        }),
      );
      if (res.ETag === undefined) throw new AmbiguousWriteError(`PUT ${key} answered without an ETag`);
      return { etag: normalizeEtag(res.ETag) };
    } catch (err) {
      throw translate(err, key, 'write');
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.reads.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (statusOf(err) === 404) return;
      throw translate(err, key, 'read');
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    try {
      const res = await this.reads.send(
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ContinuationToken: opts.cursor,
          MaxKeys: Math.max(1, Math.min(opts.limit ?? DEFAULT_LIST_LIMIT, DEFAULT_LIST_LIMIT)),
        }),
      );
      const items: ObjectInfo[] = (res.Contents ?? []).map((o) => ({
        key: o.Key ?? '',
        etag: normalizeEtag(o.ETag ?? ''),
        size: o.Size ?? 0,
        lastModified: o.LastModified ?? new Date(0),
      }));
      return { items, cursor: res.IsTruncated ? res.NextContinuationToken : undefined };
    } catch (err) {
      throw translate(err, prefix, 'read');
    }
  }

  destroy(): void {
    this.reads.destroy();
    this.writes.destroy();
  }
}

/**
 * A response body as one array. When the length is announced, chunks are copied into an array of
 * that length as they arrive, so each chunk is garbage at once; the SDK's `transformToByteArray`
 * keeps every chunk until the body ends and then concatenates. A fresh process's first ingest
 * makes hundreds of ranged GETs at once (dedupe key filters of ~100 KB): chunks held that long
 * outlive young-generation collections, and their malloc'd memory leaves holes in the C heap that
 * stay resident after they are freed (MinIO, 5M events in the window: RSS after the first ingest
 * ~139 -> ~131 MB; docs/deploy.md "Memory settings"). A Node stream is read in flowing mode ('data'
 * events, as the SDK's collector does): its async iterator reads in paused mode, 16 KB at a time
 * with an event-loop turn between reads, which made a first ingest's burst of GETs slower.
 * Otherwise (workerd's ReadableStream) its async iterator; without a length, the SDK's way.
 */
export async function bodyBytes(body: { transformToByteArray(): Promise<Uint8Array> }, length: number | undefined): Promise<Uint8Array> {
  if (length === undefined) return body.transformToByteArray();
  const stream = body as unknown as Partial<NodeStream>;
  if (typeof stream.on === 'function' && typeof stream.once === 'function') return flowInto(stream as NodeStream, length);
  const chunks = body as unknown as Partial<AsyncIterable<Uint8Array>>;
  if (typeof chunks[Symbol.asyncIterator] !== 'function') return body.transformToByteArray();
  const out = new Uint8Array(length);
  let at = 0;
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    if (at + chunk.byteLength > length) throw tooLong(length);
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  if (at !== length) throw tooShort(at, length);
  return out;
}

/** What `bodyBytes` uses of a Node readable stream (an http.IncomingMessage). */
interface NodeStream {
  on(event: 'data', fn: (chunk: Uint8Array) => void): unknown;
  once(event: 'end' | 'close', fn: () => void): unknown;
  once(event: 'error', fn: (err: unknown) => void): unknown;
  destroy?(): unknown;
}

function flowInto(stream: NodeStream, length: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const out = new Uint8Array(length);
    let at = 0;
    let settled = false;
    const fail = (err: unknown) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    stream.on('data', (chunk) => {
      if (settled) return;
      if (at + chunk.byteLength > length) {
        fail(tooLong(length));
        stream.destroy?.();
        return;
      }
      out.set(chunk, at);
      at += chunk.byteLength;
    });
    stream.once('error', fail);
    stream.once('end', () => {
      if (settled) return;
      settled = true;
      if (at === length) resolve(out);
      else reject(tooShort(at, length));
    });
    // Closed without 'end' (the connection dropped) and without an error: the body is incomplete.
    stream.once('close', () => fail(tooShort(at, length)));
  });
}

const tooLong = (length: number) => new Error(`response body longer than its Content-Length (${length})`);
const tooShort = (at: number, length: number) => new Error(`response body of ${at} bytes, Content-Length said ${length}`);

function statusOf(err: unknown): number | undefined {
  const e = err as SdkError;
  return e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;
}

function totalSize(contentRange: string | undefined): number | undefined {
  const m = contentRange === undefined ? null : /\/(\d+)$/.exec(contentRange);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}

/** Maps an SDK failure to the store's typed errors; `write` failures with no answer are ambiguous. */
function translate(err: unknown, key: string, op: 'read' | 'write'): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as SdkError;
  const status = statusOf(err);
  const name = e?.name ?? e?.Code ?? e?.code ?? 'Error';
  if (status === 412) return new PreconditionFailedError(`precondition failed on ${key}`, { cause: err });
  if (status === 409) return new ConflictError(`concurrent conditional write on ${key} (${name})`, { cause: err });
  if (name === 'NoSuchBucket') return new StoreRefusedError(`bucket does not exist (${key})`, { cause: err });
  if (status === 404 && op === 'write') return new ObjectNotFoundError(`${key} does not exist`, { cause: err });
  const throttled = status === 429 || status === 503 || name === 'SlowDown' || name === 'ThrottlingException';
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    // A definite refusal (auth, bad request): neither retryable nor ambiguous.
    return new StoreRefusedError(`store refused ${op} of ${key}: ${status} ${name}`, { cause: err });
  }
  if (op === 'write') return new AmbiguousWriteError(`write of ${key} has an unknown outcome (${status ?? name})`, { cause: err, throttled });
  return new TransientStoreError(`store unavailable reading ${key} (${status ?? name})`, { cause: err, throttled });
}
