/**
 * One shard's manifest: load, revalidate and the commit protocol of design.md ("The manifest
 * commit"): clone the cached manifest, mutate the clone, PUT it with If-Match on the cached
 * ETag, and publish it to this instance's cache only after the PUT succeeded. A rejected PUT
 * refreshes and re-runs the mutation; an unknown outcome is decided by reading back the
 * commit id. It never publishes or deletes anything on a guess.
 */
import {
  CommitOutcomeUnknownError,
  ManifestContentionError,
  ManifestCorruptError,
  NotFoundError,
  UnsupportedFormatError,
} from '../errors.ts';
import { AmbiguousWriteError, isRejectedWrite, PreconditionFailedError, TransientStoreError } from '../store/errors.ts';
import type { ObjectStore } from '../store/types.ts';
import type { Background } from '../lib/background.ts';
import { newId, type Deps } from '../model/deps.ts';
import { decodeManifest, encodeManifest } from './codec.ts';
import type { ShardKeys } from './keys.ts';
import { emptyManifest, RECENT_COMMITS, type DeepReadonly, type ShardManifest } from './schema.ts';
import { backoffMs, DEFAULT_COMMIT_POLICY, type CommitPolicy } from './backoff.ts';

/** A committed manifest and the ETag it was stored under. Never mutate it: it is shared. */
export interface Snapshot {
  readonly manifest: DeepReadonly<ShardManifest>;
  readonly etag: string;
}

export const SKIP: unique symbol = Symbol('SKIP');
const SKIPPED: unique symbol = Symbol('SKIPPED');
export interface Skipped<T> {
  readonly [SKIPPED]: true;
  readonly value: T;
}
/** Return from a mutation to commit nothing and hand `value` back to the caller. */
export function skip<T>(value: T): Skipped<T> {
  return { [SKIPPED]: true, value };
}
function isSkipped(v: unknown): v is Skipped<unknown> {
  return typeof v === 'object' && v !== null && SKIPPED in v;
}

export interface MutationContext {
  /** 1 on the first run; the mutation must re-check its preconditions on every run. */
  readonly attempt: number;
  /** The committed state this attempt builds on. */
  readonly base: Snapshot;
}

export type Mutation<T> = (draft: ShardManifest, ctx: MutationContext) => T | Skipped<T> | typeof SKIP | Promise<T | Skipped<T> | typeof SKIP>;

export type CommitResult<T> =
  | { readonly committed: true; readonly value: T; readonly snapshot: Snapshot; readonly attempts: number }
  | { readonly committed: false; readonly value: T | undefined; readonly snapshot: Snapshot; readonly attempts: number };

/** Counters for metrics and benchmarks. */
export interface CommitStats {
  commits: number;
  skipped: number;
  /** Attempts that lost a race (412/409/404) and re-ran the mutation. */
  conflicts: number;
  /** PUTs whose outcome was unknown and was decided by reading back. */
  ambiguous: number;
  contentionErrors: number;
}

export interface ManifestStoreOptions {
  readonly store: ObjectStore;
  readonly keys: ShardKeys;
  readonly shard: number;
  readonly deps: Deps;
  readonly policy?: Partial<CommitPolicy>;
  /** Throws when writes are not allowed (e.g. the store failed the startup probe). */
  readonly writeGuard?: () => void;
  /**
   * Whether concurrent loads and revalidations share one GET (default true). Workers set it
   * false: there a promise one request started must not be awaited by another.
   */
  readonly shareLoads?: boolean;
}

export interface CommitOptions {
  /** Overrides this store's bounds for this call, in every step (attempts, read-backs, backoff). */
  readonly policy?: Partial<CommitPolicy>;
  /**
   * Where the generation's history copy is written after the commit returns (ingest keeps it off
   * the acknowledgment path). Without it the commit writes the copy before returning.
   */
  readonly history?: Background;
}

type PutOutcome = { kind: 'committed'; snapshot: Snapshot } | { kind: 'rejected'; snapshot: Snapshot; throttled: boolean };

export class ManifestStore {
  readonly shard: number;
  readonly keys: ShardKeys;
  readonly stats: CommitStats = { commits: 0, skipped: 0, conflicts: 0, ambiguous: 0, contentionErrors: 0 };
  private readonly store: ObjectStore;
  private readonly deps: Deps;
  private readonly policy: CommitPolicy;
  private readonly writeGuard: () => void;
  private cached: Snapshot | undefined;
  /** Set while the stored current.json is corrupt or of an unknown format: the shard is closed. */
  private failure: ManifestCorruptError | UnsupportedFormatError | undefined;
  private inflight: Promise<Snapshot> | undefined;
  private readonly shareLoads: boolean;
  /**
   * Bodies of committed generations whose history copy is still being written in the background:
   * readers of history find them here (data, not promises, so any request may read them).
   */
  private readonly pendingHistory = new Map<number, Uint8Array>();

  constructor(opts: ManifestStoreOptions) {
    this.store = opts.store;
    this.keys = opts.keys;
    this.shard = opts.shard;
    this.deps = opts.deps;
    this.policy = { ...DEFAULT_COMMIT_POLICY, ...opts.policy };
    this.writeGuard = opts.writeGuard ?? (() => undefined);
    this.shareLoads = opts.shareLoads ?? true;
  }

  /** The cached snapshot, if any, without touching the store. */
  peek(): Snapshot | undefined {
    return this.cached;
  }

  /** The cached snapshot, loading (and bootstrapping) it on a cold start. */
  async load(): Promise<Snapshot> {
    if (this.cached !== undefined && this.failure === undefined) return this.cached;
    return this.singleFlight(() => this.fetchOrBootstrap());
  }

  /** Sees other instances' commits: a conditional GET that costs one small round trip (304). */
  async revalidate(): Promise<Snapshot> {
    if (this.cached === undefined) return this.load();
    return this.singleFlight(async () => (await this.fetch(this.cached?.etag)) ?? this.fetchOrBootstrap());
  }

  /** Commits `mutate` (see design.md). */
  async commit<T>(mutate: Mutation<T>, opts: CommitOptions = {}): Promise<CommitResult<T>> {
    const bounds = opts.policy === undefined ? this.policy : { ...this.policy, ...opts.policy };
    const started = this.deps.clock.now();
    let base = await this.load();
    for (let attempt = 1; ; attempt++) {
      this.assertWritable();
      const draft = structuredClone(base.manifest) as ShardManifest;
      const out = await mutate(draft, { attempt, base });
      if (out === SKIP || isSkipped(out)) {
        this.stats.skipped++;
        return { committed: false, value: out === SKIP ? undefined : ((out as Skipped<T>).value), snapshot: base, attempts: attempt };
      }
      const commitId = newId(this.deps);
      draft.generation = base.manifest.generation + 1;
      draft.commit_id = commitId;
      draft.recent_commit_ids = [commitId, ...base.manifest.recent_commit_ids].slice(0, RECENT_COMMITS);
      draft.updated_at_ms = this.deps.clock.now();
      const body = encodeManifest(draft);
      const outcome = await this.putResolved(body, draft, base, commitId, started, bounds);
      if (outcome.kind === 'committed') {
        this.stats.commits++;
        if (opts.history !== undefined) opts.history(this.writeHistoryLater(draft.generation, body));
        else await this.writeHistory(draft.generation, body);
        return { committed: true, value: out as T, snapshot: outcome.snapshot, attempts: attempt };
      }
      this.stats.conflicts++;
      base = outcome.snapshot;
      const elapsed = this.deps.clock.now() - started;
      if (attempt >= bounds.maxAttempts || elapsed >= bounds.maxDurationMs) {
        this.stats.contentionErrors++;
        throw new ManifestContentionError(
          `shard ${this.shard}: commit lost ${attempt} races in ${elapsed} ms; retry later`,
          { retryAfterSeconds: 1 },
        );
      }
      await this.deps.clock.sleep(backoffMs(attempt, outcome.throttled, bounds, this.deps.random));
    }
  }

  /** Generations with a history copy (or one still being written by this instance), ascending. */
  async history(): Promise<number[]> {
    const gens: number[] = [...this.pendingHistory.keys()];
    let cursor: string | undefined;
    do {
      const page = await this.store.list(this.keys.historyPrefix, { cursor });
      for (const item of page.items) {
        const m = /(\d+)\.json$/.exec(item.key);
        if (m?.[1] !== undefined) gens.push(Number(m[1]));
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
    return [...new Set(gens)].sort((a, b) => a - b);
  }

  async readGeneration(generation: number): Promise<ShardManifest> {
    const key = this.keys.history(generation);
    const pending = this.pendingHistory.get(generation);
    if (pending !== undefined) return decodeManifest(pending, key);
    const res = await this.store.get(key);
    if (res === null || res.notModified) throw new NotFoundError(`shard ${this.shard} has no history copy of generation ${generation}`);
    return decodeManifest(res.body, key);
  }

  /**
   * Puts history generation `generation` back as current, under a new, higher generation (caches
   * never move backwards), through a conditional write on whatever current.json holds now.
   */
  async restore(generation: number): Promise<Snapshot> {
    this.writeGuard();
    const source = await this.readGeneration(generation);
    const current = await this.store.get(this.keys.current);
    const currentBody = current === null || current.notModified ? null : current;
    let currentGen = 0;
    if (currentBody !== null) {
      try {
        currentGen = decodeManifest(currentBody.body, this.keys.current).generation;
      } catch {
        // Corrupt: its generation is unknown, the history copies and our cache bound it.
      }
    }
    const gens = await this.history();
    const top = Math.max(currentGen, this.cached?.manifest.generation ?? 0, gens[gens.length - 1] ?? 0);
    const commitId = newId(this.deps);
    const restored: ShardManifest = {
      ...source,
      generation: top + 1,
      commit_id: commitId,
      recent_commit_ids: [commitId, ...source.recent_commit_ids].slice(0, RECENT_COMMITS),
      updated_at_ms: this.deps.clock.now(),
      restored_from: generation,
    };
    const body = encodeManifest(restored);
    try {
      const { etag } =
        currentBody === null
          ? await this.store.put(this.keys.current, body, { ifNoneMatch: '*', contentType: 'application/json' })
          : await this.store.put(this.keys.current, body, { ifMatch: currentBody.info.etag, contentType: 'application/json' });
      this.failure = undefined;
      const snap = this.publish(restored, etag);
      await this.writeHistory(restored.generation, body);
      return snap;
    } catch (err) {
      if (isRejectedWrite(err)) {
        throw new ManifestContentionError(`shard ${this.shard}: current.json changed during restore; nothing was restored, try again`);
      }
      throw err;
    }
  }

  // ---- internals ----

  private assertWritable(): void {
    if (this.failure !== undefined) throw this.failure;
    this.writeGuard();
  }

  private singleFlight(fn: () => Promise<Snapshot>): Promise<Snapshot> {
    if (!this.shareLoads) return fn();
    this.inflight ??= fn().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  /** Publishes committed state; the cache never moves to an older generation. */
  private publish(manifest: ShardManifest, etag: string): Snapshot {
    const cur = this.cached;
    if (cur !== undefined && cur.manifest.generation > manifest.generation) return cur;
    if (cur !== undefined && cur.manifest.generation === manifest.generation && cur.etag === etag) return cur;
    const snap: Snapshot = { manifest: deepFreeze(manifest), etag };
    this.cached = snap;
    return snap;
  }

  /** GETs current.json (conditionally when `ifNoneMatch` is given). `null` when it does not exist. */
  private async fetch(ifNoneMatch?: string): Promise<Snapshot | null> {
    const res = await this.store.get(this.keys.current, ifNoneMatch === undefined ? {} : { ifNoneMatch });
    if (res === null) return null;
    if (res.notModified) {
      this.failure = undefined;
      return this.cached ?? null;
    }
    let manifest: ShardManifest;
    try {
      manifest = decodeManifest(res.body, this.keys.current);
    } catch (err) {
      if (err instanceof ManifestCorruptError || err instanceof UnsupportedFormatError) this.failure = err;
      throw err;
    }
    this.failure = undefined;
    return this.publish(manifest, res.info.etag);
  }

  private async fetchOrBootstrap(): Promise<Snapshot> {
    const found = await this.fetch();
    if (found !== null) return found;
    this.writeGuard();
    const commitId = newId(this.deps);
    const first = emptyManifest(this.shard, commitId, this.deps.clock.now());
    const body = encodeManifest(first);
    try {
      const { etag } = await this.store.put(this.keys.current, body, { ifNoneMatch: '*', contentType: 'application/json' });
      await this.writeHistory(first.generation, body);
      return this.publish(first, etag);
    } catch (err) {
      // Another instance bootstrapped first, or our answer was lost: what is stored wins.
      if (!(err instanceof PreconditionFailedError || err instanceof AmbiguousWriteError || err instanceof TransientStoreError)) throw err;
      const now = await this.fetch();
      if (now === null) throw new TransientStoreError(`shard ${this.shard}: could not create its first manifest`, { cause: err });
      return now;
    }
  }

  /**
   * PUTs one manifest body conditionally and resolves the outcome: committed (published), or
   * rejected with the fresh committed state (published too, it is committed state).
   */
  private async putResolved(
    body: Uint8Array,
    draft: ShardManifest,
    base: Snapshot,
    commitId: string,
    started: number,
    policy: CommitPolicy,
  ): Promise<PutOutcome> {
    for (let tries = 1; ; tries++) {
      try {
        const { etag } = await this.store.put(this.keys.current, body, { ifMatch: base.etag, contentType: 'application/json' });
        return { kind: 'committed', snapshot: this.publish(draft, etag) };
      } catch (err) {
        if (isRejectedWrite(err)) {
          // Usually a lost race; but a hidden retry of a PUT that landed also answers 412.
          return this.decide(await this.readBack(commitId, started, policy), base, commitId, false);
        }
        if (!(err instanceof AmbiguousWriteError || err instanceof TransientStoreError)) throw err;
        this.stats.ambiguous++;
        const fresh = await this.readBack(commitId, started, policy);
        if (fresh.etag !== base.etag) return this.decide(fresh, base, commitId, err.throttled);
        // current.json did not move: our PUT has not landed, and If-Match keeps it from landing
        // once anything else commits. Sending the same body again is safe.
        if (this.deps.clock.now() - started >= policy.maxDurationMs) {
          throw new CommitOutcomeUnknownError(`shard ${this.shard}: the store kept failing; nothing was committed`, { cause: err, retryAfterSeconds: 2 });
        }
        await this.deps.clock.sleep(backoffMs(tries, err.throttled, policy, this.deps.random));
      }
    }
  }

  /** Given fresh committed state after an unclear or rejected PUT: did our commit land? */
  private async decide(fresh: Snapshot, base: Snapshot, commitId: string, throttled: boolean): Promise<PutOutcome> {
    if (fresh.manifest.recent_commit_ids.includes(commitId)) return { kind: 'committed', snapshot: fresh };
    if (fresh.manifest.generation <= base.manifest.generation + RECENT_COMMITS) {
      // Had ours landed it would be generation base+1, still within the recent list.
      return { kind: 'rejected', snapshot: fresh, throttled };
    }
    // The recent list rolled over since our base: the history copy of base+1 decides (another
    // instance may still be writing it: then the outcome is unknown, and the client retries).
    const next = base.manifest.generation + 1;
    const pending = this.pendingHistory.get(next);
    const res = pending === undefined ? await this.store.get(this.keys.history(next)) : null;
    const body = pending ?? (res !== null && !res.notModified ? res.body : undefined);
    if (body !== undefined) {
      const m = decodeManifest(body, this.keys.history(next));
      return m.commit_id === commitId ? { kind: 'committed', snapshot: fresh } : { kind: 'rejected', snapshot: fresh, throttled };
    }
    throw new CommitOutcomeUnknownError(
      `shard ${this.shard}: cannot tell whether commit ${commitId} landed (history of generation ${base.manifest.generation + 1} is gone)`,
      { retryAfterSeconds: 1 },
    );
  }

  /** Reads current.json back, retrying reads within the commit's time bound. */
  private async readBack(commitId: string, started: number, policy: CommitPolicy): Promise<Snapshot> {
    for (let tries = 1; ; tries++) {
      try {
        const snap = await this.fetch();
        if (snap === null) throw new ManifestCorruptError(`shard ${this.shard}: current.json disappeared; restore it from history`);
        return snap;
      } catch (err) {
        if (!(err instanceof TransientStoreError)) throw err;
        if (this.deps.clock.now() - started >= policy.maxDurationMs) {
          throw new CommitOutcomeUnknownError(`shard ${this.shard}: cannot read back commit ${commitId}; its outcome is unknown`, {
            cause: err,
            retryAfterSeconds: 2,
          });
        }
        await this.deps.clock.sleep(backoffMs(tries, err.throttled, policy, this.deps.random));
      }
    }
  }

  /** The history copy, written after the commit returned; readers find the body meanwhile. */
  private async writeHistoryLater(generation: number, body: Uint8Array): Promise<void> {
    this.pendingHistory.set(generation, body);
    try {
      await this.writeHistory(generation, body);
    } finally {
      this.pendingHistory.delete(generation);
    }
  }

  /** Immutable copy of a committed generation (best effort: the commit already happened). */
  private async writeHistory(generation: number, body: Uint8Array): Promise<void> {
    for (let tries = 1; tries <= 3; tries++) {
      try {
        await this.store.put(this.keys.history(generation), body, { ifNoneMatch: '*', contentType: 'application/json' });
        return;
      } catch (err) {
        if (isRejectedWrite(err)) return; // already there (e.g. written by the read-back path)
        if (!(err instanceof AmbiguousWriteError || err instanceof TransientStoreError)) return;
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
