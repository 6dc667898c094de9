/**
 * The directory store's PUTs, each done whole on one worker thread with synchronous calls.
 *
 * A durable PUT is about a dozen file operations (temp file, fsync, stat, close, link or lock +
 * check + rename, directory fsync). As `fs/promises` calls each costs the event loop ~100 µs of
 * CPU and waits its turn behind the requests it serves; synchronous calls on the main thread
 * stalled it instead. Here the loop sends one message per PUT (docs/ingest.md, "Directory store
 * writes", with what it measured).
 *
 * `writeThreadMain` runs inside the worker and is started from its source text (`eval`), so the
 * same code works from the TypeScript sources, the compiled build and a bundle: it must not use
 * anything from outside its own body (Node modules come from `process.getBuiltinModule`).
 */
import { Worker } from 'node:worker_threads';
import { AmbiguousWriteError } from './errors.ts';

/** What the thread is asked to do: write `body` to a temp file, then put it in place. */
export interface ThreadPut {
  readonly tmp: string;
  readonly path: string;
  readonly body: Uint8Array;
  readonly fsync: boolean;
  /** Create the directory first (not known to exist). */
  readonly mkdir: boolean;
  /**
   * link: `If-None-Match: *` by link(2) (fails when the name exists). locked: take the key's lock
   * file, check the condition against the file in place, rename over it.
   */
  readonly mode: 'link' | 'locked';
  readonly lockPath?: string;
  /** locked: what the file in place must be (undefined: anything), by content ETag. */
  readonly ifMatch?: string;
  readonly ifNoneMatch?: boolean;
  /** locked: the remembered identity of the file in place and its ETag (skips hashing it). */
  readonly memo?: { readonly ino: bigint; readonly size: bigint; readonly mtimeNs: bigint; readonly etag: string };
  /**
   * A write sent to this thread before this one that must have succeeded on it (`chainable`):
   * otherwise nothing is written and the answer is `prerequisite`.
   */
  readonly afterId?: number;
}

export interface ThreadStat {
  readonly ino: bigint;
  readonly size: bigint;
  readonly mtimeNs: bigint;
}

export type ThreadPutResult =
  /** `etag`: the body's content ETag (MD5, hex), computed on the thread. */
  | { readonly ok: true; readonly stat: ThreadStat; readonly etag: string }
  /**
   * The condition failed (`exists`, `missing`, `changed`); the temp file is removed. `current`: the
   * file in place and its content ETag when the thread had to hash it (to remember).
   */
  | { readonly ok: false; readonly failed: 'exists' | 'missing' | 'changed'; readonly current?: { readonly stat: ThreadStat; readonly etag: string } }
  /**
   * busy: the key's lock file is held (another process, or a stale lock); nolink: hard links are
   * not supported here. Nothing was changed; the temp file is written (its stat) for the caller
   * to finish the write on the event loop.
   */
  | { readonly ok: false; readonly failed: 'busy' | 'nolink'; readonly stat: ThreadStat; readonly etag: string }
  /** `afterId` did not succeed on this thread (it failed, or was finished on the event loop): nothing was written. */
  | { readonly ok: false; readonly failed: 'prerequisite' };

interface Reply {
  readonly id: number;
  readonly result?: ThreadPutResult;
  readonly error?: { readonly message: string; readonly code?: string };
}

function writeThreadMain(): void {
  const fs = process.getBuiltinModule('node:fs');
  const path = process.getBuiltinModule('node:path');
  const crypto = process.getBuiltinModule('node:crypto');
  const { parentPort } = process.getBuiltinModule('node:worker_threads');
  if (parentPort === null) return;
  const codeOf = (err: unknown): string | undefined => (err as { code?: string }).code;
  const statOf = (fd: number) => {
    const st = fs.fstatSync(fd, { bigint: true });
    return { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs };
  };
  const syncDir = (dir: string) => {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  };
  const unlinkQuiet = (p: string) => {
    try {
      fs.unlinkSync(p);
    } catch {
      // already gone
    }
  };
  const writeTemp = (p: string, body: Uint8Array, fsync: boolean) => {
    const fd = fs.openSync(p, 'w');
    try {
      let done = 0;
      while (done < body.byteLength) done += fs.writeSync(fd, body, done, body.byteLength - done);
      if (fsync) fs.fsyncSync(fd);
      return statOf(fd);
    } finally {
      fs.closeSync(fd);
    }
  };
  type Put = ThreadPut;
  const currentEtag = (p: string, memo: Put['memo']) => {
    let st: import('node:fs').BigIntStats;
    try {
      st = fs.statSync(p, { bigint: true });
    } catch (err) {
      if (codeOf(err) === 'ENOENT' || codeOf(err) === 'ENOTDIR') return null;
      throw err;
    }
    if (memo !== undefined && st.isFile() && memo.ino === st.ino && memo.size === st.size && memo.mtimeNs === st.mtimeNs) {
      return { etag: memo.etag, fresh: undefined };
    }
    let fd: number;
    try {
      fd = fs.openSync(p, 'r');
    } catch (err) {
      if (codeOf(err) === 'ENOENT' || codeOf(err) === 'ENOTDIR' || codeOf(err) === 'EISDIR') return null;
      throw err;
    }
    try {
      const hash = crypto.createHash('md5');
      const buf = new Uint8Array(1 << 20);
      for (let pos = 0; ; ) {
        const n = fs.readSync(fd, buf, 0, buf.byteLength, pos);
        if (n === 0) break;
        hash.update(buf.subarray(0, n));
        pos += n;
      }
      const etag = hash.digest('hex');
      return { etag, fresh: { stat: statOf(fd), etag } };
    } finally {
      fs.closeSync(fd);
    }
  };
  const put = (o: Put): ThreadPutResult => {
    const etag = crypto.createHash('md5').update(o.body).digest('hex');
    const stat = writeTemp(o.tmp, o.body, o.fsync);
    const dir = path.dirname(o.path);
    if (o.mkdir) fs.mkdirSync(dir, { recursive: true });
    /** Links or renames the temp file into place; if the directory was removed behind the store's back, makes it again, once. */
    const place = (op: (from: string, to: string) => void) => {
      try {
        op(o.tmp, o.path);
      } catch (err) {
        if (codeOf(err) !== 'ENOENT') throw err;
        fs.mkdirSync(dir, { recursive: true });
        op(o.tmp, o.path);
      }
    };
    if (o.mode === 'link') {
      try {
        place(fs.linkSync);
      } catch (err) {
        const code = codeOf(err);
        if (code === 'EEXIST') {
          unlinkQuiet(o.tmp);
          return { ok: false, failed: 'exists' };
        }
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EXDEV' || code === 'EOPNOTSUPP') {
          return { ok: false, failed: 'nolink', stat, etag };
        }
        unlinkQuiet(o.tmp);
        throw err;
      }
      unlinkQuiet(o.tmp);
      if (o.fsync) syncDir(dir);
      return { ok: true, stat, etag };
    }
    const lockPath = o.lockPath as string;
    try {
      fs.closeSync(fs.openSync(lockPath, 'wx'));
    } catch (err) {
      if (codeOf(err) === 'EEXIST') return { ok: false, failed: 'busy', stat, etag };
      unlinkQuiet(o.tmp);
      throw err;
    }
    try {
      let current: { stat: ReturnType<typeof statOf>; etag: string } | undefined;
      if (o.ifMatch !== undefined || o.ifNoneMatch === true) {
        const seen = currentEtag(o.path, o.memo);
        current = seen?.fresh;
        let failed: 'exists' | 'missing' | 'changed' | undefined;
        if (o.ifNoneMatch === true && seen !== null) failed = 'exists';
        else if (o.ifMatch !== undefined && seen === null) failed = 'missing';
        else if (o.ifMatch !== undefined && seen !== null && seen.etag !== o.ifMatch) failed = 'changed';
        if (failed !== undefined) {
          unlinkQuiet(o.tmp);
          return current === undefined ? { ok: false, failed } : { ok: false, failed, current };
        }
      }
      place(fs.renameSync);
      if (o.fsync) syncDir(dir);
      return { ok: true, stat, etag };
    } catch (err) {
      unlinkQuiet(o.tmp);
      throw err;
    } finally {
      unlinkQuiet(lockPath);
    }
  };
  // Which recent writes succeeded here, for the writes that depend on them (oldest dropped first).
  const succeeded = new Map<number, boolean>();
  parentPort.on('message', (m: { id: number; put: Put }) => {
    let reply: unknown;
    try {
      const result: ThreadPutResult = m.put.afterId !== undefined && succeeded.get(m.put.afterId) !== true ? { ok: false, failed: 'prerequisite' } : put(m.put);
      succeeded.set(m.id, result.ok);
      if (succeeded.size > 4096) succeeded.delete(succeeded.keys().next().value as number);
      reply = { id: m.id, result };
    } catch (err) {
      reply = { id: m.id, error: { message: err instanceof Error ? err.message : String(err), code: codeOf(err) } };
    }
    parentPort.postMessage(reply);
  });
}

/** Where a write was sent: filled in when it is posted to a thread. */
export interface WriteTicket {
  running?: Running;
  id?: number;
}

/** A started thread and the writes it has not answered yet. */
interface Running {
  readonly worker: Worker;
  readonly pending: Map<number, { resolve: (r: ThreadPutResult) => void; reject: (e: Error) => void }>;
}

/**
 * One worker thread per store, started on the first write; it keeps the process alive only while
 * a write is pending. A thread that dies (killed, out of memory) fails its pending writes as
 * ambiguous (each may have landed: the commit protocol reads back), and the next write starts a
 * new one.
 */
export class WriteThread {
  private running: Running | undefined;
  private nextId = 0;

  /**
   * The id a write to this thread can name as `afterId` to run after the ticket's write, or
   * undefined when that write went to a thread that has stopped since (or was not posted yet).
   */
  chainable(ticket: WriteTicket): number | undefined {
    return ticket.running !== undefined && ticket.running === this.running ? ticket.id : undefined;
  }

  put(o: ThreadPut, ticket?: WriteTicket): Promise<ThreadPutResult> {
    const r = this.start();
    const id = this.nextId++;
    if (ticket !== undefined) {
      ticket.running = r;
      ticket.id = id;
    }
    if (r.pending.size === 0) r.worker.ref();
    return new Promise((resolve, reject) => {
      r.pending.set(id, { resolve, reject });
      // Cloning a view clones its whole buffer: a body that is part of a larger one (a slice of
      // an object read whole) is copied alone and that copy handed over without a second copy.
      const whole = o.body.byteOffset === 0 && o.body.byteLength === o.body.buffer.byteLength;
      if (whole) r.worker.postMessage({ id, put: o });
      else {
        const body = o.body.slice();
        r.worker.postMessage({ id, put: { ...o, body } }, [body.buffer]);
      }
    });
  }

  /** Stops the thread (tests; a process that exits does not need it). Pending writes fail as ambiguous. */
  async terminate(): Promise<void> {
    const r = this.running;
    if (r !== undefined) await r.worker.terminate();
  }

  private start(): Running {
    if (this.running !== undefined) return this.running;
    const worker = new Worker(`(${writeThreadMain.toString()})()`, { eval: true });
    worker.unref();
    const r: Running = { worker, pending: new Map() };
    worker.on('message', (m: Reply) => {
      const p = r.pending.get(m.id);
      if (p === undefined) return;
      r.pending.delete(m.id);
      if (r.pending.size === 0) worker.unref();
      if (m.error !== undefined) p.reject(Object.assign(new Error(m.error.message), m.error.code === undefined ? {} : { code: m.error.code }));
      else p.resolve(m.result!);
    });
    const fail = (why: string) => {
      if (this.running === r) this.running = undefined;
      const err = new AmbiguousWriteError(`the directory store's write thread stopped (${why}); the write may have landed`);
      for (const p of r.pending.values()) p.reject(err);
      r.pending.clear();
    };
    worker.on('error', (err) => fail(err.message));
    worker.on('exit', (code) => fail(`exit code ${code}`));
    this.running = r;
    return r;
  }
}
