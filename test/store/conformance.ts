/**
 * One list of cases every ObjectStore driver must pass: memory, fs and S3 (MinIO). What the
 * manifest commit relies on is here: conditional create/replace, stale ETags, quoting,
 * not-modified revalidation, ranges, pagination, 404s, and one winner among N racing writers.
 */
import { describe, expect, it } from 'vitest';
import { ObjectNotFoundError, PreconditionFailedError, isRejectedWrite } from '../../src/store/errors.ts';
import { listAll, type ObjectStore } from '../../src/store/types.ts';

export interface StoreUnderTest {
  store: ObjectStore;
  /** Every key this test writes starts with this. */
  prefix: string;
  /** A second, independent client/instance on the same data (a second process or connection). */
  other?: ObjectStore;
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

export function describeObjectStore(name: string, make: () => Promise<StoreUnderTest>): void {
  describe(`ObjectStore conformance: ${name}`, () => {
    it('put then get returns the bytes, a non-empty unquoted ETag, size and lastModified', async () => {
      const { store, prefix } = await make();
      const { etag } = await store.put(`${prefix}/a`, enc.encode('hello'));
      expect(etag).toMatch(/^[^"]+$/);
      const r = await store.get(`${prefix}/a`);
      expect(r).not.toBeNull();
      if (r === null || r.notModified) throw new Error('missing');
      expect(text(r.body)).toBe('hello');
      expect(r.info.etag).toBe(etag);
      expect(r.info.size).toBe(5);
      expect(Math.abs(r.info.lastModified.getTime() - Date.now())).toBeLessThan(120_000);
      const h = await store.head(`${prefix}/a`);
      expect(h?.etag).toBe(etag);
      expect(h?.size).toBe(5);
    });

    it('missing keys: get and head are null, delete succeeds', async () => {
      const { store, prefix } = await make();
      expect(await store.get(`${prefix}/nope`)).toBeNull();
      expect(await store.head(`${prefix}/nope`)).toBeNull();
      await expect(store.delete(`${prefix}/nope`)).resolves.toBeUndefined();
    });

    it('If-None-Match: * creates once, then fails with PreconditionFailed and keeps the first body', async () => {
      const { store, prefix } = await make();
      await store.put(`${prefix}/once`, enc.encode('first'), { ifNoneMatch: '*' });
      await expect(store.put(`${prefix}/once`, enc.encode('second'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
      expect(await bodyOf(store, `${prefix}/once`)).toBe('first');
    });

    it('If-Match replaces on the current ETag and refuses a stale one with PreconditionFailed', async () => {
      const { store, prefix } = await make();
      const k = `${prefix}/cas`;
      const v1 = await store.put(k, enc.encode('v1'));
      const v2 = await store.put(k, enc.encode('v2'), { ifMatch: v1.etag });
      expect(v2.etag).not.toBe(v1.etag);
      await expect(store.put(k, enc.encode('v3'), { ifMatch: v1.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
      expect(await bodyOf(store, k)).toBe('v2');
      const v3 = await store.put(k, enc.encode('v3'), { ifMatch: v2.etag });
      expect((await store.head(k))?.etag).toBe(v3.etag);
    });

    it('If-Match on a missing key is refused (404 or 412) and creates nothing', async () => {
      const { store, prefix } = await make();
      const err = await store.put(`${prefix}/ghost`, enc.encode('x'), { ifMatch: '0123456789abcdef0123456789abcdef' }).catch((e: unknown) => e);
      expect(isRejectedWrite(err)).toBe(true);
      expect(err instanceof ObjectNotFoundError || err instanceof PreconditionFailedError).toBe(true);
      expect(await store.head(`${prefix}/ghost`)).toBeNull();
    });

    it('accepts ETags quoted or unquoted in conditions', async () => {
      const { store, prefix } = await make();
      const k = `${prefix}/quote`;
      const v1 = await store.put(k, enc.encode('a'));
      const v2 = await store.put(k, enc.encode('b'), { ifMatch: `"${v1.etag}"` });
      await store.put(k, enc.encode('c'), { ifMatch: v2.etag });
      const r = await store.get(k, { ifNoneMatch: `"${(await store.head(k))!.etag}"` });
      expect(r?.notModified).toBe(true);
    });

    it('revalidation answers not-modified for the current ETag and the new body after a change', async () => {
      const { store, prefix } = await make();
      const k = `${prefix}/reval`;
      const v1 = await store.put(k, enc.encode('one'));
      const same = await store.get(k, { ifNoneMatch: v1.etag });
      expect(same).toEqual({ notModified: true, etag: v1.etag });
      const v2 = await store.put(k, enc.encode('two'));
      const changed = await store.get(k, { ifNoneMatch: v1.etag });
      if (changed === null || changed.notModified) throw new Error('expected a body');
      expect(text(changed.body)).toBe('two');
      expect(changed.info.etag).toBe(v2.etag);
    });

    it('identical bytes give identical ETags (so manifests must differ by generation)', async () => {
      const { store, prefix } = await make();
      const a = await store.put(`${prefix}/same1`, enc.encode('identical'));
      const b = await store.put(`${prefix}/same2`, enc.encode('identical'));
      expect(a.etag).toBe(b.etag);
    });

    it('byte ranges return exactly the requested bytes and the whole object size', async () => {
      const { store, prefix } = await make();
      const k = `${prefix}/range`;
      const body = new Uint8Array(1000).map((_, i) => i % 251);
      await store.put(k, body);
      const mid = await store.get(k, { range: { offset: 100, length: 50 } });
      if (mid === null || mid.notModified) throw new Error('missing');
      expect([...mid.body]).toEqual([...body.subarray(100, 150)]);
      expect(mid.info.size).toBe(1000);
      const tail = await store.get(k, { range: { offset: 990 } });
      if (tail === null || tail.notModified) throw new Error('missing');
      expect([...tail.body]).toEqual([...body.subarray(990)]);
      const past = await store.get(k, { range: { offset: 995, length: 100 } });
      if (past === null || past.notModified) throw new Error('missing');
      expect(past.body.byteLength).toBe(5);
    });

    it('binary bodies round-trip, including an empty one', async () => {
      const { store, prefix } = await make();
      const bytes = new Uint8Array(256).map((_, i) => 255 - i);
      await store.put(`${prefix}/bin`, bytes);
      await store.put(`${prefix}/empty`, new Uint8Array());
      const r = await store.get(`${prefix}/bin`);
      if (r === null || r.notModified) throw new Error('missing');
      expect([...r.body]).toEqual([...bytes]);
      const e = await store.get(`${prefix}/empty`);
      if (e === null || e.notModified) throw new Error('missing');
      expect(e.body.byteLength).toBe(0);
    });

    it('lists by prefix in ascending order across pages, and not past the prefix', async () => {
      const { store, prefix } = await make();
      const keys = Array.from({ length: 23 }, (_, i) => `${prefix}/list/k${String(i).padStart(3, '0')}`);
      await Promise.all(keys.map((k) => store.put(k, enc.encode(k))));
      await store.put(`${prefix}/listx/other`, enc.encode('x'));
      await store.put(`${prefix}/lis`, enc.encode('x'));
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list(`${prefix}/list/`, { cursor, limit: 5 });
        expect(page.items.length).toBeLessThanOrEqual(5);
        seen.push(...page.items.map((i) => i.key));
        cursor = page.cursor;
        pages++;
      } while (cursor !== undefined);
      expect(seen).toEqual(keys);
      expect(pages).toBe(5);
      const partial: string[] = [];
      for await (const info of listAll(store, `${prefix}/list/k01`)) partial.push(info.key);
      expect(partial).toEqual(keys.slice(10, 20));
      const all = await store.list(`${prefix}/lis`);
      expect(all.items.map((i) => i.key)).toEqual([`${prefix}/lis`, ...keys, `${prefix}/listx/other`]);
    });

    it('delete removes the object', async () => {
      const { store, prefix } = await make();
      await store.put(`${prefix}/del`, enc.encode('x'));
      await store.delete(`${prefix}/del`);
      expect(await store.head(`${prefix}/del`)).toBeNull();
      expect((await store.list(`${prefix}/del`)).items).toEqual([]);
    });

    it('exactly one of N concurrent conditional writers wins, from every client', async () => {
      const { store, prefix, other } = await make();
      const clients = other === undefined ? [store] : [store, other];
      const k = `${prefix}/race`;
      const base = await store.put(k, enc.encode('base'));
      const n = 12;
      const results = await Promise.allSettled(
        Array.from({ length: n }, (_, i) => clients[i % clients.length]!.put(k, enc.encode(`writer ${i}`), { ifMatch: base.etag })),
      );
      const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(isRejectedWrite(r.reason)).toBe(true);
      expect(await bodyOf(store, k)).toBe(`writer ${won[0]}`);

      const created = await Promise.allSettled(
        Array.from({ length: n }, (_, i) => clients[i % clients.length]!.put(`${k}-new`, enc.encode(`creator ${i}`), { ifNoneMatch: '*' })),
      );
      expect(created.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    });
  });
}
