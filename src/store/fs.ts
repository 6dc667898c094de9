/**
 * Local-directory ObjectStore: the embedded default. Objects live under `<root>/objects/<key>`,
 * are written to `<root>/.tmp` and renamed (or, for `ifNoneMatch: '*'`, hard-linked) into place
 * (readers see whole versions only), and every other write holds a per-key lock file created with
 * O_EXCL, so `ifMatch` / `ifNoneMatch` stay atomic even when several processes share the directory. The ETag is the MD5 of the content,
 * as on S3, on whole reads, HEAD and PUT; ranged reads and listings answer a weak validator
 * instead of hashing the file (`statInfo`). A lock left by a crashed process is broken after `staleLockMs`.
 *
 * A process that dies between creating its temp file and renaming it leaves the temp file behind
 * (often 0 bytes: it died before writing). Nothing ever references a temp file, so on first use
 * the store removes those older than `tempSafetyAgeMs` (10 minutes): far longer than any write
 * takes, so a temp file another live process is still writing is never touched.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import type { BigIntStats, Dirent } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { ObjectNotFoundError, PreconditionFailedError, TransientStoreError } from './errors.ts';
import { type ThreadStat, type WriteTicket, WriteThread } from './fs-write-thread.ts';
import type { GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from './types.ts';
import { normalizeEtag } from './types.ts';
import { assertValidKey, pageOfSortedKeys } from './util.ts';

export interface FsStoreOptions {
  readonly root: string;
  /** fsync file and directory on every write (default true: this is a billing database). */
  readonly fsync?: boolean;
  readonly staleLockMs?: number;
  readonly lockTimeoutMs?: number;
  /** Temp files older than this (by mtime) are leftovers of crashed writes, removed on first use. */
  readonly tempSafetyAgeMs?: number;
}

/** Default age after which a temp file is a crash leftover. */
export const DEFAULT_TEMP_SAFETY_AGE_MS = 10 * 60_000;

interface EtagMemo {
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
  readonly etag: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class FsStore implements ObjectStore {
  readonly kind = 'fs';
  private readonly objectsDir: string;
  private readonly tmpDir: string;
  private readonly locksDir: string;
  private readonly fsync: boolean;
  private readonly staleLockMs: number;
  private readonly lockTimeoutMs: number;
  private readonly tempSafetyAgeMs: number;
  private readonly etags = new Map<string, EtagMemo>();
  /** Where PUTs run, whole (fs-write-thread.ts). */
  private readonly thread = new WriteThread();
  /** The thread tickets of this store's PUT promises (for `PutOptions.after`). */
  private readonly tickets = new WeakMap<Promise<unknown>, WriteTicket>();
  /** Temp file names: this store's random prefix and a counter (unique among processes sharing the directory). */
  private readonly tmpPrefix = randomBytes(12).toString('hex');
  private tmpCount = 0;
  /** Directories this store made or found (a PUT into one skips the mkdir). */
  private readonly dirs = new Set<string>();
  private ready: Promise<void> | undefined;
  /** Whether link(2) works here (see linkInto); false after the file system refused one. */
  private hardLinks = true;
  /** Temp files removed at start (leftovers of crashed writes); set once the first operation ran. */
  staleTempFilesRemoved = 0;

  constructor(opts: FsStoreOptions) {
    this.objectsDir = join(opts.root, 'objects');
    this.tmpDir = join(opts.root, '.tmp');
    this.locksDir = join(opts.root, '.locks');
    this.fsync = opts.fsync ?? true;
    this.staleLockMs = opts.staleLockMs ?? 30_000;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 10_000;
    this.tempSafetyAgeMs = opts.tempSafetyAgeMs ?? DEFAULT_TEMP_SAFETY_AGE_MS;
  }

  private init(): Promise<void> {
    this.ready ??= Promise.all([
      mkdir(this.objectsDir, { recursive: true }),
      mkdir(this.tmpDir, { recursive: true }),
      mkdir(this.locksDir, { recursive: true }),
    ]).then(async () => {
      this.staleTempFilesRemoved = await this.removeStaleTempFiles();
    });
    return this.ready;
  }

  /**
   * Deletes files in the temp directory whose mtime is older than the safety age; answers how many.
   * Best effort: a file another process removes first, or one that cannot be read, is skipped.
   */
  async removeStaleTempFiles(nowMs: number = Date.now()): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.tmpDir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const path = join(this.tmpDir, name);
      const st = await stat(path).catch(() => null);
      if (st === null || !st.isFile() || nowMs - st.mtimeMs <= this.tempSafetyAgeMs) continue;
      try {
        await unlink(path);
        removed++;
      } catch {
        // gone already (another process cleaning up), or not ours to remove
      }
    }
    return removed;
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    return join(this.objectsDir, ...key.split('/'));
  }

  async get(key: string, opts: GetOptions = {}): Promise<GetResult | null> {
    await this.init();
    const fh = await openOrNull(this.pathOf(key));
    if (fh === null) return null;
    try {
      // A ranged read (segment blocks, pages) needs no content ETag: hashing the whole file for it
      // was most of a fresh process's reads (every segment's MD5 before its filter or one page).
      const info = opts.range !== undefined && opts.ifNoneMatch === undefined ? await this.statInfo(key, fh) : await this.infoOf(key, fh);
      if (opts.ifNoneMatch !== undefined && normalizeEtag(opts.ifNoneMatch) === info.etag) {
        return { notModified: true, etag: info.etag };
      }
      const offset = Math.min(opts.range?.offset ?? 0, info.size);
      const end = opts.range?.length === undefined ? info.size : Math.min(info.size, offset + opts.range.length);
      const body = new Uint8Array(end - offset);
      let done = 0;
      while (done < body.byteLength) {
        const { bytesRead } = await fh.read(body, done, body.byteLength - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return { notModified: false, body, info };
    } finally {
      await fh.close();
    }
  }

  async head(key: string): Promise<ObjectInfo | null> {
    await this.init();
    const fh = await openOrNull(this.pathOf(key));
    if (fh === null) return null;
    try {
      return await this.infoOf(key, fh);
    } finally {
      await fh.close();
    }
  }

  put(key: string, body: Uint8Array, opts: PutOptions = {}): Promise<{ etag: string }> {
    const ticket: WriteTicket = {};
    const p = this.write(key, body, opts, ticket);
    this.tickets.set(p, ticket);
    return p;
  }

  private async write(key: string, body: Uint8Array, opts: PutOptions, ticket: WriteTicket): Promise<{ etag: string }> {
    await this.init();
    // A write this one depends on: if it is this store's and still on the thread, the thread runs
    // this one right after it (no round trip through the event loop); otherwise wait for it here.
    const prior = opts.after === undefined ? undefined : this.tickets.get(opts.after);
    const afterId = prior === undefined ? undefined : this.thread.chainable(prior);
    if (opts.after !== undefined && afterId === undefined) await opts.after;
    const path = this.pathOf(key);
    const tmp = join(this.tmpDir, `${this.tmpPrefix}-${(this.tmpCount++).toString(36)}.tmp`);
    // A conditionally written key (a manifest) is written that way again: remember what this
    // version's file looks like, so the next PUT checks its ETag with one stat.
    const conditional = opts.ifNoneMatch === '*' || opts.ifMatch !== undefined;
    const dir = dirname(path);
    const linking = opts.ifNoneMatch === '*' && opts.ifMatch === undefined && this.hardLinks;
    const memo = this.etags.get(key);
    // The whole write in one message: temp file, fsync, link or lock + check + rename, directory fsync.
    const r = await this.thread.put(
      {
        tmp,
        path,
        body,
        fsync: this.fsync,
        mkdir: !this.dirs.has(dir),
        mode: linking ? 'link' : 'locked',
        ...(linking ? {} : { lockPath: this.lockPathOf(key) }),
        ...(opts.ifMatch === undefined ? {} : { ifMatch: normalizeEtag(opts.ifMatch) }),
        ...(opts.ifNoneMatch === '*' ? { ifNoneMatch: true } : {}),
        ...(memo === undefined ? {} : { memo }),
        ...(afterId === undefined ? {} : { afterId }),
      },
      ticket,
    );
    if (!r.ok && r.failed === 'prerequisite') {
      // What it depends on failed on the thread, or was finished on the event loop: its own
      // outcome decides (a rejection is this write's error; nothing was written).
      await opts.after;
      const { after: _, ...rest } = opts;
      return this.write(key, body, rest, ticket);
    }
    this.dirs.add(dir);
    if ('current' in r && r.current !== undefined) this.etags.set(key, { ...r.current.stat, etag: r.current.etag });
    if (r.ok) {
      if (conditional) this.etags.set(key, { ino: r.stat.ino, size: r.stat.size, mtimeNs: r.stat.mtimeNs, etag: r.etag });
      else this.etags.delete(key);
      return { etag: r.etag };
    }
    if (r.failed === 'busy' || r.failed === 'nolink') {
      if (r.failed === 'nolink') this.hardLinks = false;
      // The lock was held (another process), or hard links are unsupported here: the temp file is
      // written; wait for the lock, check and rename on the event loop.
      return this.putLocked(key, path, tmp, r.etag, conditional ? r.stat : undefined, opts);
    }
    if (r.failed === 'missing') throw new ObjectNotFoundError(`${key} does not exist`);
    throw new PreconditionFailedError(r.failed === 'exists' ? `${key} already exists` : `${key} changed`);
  }

  /** The rest of a PUT whose temp file is written, on the event loop: wait for the key's lock, check, rename. */
  private async putLocked(key: string, path: string, tmp: string, etag: string, written: ThreadStat | undefined, opts: PutOptions): Promise<{ etag: string }> {
    const conditional = opts.ifNoneMatch === '*' || opts.ifMatch !== undefined;
    const release = await this.lock(key);
    try {
      if (conditional) {
        const current = await this.currentInfo(key, path);
        if (opts.ifNoneMatch === '*' && current !== null) throw new PreconditionFailedError(`${key} already exists`);
        if (opts.ifMatch !== undefined) {
          if (current === null) throw new ObjectNotFoundError(`${key} does not exist`);
          if (current.etag !== normalizeEtag(opts.ifMatch)) throw new PreconditionFailedError(`${key} changed`);
        }
      }
      await this.renameInto(tmp, path);
      if (written === undefined) this.etags.delete(key);
      else this.etags.set(key, { ino: written.ino, size: written.size, mtimeNs: written.mtimeNs, etag });
      if (this.fsync) await syncDir(dirname(path));
      return { etag };
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    } finally {
      await release();
    }
  }

  async delete(key: string): Promise<void> {
    await this.init();
    const release = await this.lock(key);
    try {
      await unlink(this.pathOf(key)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      this.etags.delete(key);
    } finally {
      await release();
    }
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListPage> {
    await this.init();
    // Walk only the deepest directory the prefix names completely.
    const cut = prefix.lastIndexOf('/');
    const base = cut < 0 ? '' : prefix.slice(0, cut);
    const keys: string[] = [];
    await walk(base === '' ? this.objectsDir : join(this.objectsDir, ...base.split('/')), base, keys);
    const sorted = keys.filter((k) => k.startsWith(prefix)).sort();
    const page = pageOfSortedKeys(sorted, opts);
    const items: ObjectInfo[] = [];
    for (const key of page.keys) {
      const st = await stat(this.pathOf(key), { bigint: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
        throw err;
      });
      if (st !== null && st.isFile()) items.push(this.infoFromStat(key, st));
    }
    return { items, cursor: page.cursor };
  }

  /**
   * The stored object's info under the key's lock: a stat by path when the ETag memo still holds
   * (the object this store wrote or read last), else open and hash it.
   */
  private async currentInfo(key: string, path: string): Promise<ObjectInfo | null> {
    const memo = this.etags.get(key);
    if (memo !== undefined) {
      const st = await stat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null;
        throw err;
      });
      if (st === null) return null;
      if (st.isFile() && memo.ino === st.ino && memo.size === st.size && memo.mtimeNs === st.mtimeNs) {
        return { key, etag: memo.etag, size: Number(st.size), lastModified: new Date(Number(st.mtimeMs)) };
      }
    }
    const fh = await openOrNull(path);
    return fh === null ? null : await this.infoOf(key, fh).finally(() => fh.close());
  }

  /** Renames the temp file into place, making the directory the first time (or when it went away). */
  private async renameInto(tmp: string, path: string): Promise<void> {
    const dir = dirname(path);
    if (!this.dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.dirs.add(dir);
    }
    try {
      await rename(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The directory was removed behind this store's back: make it again, once.
      this.dirs.delete(dir);
      await mkdir(dir, { recursive: true });
      await rename(tmp, path);
      this.dirs.add(dir);
    }
  }

  /**
   * Info from one fstat, without reading the file: the remembered content ETag while the file is
   * still the version it describes, else a weak validator `w-<inode>-<size>-<mtime ns>`. A weak
   * one never equals a content ETag (32 hex digits), and conditions are checked against content
   * ETags, so it can only make a condition fail, never pass: ranged reads and listings answer
   * it, and nothing takes a condition's ETag from them (whole reads, HEAD and PUT answer content
   * ETags).
   */
  private async statInfo(key: string, fh: FileHandle): Promise<ObjectInfo> {
    return this.infoFromStat(key, await fh.stat({ bigint: true }));
  }

  private infoFromStat(key: string, st: BigIntStats): ObjectInfo {
    const memo = this.etags.get(key);
    const etag =
      memo !== undefined && memo.ino === st.ino && memo.size === st.size && memo.mtimeNs === st.mtimeNs ? memo.etag : `w-${st.ino}-${st.size}-${st.mtimeNs}`;
    return { key, etag, size: Number(st.size), lastModified: new Date(Number(st.mtimeMs)) };
  }

  private async infoOf(key: string, fh: FileHandle): Promise<ObjectInfo> {
    const st = await fh.stat({ bigint: true });
    const memo = this.etags.get(key);
    let etag: string;
    if (memo !== undefined && memo.ino === st.ino && memo.size === st.size && memo.mtimeNs === st.mtimeNs) {
      etag = memo.etag;
    } else {
      const hash = createHash('md5');
      const buf = new Uint8Array(Math.min(Number(st.size), 1 << 20) || 1);
      let pos = 0;
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.byteLength, pos);
        if (bytesRead === 0) break;
        hash.update(buf.subarray(0, bytesRead));
        pos += bytesRead;
      }
      etag = hash.digest('hex');
      this.etags.set(key, { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, etag });
    }
    return { key, etag, size: Number(st.size), lastModified: new Date(Number(st.mtimeMs)) };
  }

  private lockPathOf(key: string): string {
    return join(this.locksDir, `${createHash('sha256').update(key).digest('hex').slice(0, 40)}.lock`);
  }

  private async lock(key: string): Promise<() => Promise<void>> {
    const path = this.lockPathOf(key);
    const deadline = Date.now() + this.lockTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const fh = await open(path, 'wx');
        await fh.close();
        return () => unlink(path).catch(() => undefined);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const st = await stat(path).catch(() => null);
      if (st !== null && Date.now() - st.mtimeMs > this.staleLockMs) {
        await unlink(path).catch(() => undefined);
        continue;
      }
      if (Date.now() > deadline) throw new TransientStoreError(`timed out waiting for the write lock on ${key}`);
      await sleep(Math.min(50, 1 + attempt) * (0.5 + Math.random()));
    }
  }
}

async function openOrNull(path: string): Promise<FileHandle | null> {
  try {
    return await open(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return null;
    throw err;
  }
}

async function syncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function walk(dir: string, keyPrefix: string, out: string[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw err;
  }
  for (const e of entries) {
    const key = keyPrefix === '' ? e.name : `${keyPrefix}/${e.name}`;
    if (e.isDirectory()) await walk(join(dir, e.name), key, out);
    else if (e.isFile()) out.push(key.split(sep).join('/'));
  }
}
