/**
 * One shard's manifest, the shard's single commit point (design: docs/manifest-commit.md). A
 * commit applies named edits (edits.ts) to a clone of the committed manifest, stamps a new
 * generation and commit id, and writes it through the conditional-write object: published only
 * after the PUT succeeded, re-planned on a lost race, decided by read-back when the outcome is
 * unknown. Every generation leaves an edit record in history (and periodically a full copy:
 * history-store.ts); `restore` puts any generation history can rebuild back as current.
 */
import { CommitOutcomeUnknownError, ManifestContentionError, ManifestCorruptError } from '../errors.ts';
import type { Background } from '../lib/background.ts';
import { newId, type Deps } from '../model/deps.ts';
import { isRejectedWrite } from '../store/errors.ts';
import type { ObjectStore } from '../store/types.ts';
import { DEFAULT_COMMIT_POLICY, type CommitPolicy } from './backoff.ts';
import { checkManifest, decodeStored } from './codec.ts';
import { ConditionalObject, type UpdateStats, type Versioned } from './conditional-object.ts';
import { applyEdit, draftOf, manifestEdit, type EditResult, type ManifestEdit } from './edits.ts';
import { stampCommit, unpackHistory, type CheckpointPolicy, type HistoryIndex, type HistoryRecord } from './history.ts';
import { ManifestHistory, type CommittedGeneration } from './history-store.ts';
import type { ShardKeys } from './keys.ts';
import { ManifestParts, type ManifestPartsOptions, type PartStats } from './part-store.ts';
import { emptyManifest, RECENT_COMMITS, type DeepReadonly, type ShardManifest } from './schema.ts';

/**
 * A cached base older than this (since it was last confirmed by the store) is revalidated before
 * a commit. Deciding a lost race may need the history of the generation after the base (see
 * `landed`), and GC keeps history younger than its safety age (1 h) whatever its generation: a
 * fresh base keeps that history young enough to still be there.
 */
const MAX_BASE_AGE_MS = 10_000;

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
  /**
   * Asked after each attempt is planned: a write its manifest PUT depends on (ingest: the PUT of
   * the segment the edit adds, started before the commit). The manifest PUT is made only once it
   * succeeded (`PutOptions.after`); if it fails, the commit ends with its error, nothing written.
   */
  readonly beforeWrite?: () => Promise<unknown> | undefined;
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
  /** When full copies are written into history besides each generation's edit record. */
  readonly checkpoints?: CheckpointPolicy;
  /** When settled months go into parts, and how many part bytes stay cached. */
  readonly parts?: Pick<ManifestPartsOptions, 'settleMs' | 'cacheBytes' | 'recentChunk'>;
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
  /** The shard's history: edit records, checkpoints, and generations still being written. */
  private readonly historyLog: ManifestHistory;
  /** The settled months' entries, stored apart from current.json in immutable parts. */
  private readonly parts: ManifestParts;
  private readonly sequencer: ManifestStoreOptions['sequencer'];
  /** When the cached state was last known to be the stored one (host clock). */
  private confirmedAtMs = Number.NEGATIVE_INFINITY;

  constructor(opts: ManifestStoreOptions) {
    this.sequencer = opts.sequencer;
    this.store = opts.store;
    this.keys = opts.keys;
    this.shard = opts.shard;
    this.deps = opts.deps;
    this.policy = { ...DEFAULT_COMMIT_POLICY, ...opts.policy };
    this.writeGuard = opts.writeGuard ?? (() => undefined);
    this.parts = new ManifestParts({ store: opts.store, keys: opts.keys, shard: opts.shard, ...opts.parts });
    this.historyLog = new ManifestHistory({
      store: opts.store,
      keys: opts.keys,
      shard: opts.shard,
      decode: (bytes, where) => this.parts.decode(bytes, where),
      ...(opts.checkpoints === undefined ? {} : { checkpoints: opts.checkpoints }),
    });
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
        // restore validate the whole manifest themselves. Parts the commit needs are stored first.
        encode: (m, base) => this.parts.encode(m, base),
        decode: (bytes) => this.parts.decode(bytes, where),
        version: (m) => m.generation,
        initial: () => emptyManifest(this.shard, newId(this.deps), this.deps.clock.now()),
      },
      landed: (fresh, base, token) => this.landed(fresh, base, token),
      created: (m) => this.historyLog.writeCheckpoint(m),
      // A shard with history but no current.json lost its commit point: starting it over empty
      // would drop every acknowledged event from every total. It fails closed until restored.
      refuseCreate: async () => {
        const page = await this.store.list(this.keys.historyPrefix, { limit: 1 });
        if (page.items.length === 0) return undefined;
        return new ManifestCorruptError(
          `shard ${this.shard}: current.json is missing but the shard has history; restore a generation (usagedb manifest restore)`,
        );
      },
    });
  }

  /** Commit counters (commits, skipped, lost races, unknown outcomes, contention errors). */
  get stats(): Readonly<UpdateStats> {
    return this.object.stats;
  }

  /** Part counters (parts written, parts read from the store). */
  get partStats(): Readonly<PartStats> {
    return this.parts.stats;
  }

  /**
   * The part objects a committed state's current.json names: known for every state this
   * instance loaded or committed; for one it adopted (a sequencer's), read from what is stored.
   */
  async partKeys(state: CommittedManifest): Promise<string[]> {
    const known = this.parts.partKeysOf(state.manifest);
    if (known !== undefined) return known;
    const res = await this.store.get(this.keys.current);
    if (res === null || res.notModified) return [];
    return this.parts.partKeysOfBody(res.body, this.keys.current);
  }

  /** The part objects the full copy of `generation` in history names (none when there is none or it is unreadable). */
  async checkpointPartKeys(generation: number): Promise<string[]> {
    const key = this.keys.history(generation);
    const res = await this.store.get(key);
    if (res === null || res.notModified) return [];
    try {
      return this.parts.partKeysOfBody(unpackHistory(res.body), key);
    } catch {
      return [];
    }
  }

  /** The cached state, if any, without touching the store. */
  peek(): CommittedManifest | undefined {
    const v = this.object.peek();
    return v === undefined ? undefined : this.view(v);
  }

  /** The cached state, loading (and bootstrapping) it on a cold start. */
  async load(): Promise<CommittedManifest> {
    const cold = this.object.peek() === undefined;
    const at = this.deps.clock.now();
    const state = this.view(await this.object.load());
    if (cold) this.confirmedAtMs = at;
    return state;
  }

  /** Sees other instances' commits: a conditional GET that costs one small round trip (304). */
  async revalidate(): Promise<CommittedManifest> {
    const at = this.deps.clock.now();
    const state = this.view(await this.object.revalidate());
    this.confirmedAtMs = at;
    return state;
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
      this.confirmedAtMs = this.deps.clock.now();
      return { committed: res.committed, attempts: res.attempts, results: res.results as EditResult<E>[], state };
    }
    const policy = opts.policy === undefined ? this.policy : { ...this.policy, ...opts.policy };
    const started = this.deps.clock.now();
    if (this.object.peek() !== undefined && started - this.confirmedAtMs > MAX_BASE_AGE_MS) await this.revalidate();
    // What the attempt that was written applied, for its history record.
    let written: (Omit<CommittedGeneration, 'value' | 'body'> & { draft: ShardManifest }) | undefined;
    const res = await this.object.update<EditResult<E>[]>(async (base, attempt) => {
      const planned = typeof plan === 'function' ? await plan(this.view(base), attempt) : plan;
      // The parsed copies are applied: exactly what the history record will hold and a replay apply.
      const edits = planned.map(checkEdit);
      const draft = draftOf(base.value);
      const results = edits.map((e) => applyEdit(draft, e)) as EditResult<E>[];
      if (!results.some((r) => r.status === 'applied')) return { skip: results };
      if (opts.atomic === true && results.some((r) => r.status === 'skipped')) return { skip: results };
      const commitId = newId(this.deps);
      stampCommit(draft, base.value, commitId, this.deps.clock.now());
      written = { base: base.value, edits: edits.filter((_, i) => results[i]!.status === 'applied'), draft };
      const before = opts.beforeWrite?.();
      return before === undefined ? { write: draft, token: commitId, result: results } : { write: draft, token: commitId, result: results, before };
    }, policy);
    if (res.committed || res.attempts > 1) this.confirmedAtMs = started;
    // The attempt that was written is the last one that planned a write (a rejected one re-plans).
    if (res.written !== undefined && written !== undefined && written.draft === res.written.value) {
      const generation: CommittedGeneration = { base: written.base, edits: written.edits, value: res.written.value, body: res.written.body };
      if (opts.history !== undefined) opts.history(this.historyLog.writeLater(generation));
      else await this.historyLog.write(generation);
    }
    return { committed: res.committed, results: res.result, state: this.view(res.state), attempts: res.attempts };
  }

  /**
   * Generations history can rebuild by its listing (a full copy, or records down to one; or
   * still being written by this instance), ascending.
   */
  async history(): Promise<number[]> {
    return this.historyLog.generations();
  }

  /** What `history/` holds: generations with a full copy, with an edit record. */
  async historyIndex(): Promise<HistoryIndex> {
    return this.historyLog.index();
  }

  /** One generation's stored edit record, or null. */
  async historyRecord(generation: number): Promise<HistoryRecord | null> {
    return this.historyLog.record(generation);
  }

  /**
   * A generation exactly as it was committed: its full copy, or the nearest one before it with
   * the edit records after it replayed and checked against the digest they carry. Throws
   * NotFoundError (no history of it), HistoryIncompleteError (a gap in its chain) or
   * HistoryMismatchError (a replay that does not reproduce it).
   */
  async readGeneration(generation: number): Promise<ShardManifest> {
    return this.historyLog.read(generation);
  }

  /** Several generations, replaying each chain once; an error in place of each that cannot be rebuilt. */
  async readGenerations(generations: readonly number[]): Promise<Map<number, ShardManifest | Error>> {
    return this.historyLog.readMany(generations);
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
        const stored = decodeStored(currentBody.body, this.keys.current);
        currentGen = stored.kind === 'whole' ? stored.manifest.generation : stored.stored.generation;
      } catch {
        // Corrupt: its generation is unknown, the history copies and our cache bound it.
      }
    }
    // Above every generation history holds anything of, so no history key is ever written twice.
    const index = await this.historyLog.index();
    let top = Math.max(currentGen, this.object.peek()?.value.generation ?? 0);
    for (const g of [...index.checkpoints, ...index.records]) top = Math.max(top, g);
    const commitId = newId(this.deps);
    const restored: ShardManifest = {
      ...source,
      generation: top + 1,
      commit_id: commitId,
      recent_commit_ids: [commitId, ...source.recent_commit_ids].slice(0, RECENT_COMMITS),
      updated_at_ms: this.deps.clock.now(),
      restored_from: generation,
    };
    checkManifest(restored);
    // Its parts are written first (new ones: a restore shares no part with what it replaces).
    const body = await this.parts.encode(restored);
    try {
      const { etag } =
        currentBody === null
          ? await this.store.put(this.keys.current, body, { ifNoneMatch: '*', contentType: 'application/json' })
          : await this.store.put(this.keys.current, body, { ifMatch: currentBody.info.etag, contentType: 'application/json' });
      const state = this.view(this.object.adopt(restored, etag));
      this.confirmedAtMs = this.deps.clock.now();
      await this.historyLog.writeCheckpoint(restored);
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
    // The recent list rolled over since our base: the commit id of base+1, from its history (or
    // the next one's record), decides. Another instance may still be writing it: then the outcome
    // is unknown, and the client retries.
    const next = base.value.generation + 1;
    const id = await this.historyLog.commitIdOf(next);
    if (id !== undefined) return id === commitId;
    throw new CommitOutcomeUnknownError(`shard ${this.shard}: cannot tell whether commit ${commitId} landed (history of generation ${next} is gone)`, {
      retryAfterSeconds: 1,
    });
  }
}

/** Refuses an edit that is not what the wire schema allows: a bug, and it must never reach the store. */
function checkEdit(e: ManifestEdit): ManifestEdit {
  const checked = manifestEdit.safeParse(e);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new Error(`refusing to commit an invalid ${e.op} edit: ${issue?.path.join('.')}: ${issue?.message}`);
  }
  return checked.data;
}
