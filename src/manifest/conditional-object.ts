/**
 * One object updated only by conditional writes (compare-and-swap on its ETag), knowing nothing
 * of what it holds: load and revalidate it, and update it in a loop of attempts whose PUT has
 * three outcomes — committed (publish what was written), rejected (412/409/404: publish the
 * fresh state and try again on it), or unknown (timeout, reset, 5xx, 429: read back and let the
 * owner decide whether the write landed). It never publishes a value that was not committed
 * and never deletes anything. The shard manifest (ManifestStore) is the one object built on it.
 */
import { CommitOutcomeUnknownError, ManifestContentionError, ManifestCorruptError, UnsupportedFormatError } from '../errors.ts';
import type { Deps } from '../model/deps.ts';
import { AmbiguousWriteError, isRejectedWrite, PreconditionFailedError, TransientStoreError } from '../store/errors.ts';
import type { ObjectStore } from '../store/types.ts';
import { backoffMs, type CommitPolicy } from './backoff.ts';
import type { DeepReadonly } from './schema.ts';

/** A committed value and the ETag it was stored under. Never mutate it: it is shared. */
export interface Versioned<T> {
  readonly value: DeepReadonly<T>;
  readonly etag: string;
}

export interface ObjectCodec<T> {
  /**
   * The bytes to write for `value`, built on `base` (absent when creating the object). It may
   * store objects `value` depends on first (the manifest's parts): it runs before the PUT.
   */
  encode(value: T, base?: DeepReadonly<T>): Uint8Array | Promise<Uint8Array>;
  /** Throws ManifestCorruptError / UnsupportedFormatError for bytes it cannot accept. */
  decode(bytes: Uint8Array): T | Promise<T>;
  /** Increases with every committed write: a cache never moves to a lower one. */
  version(value: DeepReadonly<T>): number;
  /** The first value, created with `If-None-Match: *` when the object does not exist yet. */
  initial(): T;
}

/** One attempt's plan: write `value` (identified by `token` for read-back), or write nothing. */
export type Attempt<T, R> =
  | {
      readonly write: T;
      readonly token: string;
      readonly result: R;
      /**
       * A write this one depends on (an object the new value lists, still being written): the PUT
       * is sent only once it succeeded (`PutOptions.after`). If it fails, the update ends with its
       * error and nothing is written.
       */
      readonly before?: Promise<unknown>;
    }
  | { readonly skip: R };

export interface UpdateResult<T, R> {
  /** Whether this update wrote a new value. */
  readonly committed: boolean;
  /** What the last attempt's plan returned. */
  readonly result: R;
  /** The committed state after the update (the base the plan skipped on, when it skipped). */
  readonly state: Versioned<T>;
  readonly attempts: number;
  /** What this update wrote, when it committed (`state` may be newer, when decided by read-back). */
  readonly written?: { readonly value: T; readonly body: Uint8Array };
}

export interface UpdateStats {
  commits: number;
  skipped: number;
  /** Attempts that lost a race (412/409/404) and ran the plan again. */
  conflicts: number;
  /** PUTs whose outcome was unknown and was decided by reading back. */
  ambiguous: number;
  contentionErrors: number;
}

export interface ConditionalObjectOptions<T> {
  readonly store: ObjectStore;
  readonly key: string;
  readonly codec: ObjectCodec<T>;
  readonly deps: Deps;
  readonly policy: CommitPolicy;
  /** Names the object in error messages, e.g. `shard 3`. */
  readonly label: string;
  /**
   * After a rejected or unclear PUT, with the state read back: did the write identified by
   * `token` (built on `base`) land? Throws CommitOutcomeUnknownError when it cannot tell.
   */
  readonly landed: (fresh: Versioned<T>, base: Versioned<T>, token: string) => Promise<boolean>;
  /** Throws when writes are not allowed (e.g. the store failed the startup probe). */
  readonly writeGuard?: () => void;
  /** Whether concurrent loads share one GET (default true; false where promises must not cross requests). */
  readonly shareLoads?: boolean;
  /** Called after this writer created the object (the owner keeps its history copy, say). */
  readonly created?: (value: T, body: Uint8Array) => Promise<void>;
  /**
   * Asked before creating a missing object: an error when it must not be created (it existed
   * once and vanished); the object then fails closed with that error.
   */
  readonly refuseCreate?: () => Promise<ManifestCorruptError | undefined>;
}

/** Pauses at least this long make the next attempt re-read the object first. */
const REVALIDATE_AFTER_MS = 2;

type PutOutcome<T> = { kind: 'committed'; state: Versioned<T> } | { kind: 'rejected'; state: Versioned<T>; throttled: boolean };

export class ConditionalObject<T> {
  readonly key: string;
  readonly stats: UpdateStats = { commits: 0, skipped: 0, conflicts: 0, ambiguous: 0, contentionErrors: 0 };
  private readonly o: ConditionalObjectOptions<T>;
  private cached: Versioned<T> | undefined;
  /** Set while the stored value is unreadable (corrupt, or of an unknown format): writes are refused. */
  private failure: ManifestCorruptError | UnsupportedFormatError | undefined;
  private inflight: Promise<Versioned<T>> | undefined;

  constructor(opts: ConditionalObjectOptions<T>) {
    this.o = opts;
    this.key = opts.key;
  }

  /** The cached state, if any, without touching the store. */
  peek(): Versioned<T> | undefined {
    return this.cached;
  }

  /** The cached state, loading (and creating) the object on a cold start. */
  async load(): Promise<Versioned<T>> {
    if (this.cached !== undefined && this.failure === undefined) return this.cached;
    return this.singleFlight(() => this.fetchOrCreate());
  }

  /** Sees other writers' commits: a conditional GET that costs one small round trip (304). */
  async revalidate(): Promise<Versioned<T>> {
    if (this.cached === undefined) return this.load();
    return this.singleFlight(async () => (await this.fetch(this.cached?.etag)) ?? this.fetchOrCreate());
  }

  /** Throws when this object refuses writes (unreadable stored value, failed probe). */
  assertWritable(): void {
    if (this.failure !== undefined) throw this.failure;
    this.o.writeGuard?.();
  }

  /**
   * Runs `plan` on the committed state and writes what it asks for, conditionally on that
   * state's ETag; on a lost race, runs it again on the fresh state. `plan` must re-check its
   * preconditions on every attempt: it may be called with state newer than its last call.
   */
  async update<R>(plan: (base: Versioned<T>, attempt: number) => Attempt<T, R> | Promise<Attempt<T, R>>, policy: CommitPolicy): Promise<UpdateResult<T, R>> {
    const started = this.o.deps.clock.now();
    let base = await this.load();
    for (let attempt = 1; ; attempt++) {
      this.assertWritable();
      const planned = await plan(base, attempt);
      if ('skip' in planned) {
        this.stats.skipped++;
        return { committed: false, result: planned.skip, state: base, attempts: attempt };
      }
      const body = await this.o.codec.encode(planned.write, base.value);
      const outcome = await this.putResolved(body, planned.write, base, planned.token, started, policy, planned.before);
      if (outcome.kind === 'committed') {
        this.stats.commits++;
        return { committed: true, result: planned.result, state: outcome.state, attempts: attempt, written: { value: planned.write, body } };
      }
      this.stats.conflicts++;
      base = outcome.state;
      const elapsed = this.o.deps.clock.now() - started;
      if (attempt >= policy.maxAttempts || elapsed >= policy.maxDurationMs) {
        this.stats.contentionErrors++;
        throw new ManifestContentionError(`${this.o.label}: commit lost ${attempt} races in ${elapsed} ms; retry later`, { retryAfterSeconds: 1 });
      }
      const pause = backoffMs(attempt, outcome.throttled, policy, this.o.deps.random);
      if (pause > 0) {
        await this.o.deps.clock.sleep(pause);
        // What was read back before the pause is likely stale after it on a busy object: planning
        // on it would lose again. A conditional GET (304 when nothing moved) is cheaper than that.
        if (pause >= REVALIDATE_AFTER_MS) base = await this.revalidate();
      }
    }
  }

  /** Publishes a value its owner wrote outside `update` (restore), and reopens a failed object. */
  adopt(value: T, etag: string): Versioned<T> {
    this.failure = undefined;
    return this.publish(value, etag);
  }

  // ---- internals ----

  private singleFlight(fn: () => Promise<Versioned<T>>): Promise<Versioned<T>> {
    if (this.o.shareLoads === false) return fn();
    this.inflight ??= fn().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Publishes committed state; the cache never moves to an older version. */
  private publish(value: T, etag: string): Versioned<T> {
    const cur = this.cached;
    const version = this.o.codec.version(value as DeepReadonly<T>);
    if (cur !== undefined && this.o.codec.version(cur.value) > version) return cur;
    if (cur !== undefined && this.o.codec.version(cur.value) === version && cur.etag === etag) return cur;
    const state: Versioned<T> = { value: deepFreeze(value), etag };
    this.cached = state;
    return state;
  }

  /** GETs the object (conditionally when `ifNoneMatch` is given). `null` when it does not exist. */
  private async fetch(ifNoneMatch?: string): Promise<Versioned<T> | null> {
    const res = await this.o.store.get(this.key, ifNoneMatch === undefined ? {} : { ifNoneMatch });
    if (res === null) return null;
    if (res.notModified) {
      this.failure = undefined;
      return this.cached ?? null;
    }
    let value: T;
    try {
      value = await this.o.codec.decode(res.body);
    } catch (err) {
      if (err instanceof ManifestCorruptError || err instanceof UnsupportedFormatError) this.failure = err;
      throw err;
    }
    this.failure = undefined;
    return this.publish(value, res.info.etag);
  }

  private async fetchOrCreate(): Promise<Versioned<T>> {
    const found = await this.fetch();
    if (found !== null) return found;
    this.o.writeGuard?.();
    const refusal = await this.o.refuseCreate?.();
    if (refusal !== undefined) {
      // Another writer may have just created it (it writes the object before its history).
      const now = await this.fetch();
      if (now !== null) return now;
      throw (this.failure = refusal);
    }
    const first = this.o.codec.initial();
    const body = await this.o.codec.encode(first);
    try {
      const { etag } = await this.o.store.put(this.key, body, { ifNoneMatch: '*', contentType: 'application/json' });
      await this.o.created?.(first, body);
      return this.publish(first, etag);
    } catch (err) {
      // Another writer created it first, or our answer was lost: what is stored wins.
      if (!(err instanceof PreconditionFailedError || err instanceof AmbiguousWriteError || err instanceof TransientStoreError)) throw err;
      const now = await this.fetch();
      if (now === null) throw new TransientStoreError(`${this.o.label}: could not create ${this.key}`, { cause: err });
      return now;
    }
  }

  /** PUTs one body conditionally and resolves its outcome: committed, or rejected with fresh state. */
  private async putResolved(
    body: Uint8Array,
    value: T,
    base: Versioned<T>,
    token: string,
    started: number,
    policy: CommitPolicy,
    before?: Promise<unknown>,
  ): Promise<PutOutcome<T>> {
    for (let tries = 1; ; tries++) {
      try {
        const { etag } = await this.o.store.put(this.key, body, {
          ifMatch: base.etag,
          contentType: 'application/json',
          ...(before === undefined ? {} : { after: before }),
        });
        return { kind: 'committed', state: this.publish(value, etag) };
      } catch (err) {
        // The write it depends on failed: this PUT was not made. Its error is the update's.
        if (before !== undefined) {
          const failed = await before.then(
            () => undefined,
            (e: unknown) => ({ e }),
          );
          if (failed !== undefined) throw failed.e;
        }
        if (isRejectedWrite(err)) {
          // Usually a lost race; but a hidden retry of a PUT that landed also answers 412.
          return this.decide(await this.readBack(token, started, policy), base, token, false);
        }
        if (!(err instanceof AmbiguousWriteError || err instanceof TransientStoreError)) throw err;
        this.stats.ambiguous++;
        const fresh = await this.readBack(token, started, policy);
        if (fresh.etag !== base.etag) return this.decide(fresh, base, token, err.throttled);
        // Nothing moved: our PUT has not landed, and If-Match keeps it from landing once anything
        // else commits. Sending the same body again is safe.
        if (this.o.deps.clock.now() - started >= policy.maxDurationMs) {
          throw new CommitOutcomeUnknownError(`${this.o.label}: the store kept failing; nothing was committed`, { cause: err, retryAfterSeconds: 2 });
        }
        await this.o.deps.clock.sleep(backoffMs(tries, err.throttled, policy, this.o.deps.random));
      }
    }
  }

  private async decide(fresh: Versioned<T>, base: Versioned<T>, token: string, throttled: boolean): Promise<PutOutcome<T>> {
    return (await this.o.landed(fresh, base, token)) ? { kind: 'committed', state: fresh } : { kind: 'rejected', state: fresh, throttled };
  }

  /** Reads the object back, retrying reads within the update's time bound. */
  private async readBack(token: string, started: number, policy: CommitPolicy): Promise<Versioned<T>> {
    for (let tries = 1; ; tries++) {
      try {
        const state = await this.fetch();
        if (state === null) throw (this.failure = new ManifestCorruptError(`${this.o.label}: ${this.key} disappeared; restore it from history`));
        return state;
      } catch (err) {
        if (!(err instanceof TransientStoreError)) throw err;
        if (this.o.deps.clock.now() - started >= policy.maxDurationMs) {
          throw new CommitOutcomeUnknownError(`${this.o.label}: cannot read back commit ${token}; its outcome is unknown`, {
            cause: err,
            retryAfterSeconds: 2,
          });
        }
        await this.o.deps.clock.sleep(backoffMs(tries, err.throttled, policy, this.o.deps.random));
      }
    }
  }
}

function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value as DeepReadonly<T>;
}
