/**
 * R2's per-key write limit, simulated: a wrapper around any ObjectStore that answers a PUT the way
 * R2 does when one key is written again too soon — about one write per second per key; more is
 * refused with 429 (R2 error 10058, "Reduce your concurrent request rate for the same object").
 * For tests and benchmarks only (`USAGEDB_SIMULATE_KEY_WRITE_INTERVAL_MS`): it lets MinIO, the
 * directory store or memory show what the commit path does on R2, whose limit bites exactly on
 * the one key every commit of a shard rewrites, `shards/NN/manifest/current.json`.
 *
 * The model:
 * - Only PUTs count, and only to the same key: segment, rollup, period and history keys are
 *   create-only and unique, so in practice the limit falls on manifests (and the startup
 *   probe's scratch key). Reads, lists and deletes pass through.
 * - A PUT of a limited key is refused, without reaching the inner store, while another PUT of
 *   that key is in flight or less than `intervalMs` (default 1000) has passed since the last one
 *   that landed. A PUT that the inner store refused (412/409/404) changed nothing and does not
 *   count; one that failed otherwise may have landed and counts.
 * - `keys` limits only some keys: glob patterns over the whole key (`*` matches any run of
 *   characters, `/` included), e.g. `*manifest/current.json` for the manifests alone, or a
 *   predicate. Default: every key.
 * - The limit is what this wrapper sees: one process or Worker isolate. Instances in separate
 *   processes each get their own allowance; instances in one process can share one wrapper.
 *
 * The error: AmbiguousWriteError with `throttled: true`, although the write did not happen (R2
 * also refuses a throttled write before applying it). Why not a "definitely failed" error:
 * - It is exactly what the layers above see from real R2. Both drivers (s3.ts for a 429 over the
 *   S3 API, r2-binding.ts for 10058 from the binding) report a throttled write as ambiguous,
 *   because in general a client cannot tell from a 429 (a proxy, a hidden retry) that nothing
 *   landed. A simulation that answered differently would test a path production never takes.
 * - Correctness: every consumer handles it safely. The manifest commit
 *   (manifest/conditional-object.ts) reads the manifest back: our commit id listed → committed;
 *   ETag moved without it → rejected, re-plan on the fresh state; ETag unchanged → the same body
 *   again after the throttled backoff (250 ms base, 4 s cap). Bootstrap and `db.json` creation
 *   re-read what is stored; history copies retry or give up (the commit already happened).
 * - The read-back it costs is not wasted: a throttled manifest PUT nearly always means another
 *   writer just committed that shard, and the read-back (a GET: cheaper than a PUT on R2 and not
 *   subject to the write limit) brings its state, so the next PUT carries the right If-Match
 *   instead of spending another throttled write on a certain 412. Only a lone writer committing
 *   twice within the interval pays one GET it did not need.
 * - TransientStoreError (retryable, "no effect") is handled the same way by the commit loop, but
 *   `db.json` creation would then fail instead of re-reading, and the probe and history copies
 *   would see a kind no driver produces for a write. A dedicated error class would add a type
 *   every consumer must learn, for no behaviour the commit loop can use today.
 */
import { AmbiguousWriteError, isRejectedWrite } from './errors.ts';
import type { GetOptions, GetResult, ListOptions, ListPage, ObjectInfo, ObjectStore, PutOptions } from './types.ts';

export const DEFAULT_KEY_WRITE_INTERVAL_MS = 1000;

export interface KeyWriteLimitOptions {
  /** Least time between two PUTs of one key (ms); R2 admits about one write per second. */
  readonly intervalMs?: number;
  /** Keys the limit applies to: glob patterns over the whole key (`*` = any characters), or a predicate. Default: all. */
  readonly keys?: readonly string[] | ((key: string) => boolean);
  /** Milliseconds since the epoch (injected by tests). */
  readonly now?: () => number;
}

export interface KeyWriteLimitStats {
  /** PUTs of limited keys that were let through. */
  admitted: number;
  /** PUTs refused as R2 would (429). */
  throttled: number;
}

export interface KeyWriteLimitedStore extends ObjectStore {
  readonly keyWriteLimit: { readonly intervalMs: number; readonly stats: KeyWriteLimitStats };
}

/** `*` matches any run of characters (slashes included); everything else literally; anchored. */
export function keyGlob(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

function keyMatcher(keys: KeyWriteLimitOptions['keys']): (key: string) => boolean {
  if (keys === undefined) return () => true;
  if (typeof keys === 'function') return keys;
  const globs = keys.map(keyGlob);
  return (key) => globs.some((g) => g.test(key));
}

/** Wraps `inner` so that a key written again within `intervalMs` is refused like R2 refuses it. */
export function withKeyWriteLimit(inner: ObjectStore, opts: KeyWriteLimitOptions = {}): KeyWriteLimitedStore {
  const intervalMs = opts.intervalMs ?? DEFAULT_KEY_WRITE_INTERVAL_MS;
  if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new Error(`key write interval must be a positive number of ms, got ${intervalMs}`);
  const limited = keyMatcher(opts.keys);
  const now = opts.now ?? (() => Date.now());
  const stats: KeyWriteLimitStats = { admitted: 0, throttled: 0 };
  /** Per limited key: when its last PUT landed (or may have). */
  const landedAt = new Map<string, number>();
  const inFlight = new Set<string>();

  const forgetOld = (t: number) => {
    if (landedAt.size < 10_000) return;
    for (const [k, at] of landedAt) if (t - at >= intervalMs) landedAt.delete(k);
  };

  async function put(key: string, body: Uint8Array, putOpts?: PutOptions): Promise<{ etag: string }> {
    if (!limited(key)) return inner.put(key, body, putOpts);
    const t = now();
    const last = landedAt.get(key);
    if (inFlight.has(key) || (last !== undefined && t - last < intervalMs)) {
      stats.throttled++;
      const why = inFlight.has(key) ? 'another write of this key is in flight' : `the last write landed ${t - last!} ms ago`;
      throw new AmbiguousWriteError(
        `PUT ${key}: 429 Too Many Requests, simulated R2 per-key write limit (one write per ${intervalMs} ms; ${why}; R2 10058); nothing was written`,
        {
          throttled: true,
        },
      );
    }
    stats.admitted++;
    inFlight.add(key);
    try {
      const res = await inner.put(key, body, putOpts);
      landedAt.set(key, now());
      return res;
    } catch (err) {
      // Refused by its precondition: nothing changed. Anything else may have landed.
      if (!isRejectedWrite(err)) landedAt.set(key, now());
      throw err;
    } finally {
      inFlight.delete(key);
      forgetOld(now());
    }
  }

  return {
    kind: inner.kind,
    keyWriteLimit: { intervalMs, stats },
    get: (key: string, o?: GetOptions): Promise<GetResult | null> => inner.get(key, o),
    put,
    head: (key: string): Promise<ObjectInfo | null> => inner.head(key),
    delete: (key: string): Promise<void> => inner.delete(key),
    list: (prefix: string, o?: ListOptions): Promise<ListPage> => inner.list(prefix, o),
  };
}
