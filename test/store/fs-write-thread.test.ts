/**
 * The directory store's write thread (src/store/fs-write-thread.ts): what a PUT does when the thread
 * cannot finish it alone (a key lock held elsewhere), when the thread dies mid-write, and that an
 * idle thread never keeps a process alive.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AmbiguousWriteError, PreconditionFailedError } from '../../src/store/errors.ts';
import { FsStore } from '../../src/store/fs.ts';
import { WriteThread } from '../../src/store/fs-write-thread.ts';

const enc = new TextEncoder();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const lockFileOf = (root: string, key: string) => join(root, '.locks', `${createHash('sha256').update(key).digest('hex').slice(0, 40)}.lock`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A store whose `m/current.json` exists (v1) and whose key lock another process holds (a lock file). */
async function lockedManifest(name: string) {
  const root = mkdtempSync(join(tmpdir(), `usagedb-fs-${name}-`));
  const store = new FsStore({ root });
  const v1 = await store.put('m/current.json', enc.encode('one'), { ifNoneMatch: '*' });
  writeFileSync(lockFileOf(root, 'm/current.json'), '');
  return { root, store, v1, release: () => unlinkSync(lockFileOf(root, 'm/current.json')) };
}

/** `p`, and whether it has settled yet. */
function watched<T>(p: Promise<T>): { readonly promise: Promise<T>; settled(): boolean } {
  let done = false;
  const promise = p.finally(() => {
    done = true;
  });
  return { promise, settled: () => done };
}

describe('fs store: PUTs on the write thread', () => {
  it('a conditional PUT waits while another process holds the key lock, then checks If-Match and lands', async () => {
    const { root, store, v1, release } = await lockedManifest('lock');
    const put = watched(store.put('m/current.json', enc.encode('two'), { ifMatch: v1.etag }));
    await sleep(300);
    expect(put.settled()).toBe(false);
    expect(text(readFileSync(join(root, 'objects', 'm', 'current.json')))).toBe('one');
    release();
    const v2 = await put.promise;
    expect(text(readFileSync(join(root, 'objects', 'm', 'current.json')))).toBe('two');
    // The old ETag no longer matches; the new one does.
    await expect(store.put('m/current.json', enc.encode('six'), { ifMatch: v1.etag })).rejects.toBeInstanceOf(PreconditionFailedError);
    await store.put('m/current.json', enc.encode('three'), { ifMatch: v2.etag });
    expect(text(readFileSync(join(root, 'objects', 'm', 'current.json')))).toBe('three');
  });

  it('a create (If-None-Match: *) into a directory removed since the last one there makes it again', async () => {
    const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-link-'));
    const store = new FsStore({ root });
    await store.put('p/segments/a', enc.encode('a'), { ifNoneMatch: '*' });
    rmSync(join(root, 'objects', 'p', 'segments'), { recursive: true });
    await store.put('p/segments/b', enc.encode('b'), { ifNoneMatch: '*' });
    expect(text(readFileSync(join(root, 'objects', 'p', 'segments', 'b')))).toBe('b');
    await expect(store.put('p/segments/b', enc.encode('c'), { ifNoneMatch: '*' })).rejects.toBeInstanceOf(PreconditionFailedError);
  });

  it('a write thread that stops mid-write fails its PUT as ambiguous (it may have landed); the next PUT starts a new thread', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'usagedb-fs-thread-'));
    mkdirSync(join(dir, 'tmp'));
    const thread = new WriteThread();
    const big = new Uint8Array(64 << 20).fill(7);
    const first = thread.put({ tmp: join(dir, 'tmp', 'a'), path: join(dir, 'out', 'a'), body: big, fsync: true, mkdir: true, mode: 'link' });
    await thread.terminate();
    await expect(first).rejects.toBeInstanceOf(AmbiguousWriteError);
    const second = await thread.put({ tmp: join(dir, 'tmp', 'b'), path: join(dir, 'out', 'b'), body: enc.encode('b'), fsync: true, mkdir: true, mode: 'link' });
    expect(second.ok).toBe(true);
    expect(text(readFileSync(join(dir, 'out', 'b')))).toBe('b');
    await thread.terminate();
  });

  it('a process whose last PUT has answered exits on its own (the idle thread does not hold it)', () => {
    const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-exit-'));
    const fsModule = resolve(import.meta.dirname, '../../src/store/fs.ts');
    const code = `const { FsStore } = await import(${JSON.stringify(fsModule)});
      const s = new FsStore({ root: ${JSON.stringify(root)} });
      await s.put('k', new TextEncoder().encode('v'), { ifNoneMatch: '*' });
      await s.put('k', new TextEncoder().encode('w'), { ifMatch: (await s.head('k')).etag });
      console.log('done');`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 20_000 });
    expect(r.error).toBeUndefined();
    expect(r.stdout.trim()).toBe('done');
    expect(r.status).toBe(0);
    expect(text(readFileSync(join(root, 'objects', 'k')))).toBe('w');
  });
});

describe('fs store: what a PUT writes', () => {
  it('a body that is a view into a larger buffer is stored as exactly that view, and the caller keeps its buffer', async () => {
    const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-view-'));
    const store = new FsStore({ root });
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
    const view = big.subarray(1000, 1010);
    await store.put('v/a', view, { ifNoneMatch: '*' });
    expect([...readFileSync(join(root, 'objects', 'v', 'a'))]).toEqual([...big.subarray(1000, 1010)]);
    // Still usable: nothing was transferred away from the caller.
    expect(big.byteLength).toBe(1 << 20);
    expect(view[0]).toBe(1000 & 0xff);
  });
});

describe('fs store: a PUT after another one (PutOptions.after)', () => {
  it('chained on the thread behind a write the event loop finishes (its key lock held elsewhere): waits for it, then lands', async () => {
    const { root, store, v1, release } = await lockedManifest('after');
    const first = store.put('m/current.json', enc.encode('two'), { ifMatch: v1.etag });
    const second = watched(store.put('m/next.json', enc.encode('after two'), { ifNoneMatch: '*', after: first }));
    await sleep(300);
    expect(second.settled()).toBe(false);
    expect(() => readFileSync(join(root, 'objects', 'm', 'next.json'))).toThrow();
    release();
    await Promise.all([first, second.promise]);
    expect(text(readFileSync(join(root, 'objects', 'm', 'current.json')))).toBe('two');
    expect(text(readFileSync(join(root, 'objects', 'm', 'next.json')))).toBe('after two');
  });

  it('after a write whose thread stopped: fails with that write ambiguous error, writes nothing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'usagedb-fs-after-dead-'));
    const store = new FsStore({ root });
    await store.put('warm', enc.encode('w'));
    const thread = (store as unknown as { thread: WriteThread }).thread;
    const first = store.put('a', new Uint8Array(64 << 20), { ifNoneMatch: '*' });
    const second = store.put('b', enc.encode('b'), { ifNoneMatch: '*', after: first });
    await sleep(0);
    await thread.terminate();
    await expect(first).rejects.toBeInstanceOf(AmbiguousWriteError);
    await expect(second).rejects.toBeInstanceOf(AmbiguousWriteError);
    expect(() => readFileSync(join(root, 'objects', 'b'))).toThrow();
  });
});
