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
