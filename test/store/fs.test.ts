import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PreconditionFailedError } from '../../src/store/errors.ts';
import { FsStore } from '../../src/store/fs.ts';
import { describeObjectStore } from './conformance.ts';

const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-'));
let n = 0;
// `other` is a second FsStore on the same directory: separate caches, as a second process has.
describeObjectStore('fs', async () => ({ store: new FsStore({ root }), other: new FsStore({ root }), prefix: `f${n++}` }));

describe('fs store: its directory changed behind its back', () => {
  it('a PUT into a directory removed since the last PUT there makes it again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'usagedb-fs-rm-'));
    const store = new FsStore({ root: dir });
    await store.put('p/shards/00/a', new TextEncoder().encode('a'));
    rmSync(join(dir, 'objects', 'p', 'shards'), { recursive: true });
    await store.put('p/shards/00/b', new TextEncoder().encode('b'));
    const got = await store.get('p/shards/00/b');
    expect(got !== null && !got.notModified && new TextDecoder().decode(got.body)).toBe('b');
  });

  it('a conditional PUT sees a version another writer put since (If-Match on the old ETag fails)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'usagedb-fs-memo-'));
    const mine = new FsStore({ root: dir });
    const theirs = new FsStore({ root: dir });
    const first = await mine.put('k', new TextEncoder().encode('one'), { ifNoneMatch: '*' });
    const got = await theirs.get('k');
    expect(got !== null && !got.notModified && got.info.etag).toBe(first.etag);
    // Same size, new content: only the file's identity tells the versions apart.
    await theirs.put('k', new TextEncoder().encode('two'), { ifMatch: first.etag });
    await expect(mine.put('k', new TextEncoder().encode('six'), { ifMatch: first.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
  });
});

describe('fs store: ranged reads and listings do not hash the object', () => {
  it('a fresh process answers them a weak ETag that satisfies no condition; whole reads still answer the content ETag', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'usagedb-fs-weak-'));
    const body = new Uint8Array(3 << 20).map((_, i) => (i * 31) & 255);
    const put = await new FsStore({ root: dir }).put('p/seg', body, { ifNoneMatch: '*' });
    const fresh = new FsStore({ root: dir }); // another process: no remembered ETags
    const ranged = await fresh.get('p/seg', { range: { offset: 1000, length: 16 } });
    expect(ranged !== null && !ranged.notModified && [...ranged.body]).toEqual([...body.subarray(1000, 1016)]);
    const weak = ranged !== null && !ranged.notModified ? ranged.info.etag : '';
    // Not the content's MD5: the 3 MiB were not read to answer 16 bytes.
    expect(weak).not.toBe(put.etag);
    expect(weak).toMatch(/^w-\d+-3145728-\d+$/);
    const listed = (await fresh.list('p/')).items;
    expect(listed.map((i) => [i.key, i.size, i.etag.startsWith('w-')])).toEqual([['p/seg', 3 << 20, true]]);
    // A weak ETag never passes a condition: If-Match fails, revalidation answers the body.
    await expect(fresh.put('p/seg', new Uint8Array([1]), { ifMatch: weak })).rejects.toBeInstanceOf(PreconditionFailedError);
    const revalidated = await fresh.get('p/seg', { ifNoneMatch: weak });
    expect(revalidated?.notModified).toBe(false);
    // Whole reads and HEAD answer the content ETag, and from then on ranged reads reuse it.
    const whole = await fresh.get('p/seg');
    expect(whole !== null && !whole.notModified && whole.info.etag).toBe(put.etag);
    expect((await fresh.head('p/seg'))?.etag).toBe(put.etag);
    const again = await fresh.get('p/seg', { range: { offset: 0, length: 4 } });
    expect(again !== null && !again.notModified && again.info.etag).toBe(put.etag);
    expect((await fresh.get('p/seg', { ifNoneMatch: put.etag }))?.notModified).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});
