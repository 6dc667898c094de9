/**
 * One list of cases every ObjectStore driver must pass: memory, fs, S3 (MinIO) and the R2 binding
 * (inside workerd). What the manifest commit relies on is here: conditional create/replace, stale
 * ETags, quoting, not-modified revalidation, ranges, pagination, 404s, and one winner among N
 * racing writers.
 *
 * Plain async functions with dependency-free assertions (test/support/check.ts), so the same
 * cases run under vitest (conformance.ts wraps each in an `it`) and inside a Worker bundle
 * (r2-conformance.worker.ts runs them against an R2 binding and reports per case).
 */
import { ObjectNotFoundError, PreconditionFailedError, isRejectedWrite } from '../../src/store/errors.ts';
import { listAll, type ObjectStore } from '../../src/store/types.ts';
import { check } from '../support/check.ts';

export interface StoreUnderTest {
  store: ObjectStore;
  /** Every key this test writes starts with this. */
  prefix: string;
  /** A second, independent client/instance on the same data (a second process or connection). */
  other?: ObjectStore;
}

export interface StoreCase {
  readonly name: string;
  run(t: StoreUnderTest): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (b: Uint8Array) => dec.decode(b);

async function bodyOf(store: ObjectStore, key: string): Promise<string | null> {
  const r = await store.get(key);
  if (r === null) return null;
  if (r.notModified) throw new Error('unexpected not-modified');
  return text(r.body);
}

export const STORE_CASES: readonly StoreCase[] = [
  {
    name: 'put then get returns the bytes, a non-empty unquoted ETag, size and lastModified',
    async run({ store, prefix }) {
      const { etag } = await store.put(`${prefix}/a`, enc.encode('hello'));
      check.matches(etag, /^[^"]+$/, 'etag');
      const r = await store.get(`${prefix}/a`);
      if (r === null || r.notModified) throw new Error('missing');
      check.is(text(r.body), 'hello', 'body');
      check.is(r.info.etag, etag, 'info.etag');
      check.is(r.info.size, 5, 'info.size');
      check.ok(Math.abs(r.info.lastModified.getTime() - Date.now()) < 120_000, `lastModified ${r.info.lastModified.toISOString()} is within 2 minutes of now`);
      const h = await store.head(`${prefix}/a`);
      check.is(h?.etag, etag, 'head etag');
      check.is(h?.size, 5, 'head size');
    },
  },
  {
    name: 'missing keys: get and head are null, delete succeeds',
    async run({ store, prefix }) {
      check.is(await store.get(`${prefix}/nope`), null, 'get');
      check.is(await store.head(`${prefix}/nope`), null, 'head');
      check.is(await store.delete(`${prefix}/nope`), undefined, 'delete');
    },
  },
  {
    name: 'If-None-Match: * creates once, then fails with PreconditionFailed and keeps the first body',
    async run({ store, prefix }) {
      await store.put(`${prefix}/once`, enc.encode('first'), { ifNoneMatch: '*' });
      await check.rejectsWith(store.put(`${prefix}/once`, enc.encode('second'), { ifNoneMatch: '*' }), PreconditionFailedError, 'second create');
      check.is(await bodyOf(store, `${prefix}/once`), 'first', 'body');
    },
  },
  {
    name: 'If-Match replaces on the current ETag and refuses a stale one with PreconditionFailed',
    async run({ store, prefix }) {
      const k = `${prefix}/cas`;
      const v1 = await store.put(k, enc.encode('v1'));
      const v2 = await store.put(k, enc.encode('v2'), { ifMatch: v1.etag });
      check.not(v2.etag, v1.etag, 'new etag');
      await check.rejectsWith(store.put(k, enc.encode('v3'), { ifMatch: v1.etag }), PreconditionFailedError, 'stale If-Match');
      check.is(await bodyOf(store, k), 'v2', 'body');
      const v3 = await store.put(k, enc.encode('v3'), { ifMatch: v2.etag });
      check.is((await store.head(k))?.etag, v3.etag, 'head etag');
    },
  },
  {
    name: 'a PUT `after` another lands once that one did; after one that fails it is not made and fails with its error',
    async run({ store, prefix }) {
      // Started together, as ingest starts a segment PUT and then the manifest PUT that lists it.
      const segment = store.put(`${prefix}/after-seg`, enc.encode('segment'), { ifNoneMatch: '*' });
      const manifest = store.put(`${prefix}/after-man`, enc.encode('manifest'), { ifNoneMatch: '*', after: segment });
      await manifest;
      check.is(await bodyOf(store, `${prefix}/after-seg`), 'segment', 'the write it depended on');
      check.is(await bodyOf(store, `${prefix}/after-man`), 'manifest', 'the dependent write');
      // The first write fails (the key exists): the dependent one is not made.
      const again = store.put(`${prefix}/after-seg`, enc.encode('other'), { ifNoneMatch: '*' });
      const dependent = store.put(`${prefix}/after-dep`, enc.encode('never'), { ifNoneMatch: '*', after: again });
      await check.rejectsWith(again, PreconditionFailedError, 'the failing write');
      await check.rejectsWith(dependent, PreconditionFailedError, 'the dependent write fails with its error');
      check.is(await store.head(`${prefix}/after-dep`), null, 'nothing written');
      check.is(await bodyOf(store, `${prefix}/after-seg`), 'segment', 'first body kept');
    },
  },
  {
    name: 'If-Match on a missing key is refused (404 or 412) and creates nothing',
    async run({ store, prefix }) {
      const err = await check.rejects(store.put(`${prefix}/ghost`, enc.encode('x'), { ifMatch: '0123456789abcdef0123456789abcdef' }));
      check.ok(isRejectedWrite(err), `a rejected write, got ${String(err)}`);
      check.ok(err instanceof ObjectNotFoundError || err instanceof PreconditionFailedError, 'ObjectNotFound or PreconditionFailed');
      check.is(await store.head(`${prefix}/ghost`), null, 'head');
    },
  },
  {
    name: 'accepts ETags quoted or unquoted in conditions',
    async run({ store, prefix }) {
      const k = `${prefix}/quote`;
      const v1 = await store.put(k, enc.encode('a'));
      const v2 = await store.put(k, enc.encode('b'), { ifMatch: `"${v1.etag}"` });
      await store.put(k, enc.encode('c'), { ifMatch: v2.etag });
      const r = await store.get(k, { ifNoneMatch: `"${(await store.head(k))!.etag}"` });
      check.is(r?.notModified, true, 'notModified');
    },
  },
  {
    name: 'revalidation answers not-modified for the current ETag and the new body after a change',
    async run({ store, prefix }) {
      const k = `${prefix}/reval`;
      const v1 = await store.put(k, enc.encode('one'));
      const same = await store.get(k, { ifNoneMatch: v1.etag });
      check.equal(same, { notModified: true, etag: v1.etag }, 'same');
      const v2 = await store.put(k, enc.encode('two'));
      const changed = await store.get(k, { ifNoneMatch: v1.etag });
      if (changed === null || changed.notModified) throw new Error('expected a body');
      check.is(text(changed.body), 'two', 'body');
      check.is(changed.info.etag, v2.etag, 'etag');
    },
  },
  {
    name: 'identical bytes give identical ETags (so manifests must differ by generation)',
    async run({ store, prefix }) {
      const a = await store.put(`${prefix}/same1`, enc.encode('identical'));
      const b = await store.put(`${prefix}/same2`, enc.encode('identical'));
      check.is(a.etag, b.etag, 'etag');
    },
  },
  {
    name: 'byte ranges return exactly the requested bytes and the whole object size',
    async run({ store, prefix }) {
      const k = `${prefix}/range`;
      const body = new Uint8Array(1000).map((_, i) => i % 251);
      await store.put(k, body);
      const mid = await store.get(k, { range: { offset: 100, length: 50 } });
      if (mid === null || mid.notModified) throw new Error('missing');
      check.equal([...mid.body], [...body.subarray(100, 150)], 'middle');
      check.is(mid.info.size, 1000, 'size');
      const tail = await store.get(k, { range: { offset: 990 } });
      if (tail === null || tail.notModified) throw new Error('missing');
      check.equal([...tail.body], [...body.subarray(990)], 'tail');
      const past = await store.get(k, { range: { offset: 995, length: 100 } });
      if (past === null || past.notModified) throw new Error('missing');
      check.is(past.body.byteLength, 5, 'past the end');
    },
  },
  {
    name: 'binary bodies round-trip, including an empty one',
    async run({ store, prefix }) {
      const bytes = new Uint8Array(256).map((_, i) => 255 - i);
      await store.put(`${prefix}/bin`, bytes);
      await store.put(`${prefix}/empty`, new Uint8Array());
      const r = await store.get(`${prefix}/bin`);
      if (r === null || r.notModified) throw new Error('missing');
      check.equal([...r.body], [...bytes], 'binary');
      const e = await store.get(`${prefix}/empty`);
      if (e === null || e.notModified) throw new Error('missing');
      check.is(e.body.byteLength, 0, 'empty');
    },
  },
  {
    name: 'lists by prefix in ascending order across pages, and not past the prefix',
    async run({ store, prefix }) {
      const keys = Array.from({ length: 23 }, (_, i) => `${prefix}/list/k${String(i).padStart(3, '0')}`);
      await Promise.all(keys.map((k) => store.put(k, enc.encode(k))));
      await store.put(`${prefix}/listx/other`, enc.encode('x'));
      await store.put(`${prefix}/lis`, enc.encode('x'));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list(`${prefix}/list/`, { cursor, limit: 5 });
        check.ok(page.items.length <= 5, `page of ${page.items.length} items is at most 5`);
        seen.push(...page.items.map((i) => i.key));
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined);
      check.equal(seen, keys, 'keys');
      check.is(pages, 5, 'pages');
      const partial: string[] = [];
      for await (const info of listAll(store, `${prefix}/list/k01`)) partial.push(info.key);
      check.equal(partial, keys.slice(10, 20), 'listAll');
      const all = await store.list(`${prefix}/lis`);
      check.equal(
        all.items.map((i) => i.key),
        [`${prefix}/lis`, ...keys, `${prefix}/listx/other`],
        'one page',
      );
    },
  },
  {
    name: 'delete removes the object',
    async run({ store, prefix }) {
      await store.put(`${prefix}/del`, enc.encode('x'));
      await store.delete(`${prefix}/del`);
      check.is(await store.head(`${prefix}/del`), null, 'head');
      check.equal((await store.list(`${prefix}/del`)).items, [], 'list');
    },
  },
  {
    name: 'exactly one of N concurrent conditional writers wins, from every client',
    async run({ store, prefix, other }) {
      const clients = other === undefined ? [store] : [store, other];
      const k = `${prefix}/race`;
      const base = await store.put(k, enc.encode('base'));
      const n = 12;
      const results = await Promise.allSettled(
        Array.from({ length: n }, (_, i) => clients[i % clients.length]!.put(k, enc.encode(`writer ${i}`), { ifMatch: base.etag })),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      check.is(won.length, 1, 'winners');
      for (const r of results) if (r.status === 'rejected') check.ok(isRejectedWrite(r.reason), `a rejected write, got ${String(r.reason)}`);
      check.is(await bodyOf(store, k), `writer ${won[0]}`, 'body');

      const created = await Promise.allSettled(
        Array.from({ length: n }, (_, i) => clients[i % clients.length]!.put(`${k}-new`, enc.encode(`creator ${i}`), { ifNoneMatch: '*' })),
      );
      check.is(created.filter((r) => r.status === 'fulfilled').length, 1, 'creators');
    },
  },
];
