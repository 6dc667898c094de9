/**
 * One shard's manifest, the shard's single commit point (design: docs/manifest-commit.md). A
 * commit applies named edits (edits.ts) to a clone of the committed manifest, stamps a new
 * generation and commit id, and writes it through the conditional-write object: published only
 * after the PUT succeeded, re-planned on a lost race, decided by read-back when the outcome is
 * unknown. Every generation gets an immutable history copy; `restore` puts one back.
 */
import { CommitOutcomeUnknownError, ManifestContentionError, ManifestCorruptError, NotFoundError } from '../errors.ts';
import type { Background } from '../lib/background.ts';
import { newId, type Deps } from '../model/deps.ts';
import { AmbiguousWriteError, isRejectedWrite, TransientStoreError } from '../store/errors.ts';
import type { ObjectStore } from '../store/types.ts';
import { DEFAULT_COMMIT_POLICY, type CommitPolicy } from './backoff.ts';
import { decodeManifest, encodeDraft, encodeManifest } from './codec.ts';
import { ConditionalObject, type UpdateStats, type Versioned } from './conditional-object.ts';
import { applyEdit, draftOf, manifestEdit, type EditResult, type ManifestEdit } from './edits.ts';
import type { ShardKeys } from './keys.ts';
import { emptyManifest, RECENT_COMMITS, type DeepReadonly, type ShardManifest } from './schema.ts';

/** A committed manifest and the ETag it was stored under. Never mutate it: it is shared. */
export interface CommittedManifest {
  readonly manifest: DeepReadonly<ShardManifest>;
  readonly etag: string;
}

/**
 * Plans what to commit on the committed state it is given, on every attempt (after a lost race
 * the state is newer): returns the edits to apply, or none to commit nothing. It may read and
 * write objects (e.g. ingest re-classifies and rewrites its segment) but never touches the draft.
 */
export type Planner<P> = (base: CommittedManifest, attempt: number) => P | Promise<P>;

export interface CommitOptions {
  /** Overrides this store's bounds for this call, in every step (attempts, read-backs, backoff). */
  readonly policy?: Partial<CommitPolicy>;
  /**
   * Where the generation's history copy is written after the commit returns (ingest keeps it off
   * the acknowledgment path). Without it the commit writes the copy before returning.
   */
  readonly history?: Background;
  /** commitAll: all edits or none (a skipped edit skips the whole commit). */
  readonly atomic?: boolean;
}

interface CommitBase {
  /** Whether a new generation was written. */
  readonly committed: boolean;
  /** The committed state after the call (the base the plan was skipped on, when nothing was written). */
  readonly state: CommittedManifest;
  readonly attempts: number;
}

export interface Commit<E extends ManifestEdit> extends CommitBase {
  /** The edit's result; none when the planner planned nothing. */
  readonly result: EditResult<E> | undefined;
}

export interface CommitAll<E extends ManifestEdit> extends CommitBase {
  /** Each planned edit's result, in order. */
  readonly results: EditResult<E>[];
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
  /**
   * The shard's sequencer, when another writer serializes this shard's commits for every
   * instance (a Durable Object on Workers): edits given as data are sent there; planners (ingest,
   * a close) still commit here — the conditional write keeps both correct.
   */
  readonly sequencer?: Sequencer;
}

/** What a shard's sequencer answers for edits it committed: data, since it crosses an RPC boundary. */
export interface SequencedCommit {
  readonly committed: boolean;
  readonly attempts: number;
  readonly results: EditResult<ManifestEdit>[];
  /** The sequencer's committed state after the call. */
  readonly manifest: DeepReadonly<ShardManifest>;
  readonly etag: string;
}

/** Commits edits given as data at the shard's sequencer. */
export type Sequencer = (edits: readonly ManifestEdit[]) => Promise<SequencedCommit>;

export class ManifestStore {
  readonly shard: number;
  readonly keys: ShardKeys;
  private readonly store: ObjectStore;
  private readonly deps: Deps;
  private readonly policy: CommitPolicy;
  private readonly writeGuard: () => void;
  private readonly object: ConditionalObject<ShardManifest>;
  /** One CommittedManifest per committed state, so a state keeps its identity across calls. */
  private readonly views = new WeakMap<Versioned<ShardManifest>, CommittedManifest>();
  /**
   * Bodies of committed generations whose history copy is still being written in the background:
   * readers of history find them here (data, not promises, so any request may read them).
   */
  private readonly pendingHistory = new Map<number, Uint8Array>();
  private readonly sequencer: ManifestStoreOptions['sequencer'];

  constructor(opts: ManifestStoreOptions) {
    this.sequencer = opts.sequencer;
    this.store = opts.store;
    this.keys = opts.keys;
    this.shard = opts.shard;
    this.deps = opts.deps;
    this.policy = { ...DEFAULT_COMMIT_POLICY, ...opts.policy };
    this.writeGuard = opts.writeGuard ?? (() => undefined);
    const where = this.keys.current;
    this.object = new ConditionalObject<ShardManifest>({
      store: opts.store,
      key: where,
      deps: opts.deps,
      policy: this.policy,
      label: `shard ${opts.shard}`,
      writeGuard: this.writeGuard,
      shareLoads: opts.shareLoads ?? true,
      codec: {
        // Commits apply checked edits to a decoded manifest (see checkEdit); bootstrap and
        // restore validate the whole manifest themselves.
        encode: encodeDraft,
        decode: (bytes) => decodeManifest(bytes, where),
        version: (m) => m.generation,
        initial: () => emptyManifest(this.shard, newId(this.deps), this.deps.clock.now()),
      },
      landed: (fresh, base, token) => this.landed(fresh, base, token),
      created: (m, body) => this.writeHistory(m.generation, body),
      // A shard with history but no current.json lost its commit point: starting it over empty
      // would drop every acknowledged event from every total. It fails closed until restored.
      refuseCreate: async () => {
        const page = await this.store.list(this.keys.historyPrefix, { limit: 1 });
        if (page.items.length === 0) return undefined;
        return new ManifestCorruptError(`shard ${this.shard}: current.json is missing but the shard has history; restore a generation (usagedb manifest restore)`);
      },
    });
  }

  /** Commit counters (commits, skipped, lost races, unknown outcomes, contention errors). */
  get stats(): Readonly<UpdateStats> {
    return this.object.stats;
  }

  /** The cached state, if any, without touching the store. */
  peek(): CommittedManifest | undefined {
    const v = this.object.peek();
    return v === undefined ? undefined : this.view(v);
  }

  /** The cached state, loading (and bootstrapping) it on a cold start. */
  async load(): Promise<CommittedManifest> {
    return this.view(await this.object.load());
  }

  /** Sees other instances' commits: a conditional GET that costs one small round trip (304). */
  async revalidate(): Promise<CommittedManifest> {
    return this.view(await this.object.revalidate());
  }

  /**
   * Commits one edit (or what `plan` returns on each attempt; `undefined`: nothing to commit).
   * A skipped edit commits nothing and says why in `results`.
   */
  async commit<E extends ManifestEdit>(edit: E | Planner<E | undefined>, opts: CommitOptions = {}): Promise<Commit<E>> {
    const plan: readonly E[] | Planner<readonly E[]> =
      typeof edit === 'function'
        ? async (base, attempt) => {
            const e = await edit(base, attempt);
            return e === undefined ? [] : [e];
          }
        : [edit];
    const { results, ...res } = await this.commitAll(plan, opts);
    return { ...res, result: results[0] };
  }

  /**
   * Commits several edits in one generation: each is applied if its preconditions hold (in
   * order, each on the draft the previous ones left) and reports its own result; nothing is
   * written when none applied.
   */
  async commitAll<E extends ManifestEdit>(plan: readonly E[] | Planner<readonly E[]>, opts: CommitOptions = {}): Promise<CommitAll<E>> {
    if (this.sequencer !== undefined && typeof plan !== 'function' && opts.atomic !== true) {
      const res = await this.sequencer(plan);
      // What the sequencer committed is committed state: this instance's cache learns it.
      const state = this.view(this.object.adopt(res.manifest as ShardManifest, res.etag));
      return { committed: res.committed, attempts: res.attempts, results: res.results as EditResult<E>[], state };
    }
    const policy = opts.policy === undefined ? this.policy : { ...this.policy, ...opts.policy };
    const res = await this.object.update<EditResult<E>[]>(async (base, attempt) => {
      const edits = typeof plan === 'function' ? await plan(this.view(base), attempt) : plan;
      for (const e of edits) checkEdit(e);
      const draft = draftOf(base.value);
      const results: EditResult<E>[] = edits.map((e) => applyEdit(draft, e));
      if (!results.some((r) => r.status === 'applied')) return { skip: results };
      if (opts.atomic === true && results.some((r) => r.status === 'skipped')) return { skip: results };
      const commitId = newId(this.deps);
      draft.generation = base.value.generation + 1;
      draft.commit_id = commitId;
      draft.recent_commit_ids = [commitId, ...base.value.recent_commit_ids].slice(0, RECENT_COMMITS);
      draft.updated_at_ms = this.deps.clock.now();
      return { write: draft, token: commitId, result: results };
    }, policy);
    if (res.written !== undefined) {
      const { value, body } = res.written;
      if (opts.history !== undefined) opts.history(this.writeHistoryLater(value.generation, body));
      else await this.writeHistory(value.generation, body);
    }
    return { committed: res.committed, results: res.result, state: this.view(res.state), attempts: res.attempts };
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
   * never move backwards), through a conditional write on whatever current.json holds now —
   * readable or not, which is why this is not an edit: it works on a shard that refuses edits.
   */
  async restore(generation: number): Promise<CommittedManifest> {
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
    const top = Math.max(currentGen, this.object.peek()?.value.generation ?? 0, gens[gens.length - 1] ?? 0);
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
      const state = this.view(this.object.adopt(restored, etag));
      await this.writeHistory(restored.generation, body);
      return state;
    } catch (err) {
      if (isRejectedWrite(err)) {
        throw new ManifestContentionError(`shard ${this.shard}: current.json changed during restore; nothing was restored, try again`);
      }
      throw err;
    }
  }

  // ---- internals ----

  private view(v: Versioned<ShardManifest>): CommittedManifest {
    let c = this.views.get(v);
    if (c === undefined) this.views.set(v, (c = { manifest: v.value, etag: v.etag }));
    return c;
  }

  /** Given fresh committed state after an unclear or rejected PUT: did commit `commitId` land? */
  private async landed(fresh: Versioned<ShardManifest>, base: Versioned<ShardManifest>, commitId: string): Promise<boolean> {
    if (fresh.value.recent_commit_ids.includes(commitId)) return true;
    // Had ours landed it would be generation base+1, still within the recent list.
    if (fresh.value.generation <= base.value.generation + RECENT_COMMITS) return false;
    // The recent list rolled over since our base: the history copy of base+1 decides (another
    // instance may still be writing it: then the outcome is unknown, and the client retries).
    const next = base.value.generation + 1;
    const pending = this.pendingHistory.get(next);
    const res = pending === undefined ? await this.store.get(this.keys.history(next)) : null;
    const body = pending ?? (res !== null && !res.notModified ? res.body : undefined);
    if (body !== undefined) return decodeManifest(body, this.keys.history(next)).commit_id === commitId;
    throw new CommitOutcomeUnknownError(`shard ${this.shard}: cannot tell whether commit ${commitId} landed (history of generation ${next} is gone)`, {
      retryAfterSeconds: 1,
    });
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

/** Refuses an edit that is not what the wire schema allows: a bug, and it must never reach the store. */
function checkEdit(e: ManifestEdit): void {
  const checked = manifestEdit.safeParse(e);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new Error(`refusing to commit an invalid ${e.op} edit: ${issue?.path.join('.')}: ${issue?.message}`);
  }
}
