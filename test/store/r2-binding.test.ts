/**
 * The R2 binding driver (src/store/r2-binding.ts).
 *
 * 1. The store conformance suite INSIDE workerd: wrangler bundles r2-conformance.worker.ts (the
 *    same cases as memory, fs and MinIO run, plus the driver), miniflare runs it with two R2
 *    bindings of one simulated bucket, and each case is one test here, asked for over HTTP.
 *    Never skipped: if wrangler or workerd cannot run, every test fails with their output.
 * 2. How the driver reads the binding's answers and errors, on a scripted fake binding in Node:
 *    the body-less object of a failed conditional GET, `null` from a failed conditional PUT, R2's
 *    numeric error codes (10058 throttling, refusals, ranges), and what goes into `onlyIf`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Miniflare as MiniflareType } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AmbiguousWriteError, PreconditionFailedError, StoreRefusedError, TransientStoreError } from '../../src/store/errors.ts';
import { isR2Bucket, R2BindingStore, r2CodeOf, type R2BucketBinding, type R2ObjectLike } from '../../src/store/r2-binding.ts';
import { bundleWorker, RuntimeOutput, startWorkerd } from '../support/workerd.ts';
import { STORE_CASES } from './conformance-cases.ts';

describe('ObjectStore conformance: r2 binding (workerd, miniflare R2)', () => {
  const output = new RuntimeOutput();
  let mf: MiniflareType | undefined;
  let outdir: string | undefined;
  let startError: Error | undefined;

  beforeAll(async () => {
    try {
      outdir = await mkdtemp(join(tmpdir(), 'usagedb-r2-conformance-'));
      const script = await bundleWorker(outdir, output, 'test/store/r2-conformance.worker.ts');
      mf = await startWorkerd(script, outdir, {}, output, { r2Buckets: { BUCKET: 'conformance', BUCKET_OTHER: 'conformance' } });
    } catch (err) {
      startError = err as Error;
    }
  }, 120_000);

  afterAll(async () => {
    await mf?.dispose();
    if (outdir !== undefined) await rm(outdir, { recursive: true, force: true });
  });

  const worker = (): MiniflareType => {
    if (mf === undefined) throw startError ?? new Error(output.explain('workerd is not running'));
    return mf;
  };

  it('the Worker runs exactly the cases every other driver runs', async () => {
    const res = await worker().dispatchFetch('http://conformance.test/cases');
    expect(await res.json()).toEqual(STORE_CASES.map((c) => c.name));
  });

  for (const c of STORE_CASES) {
    it(c.name, async () => {
      const res = await worker().dispatchFetch(`http://conformance.test/run?case=${encodeURIComponent(c.name)}`, { method: 'POST' });
      const body = (await res.json()) as { ok: boolean; error?: string; stack?: string };
      if (!body.ok) throw new Error(output.explain(`inside workerd: ${body.error}\n${body.stack ?? ''}`));
      expect(res.status).toBe(200);
    });
  }

  it('runs all cases in one request too (the JSON report), every one passing', async () => {
    const res = await worker().dispatchFetch('http://conformance.test/run-all', { method: 'POST' });
    const report = (await res.json()) as { passed: number; failed: number; results: { name: string; ok: boolean; error?: string }[] };
    expect(report.results.filter((r) => !r.ok)).toEqual([]);
    expect(report).toMatchObject({ passed: STORE_CASES.length, failed: 0 });
  });
});

// ---- the driver on a scripted binding ----

const obj = (key: string, etag: string, size = 3): R2ObjectLike => ({ key, etag, size, uploaded: new Date(1_700_000_000_000) });
const withBody = (o: R2ObjectLike, bytes: Uint8Array) => ({ ...o, body: {}, arrayBuffer: async () => bytes.slice().buffer });

/** A binding whose every method fails unless the test gives it a body. */
function fakeBinding(over: Partial<R2BucketBinding>): R2BucketBinding & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  const unexpected =
    (name: string) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args]);
      throw new Error(`unexpected call ${name}`);
    };
  const wrap = <F extends (...a: any[]) => Promise<any>>(name: string, f: F | undefined): F =>
    (f === undefined
      ? unexpected(name)
      : async (...args: unknown[]) => {
          calls.push([name, ...args]);
          return f(...args);
        }) as F;
  return {
    calls,
    head: wrap('head', over.head),
    get: wrap('get', over.get),
    put: wrap('put', over.put),
    delete: wrap('delete', over.delete),
    list: wrap('list', over.list),
  };
}

const r2Error = (action: string, message: string, code: number) => new Error(`${action}: ${message} (${code})`);

describe('R2BindingStore: reading the binding', () => {
  it('a failed conditional GET (metadata, no body) is not-modified; a body is a normal answer; null is missing', async () => {
    const bytes = new TextEncoder().encode('abc');
    let answer: unknown = obj('k', 'e1');
    const binding = fakeBinding({ get: async () => answer as R2ObjectLike });
    const store = new R2BindingStore(binding);
    expect(await store.get('k', { ifNoneMatch: '"e1"' })).toEqual({ notModified: true, etag: 'e1' });
    // The condition goes to R2 unquoted (workerd refuses quoted ETags in onlyIf).
    expect(binding.calls[0]).toEqual(['get', 'k', { onlyIf: { etagDoesNotMatch: 'e1' } }]);
    answer = withBody(obj('k', 'e2'), bytes);
    const got = await store.get('k', { ifNoneMatch: 'e1' });
    expect(got).toMatchObject({ notModified: false, info: { key: 'k', etag: 'e2', size: 3 } });
    expect(got?.notModified === false && [...got.body]).toEqual([...bytes]);
    answer = null;
    expect(await store.get('k')).toBeNull();
  });

  it('a range goes to R2 as offset/length; an empty or out-of-bounds range is an empty body, as on the other drivers', async () => {
    const binding = fakeBinding({
      get: async (_k, o) => {
        if (o?.range?.offset === 10) throw r2Error('get', 'The requested range is not satisfiable', 10039);
        return withBody(obj('k', 'e', 10), new Uint8Array([1, 2]));
      },
      head: async () => obj('k', 'e', 10),
    });
    const store = new R2BindingStore(binding);
    const mid = await store.get('k', { range: { offset: 4, length: 2 } });
    expect(mid).toMatchObject({ notModified: false, info: { size: 10 } });
    expect(binding.calls[0]).toEqual(['get', 'k', { range: { offset: 4, length: 2 } }]);
    const past = await store.get('k', { range: { offset: 10 } });
    expect(past).toMatchObject({ notModified: false, body: new Uint8Array(), info: { etag: 'e', size: 10 } });
    const none = await store.get('k', { range: { offset: 3, length: 0 } });
    expect(none).toMatchObject({ notModified: false, body: new Uint8Array() });
    expect(binding.calls.filter((c) => c[0] === 'get')).toHaveLength(2);
  });

  it('lists with prefix, cursor and limit; the cursor is given back only while R2 says truncated', async () => {
    const binding = fakeBinding({
      list: async (o) =>
        o?.cursor === undefined
          ? { objects: [obj('p/a', 'x'), obj('p/b', 'y')], truncated: true, cursor: 'c1' }
          : { objects: [obj('p/c', 'z')], truncated: false, cursor: 'ignored' },
    });
    const store = new R2BindingStore(binding);
    const first = await store.list('p/', { limit: 5000 });
    expect(first.items.map((i) => i.key)).toEqual(['p/a', 'p/b']);
    expect(first.cursor).toBe('c1');
    expect(binding.calls[0]).toEqual(['list', { prefix: 'p/', limit: 1000 }]);
    const second = await store.list('p/', { cursor: 'c1', limit: 2 });
    expect(second).toMatchObject({ items: [{ key: 'p/c', etag: 'z' }], cursor: undefined });
  });

  it('recognizes a binding among Worker env values', () => {
    expect(isR2Bucket(fakeBinding({}))).toBe(true);
    expect(isR2Bucket('usagedb')).toBe(false);
    expect(isR2Bucket({ get: () => null })).toBe(false);
  });
});

describe('R2BindingStore: writing through the binding', () => {
  it('sends If-Match as etagMatches (unquoted) and create-only as etagDoesNotMatch "*"; null is PreconditionFailed', async () => {
    let answer: R2ObjectLike | null = obj('k', 'new');
    const binding = fakeBinding({ put: async () => answer });
    const store = new R2BindingStore(binding);
    expect(await store.put('k', new Uint8Array([1]), { ifMatch: '"old"', contentType: 'application/json' })).toEqual({ etag: 'new' });
    expect(binding.calls[0]).toEqual(['put', 'k', new Uint8Array([1]), { onlyIf: { etagMatches: 'old' }, httpMetadata: { contentType: 'application/json' } }]);
    await store.put('k', new Uint8Array([1]), { ifNoneMatch: '*' });
    expect(binding.calls[1]?.[3]).toMatchObject({ onlyIf: { etagDoesNotMatch: '*' } });
    await store.put('k', new Uint8Array([1]));
    expect(binding.calls[2]?.[3]).toEqual({ httpMetadata: { contentType: 'application/octet-stream' } });
    answer = null;
    await expect(store.put('k', new Uint8Array([1]), { ifMatch: 'old' })).rejects.toBeInstanceOf(PreconditionFailedError);
    await expect(store.put('k', new Uint8Array([1]), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
  });

  it("R2's per-key limit (10058, 429) is throttling: an ambiguous write, a transient read", async () => {
    const limit = () => r2Error('put', 'Reduce your concurrent request rate for the same object.', 10058);
    const store = new R2BindingStore(
      fakeBinding({
        put: async () => {
          throw limit();
        },
        get: async () => {
          throw r2Error('get', 'Reduce your concurrent request rate for the same object.', 10058);
        },
      }),
    );
    const w = await store.put('k', new Uint8Array([1]), { ifMatch: 'e' }).catch((e: unknown) => e);
    expect(w).toBeInstanceOf(AmbiguousWriteError);
    expect((w as AmbiguousWriteError).throttled).toBe(true);
    const r = await store.get('k').catch((e: unknown) => e);
    expect(r).toBeInstanceOf(TransientStoreError);
    expect((r as TransientStoreError).throttled).toBe(true);
    expect(r2CodeOf(limit())).toBe(10058);
  });

  it('429 told by a status or a message alone is throttling too; 10043 (503) is throttling', async () => {
    for (const thrown of [
      Object.assign(new Error('put failed'), { status: 429 }),
      new Error('put: Too Many Requests'),
      r2Error('put', 'Service is temporarily unavailable', 10043),
    ]) {
      const store = new R2BindingStore(
        fakeBinding({
          put: async () => {
            throw thrown;
          },
        }),
      );
      const err = await store.put('k', new Uint8Array([1])).catch((e: unknown) => e);
      expect(err, thrown.message).toBeInstanceOf(AmbiguousWriteError);
      expect((err as AmbiguousWriteError).throttled, thrown.message).toBe(true);
    }
  });

  it('a write that threw without a verdict is ambiguous (not throttled); a read is transient', async () => {
    const store = new R2BindingStore(
      fakeBinding({
        put: async () => {
          throw new Error('Network connection lost.');
        },
        head: async () => {
          throw r2Error('head', 'We encountered an internal error. Please try again.', 10001);
        },
      }),
    );
    const w = await store.put('k', new Uint8Array([1])).catch((e: unknown) => e);
    expect(w).toBeInstanceOf(AmbiguousWriteError);
    expect((w as AmbiguousWriteError).throttled).toBe(false);
    const r = await store.head('k').catch((e: unknown) => e);
    expect(r).toBeInstanceOf(TransientStoreError);
    expect((r as TransientStoreError).throttled).toBe(false);
  });

  it('definite refusals (access denied, no bucket, bad request) are StoreRefused; argument errors pass through', async () => {
    for (const [thrown, type] of [
      [r2Error('put', 'Access Denied', 10003), StoreRefusedError],
      [r2Error('put', 'The specified bucket does not exist.', 10006), StoreRefusedError],
      [r2Error('put', 'Your metadata headers exceed the maximum allowed metadata size.', 10012), StoreRefusedError],
      [r2Error('put', 'Client disconnected before request completed', 10054), AmbiguousWriteError],
      [new TypeError('Conditional ETag should not be wrapped in quotes'), TypeError],
    ] as const) {
      const store = new R2BindingStore(
        fakeBinding({
          put: async () => {
            throw thrown;
          },
        }),
      );
      await expect(store.put('k', new Uint8Array([1])), thrown.message).rejects.toBeInstanceOf(type);
    }
  });
});
