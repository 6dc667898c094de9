/**
 * One shard's side of the ingest transaction (design.md "Ingest", steps 2-5) with group commit:
 * concurrent submissions share one segment and one manifest commit, each keeping its own
 * outcomes. Events enter the dedupe index only after their commit succeeded; a failed or
 * unknown commit never deletes its segment objects (GC's job) and fails every submission in it.
 */
import type { Background } from '../lib/background.ts';
import { rawSegmentsAdded, type ManifestEdit } from '../manifest/edits.ts';
import type { CommitAll, ManifestStore } from '../manifest/manifest-store.ts';
import type { DeepReadonly, RawSegmentEntry, ShardManifest } from '../manifest/schema.ts';
import { BucketCache } from '../model/bucket.ts';
import type { Deps } from '../model/deps.ts';
import { ClosedPeriods } from '../model/periods.ts';
import { encodeRawSegmentObject, hasKeyFilter, isLean } from '../objects/segment-objects.ts';
import type { ObjectStore } from '../store/types.ts';
import { ColdFilters, type ColdAnswer, type ColdProbe } from './cold-filters.ts';
import type { DedupeIndex } from './dedupe-index.ts';
import { FirstSeen } from './first-seen.ts';
import { loadSegmentHashes } from './hash-loader.ts';
import type { IngestOptions } from './limits.ts';
import { hashWords, samePayload, type PendingEvent } from './pending.ts';

export type { PendingEvent } from './pending.ts';

/** `period_closing`: a correction for a fenced period; not committed, the request must retry. */
export type Outcome = 'accepted' | 'duplicate' | 'conflict' | 'period_closed' | 'period_closing';

interface Submission {
  readonly events: readonly PendingEvent[];
  /** Where the commit's history copy goes, after the answer. */
  readonly background: Background;
  readonly resolve: (outcomes: Outcome[]) => void;
  readonly reject: (err: unknown) => void;
}

/** Edits of another writer of this shard (a job) committed in turn with the ingest flushes. */
interface EditsItem {
  readonly edits: readonly ManifestEdit[];
  readonly resolve: (res: CommitAll<ManifestEdit>) => void;
  readonly reject: (err: unknown) => void;
}

/** A segment of a group's accepted events: its entry known at once, its PUT under way. */
interface StartedSegment {
  readonly entry: RawSegmentEntry;
  readonly events: readonly PendingEvent[];
  /** The create-only PUT; the manifest PUT that lists the segment is made only after it succeeded. */
  readonly written: Promise<unknown>;
}

export interface ShardWriterDeps {
  readonly store: ObjectStore;
  readonly manifest: ManifestStore;
  readonly index: DedupeIndex;
  readonly deps: Deps;
  readonly bucketCount: number;
  readonly options: IngestOptions;
  /** Key filters of compacted segments (the older part of the window); one per shard. */
  readonly cold?: ColdFilters;
}

export class ShardWriter {
  private readonly d: ShardWriterDeps;
  /** The older part of the dedupe window: filters of compacted segments, confirmed by ranged reads. */
  readonly cold: ColdFilters;
  private queue: Submission[] = [];
  private edits: EditsItem[] = [];
  private running: Promise<void> | undefined;
  /**
   * When this writer's last commit returned: the next starts commitIntervalMs later, so two
   * manifest PUTs are always further apart than the interval, whatever the segment writes take.
   */
  private lastCommitEnd = Number.NEGATIVE_INFINITY;
  /** Whether pace() has looked at the manifest once (a cold writer does not know its last write). */
  private paceWarm = false;
  /** Whether this shard's last commit lost a race to another writer (then flushes revalidate first). */
  private contended = false;
  /**
   * Own commits not yet seen in a loaded manifest (its generation below theirs): their events
   * must stay in the exact index whatever the manifests seen so far say.
   */
  private ownPending: { readonly generation: number; readonly minIngestedMs: number; readonly segmentId: string }[] = [];
  /** The generation the index's floor was last set from (older manifests never raise it). */
  private floorGeneration = 0;
  /** Submissions, the flushes that served them, commits made and events they carried. */
  readonly stats = { submissions: 0, flushes: 0, commits: 0, events: 0 };
  /** The last group flush: requests it carried, requests queued by the time it returned, its duration. */
  private lastFlush = { requests: 0, queuedAfter: 0, ms: 0 };
  /** Wakes a gather() waiting for the next submission. */
  private arrived: (() => void) | undefined;
  /** Buckets of the accounts this writer sees (cold probes and segment stats need one per account). */
  private readonly buckets: BucketCache;

  /** This shard's exact dedupe index (the recent part of the window). */
  get index(): DedupeIndex {
    return this.d.index;
  }

  constructor(d: ShardWriterDeps) {
    this.d = d;
    this.buckets = new BucketCache(d.bucketCount);
    this.cold = d.cold ?? new ColdFilters({ maxFilterBytes: 32 * 1024 * 1024, maxPages: 256, concurrency: d.options.hashLoadConcurrency });
  }

  /**
   * Resolves with one outcome per event, in order, once the events' commit succeeded. Without
   * group commit the caller's own flush does the work: nothing crosses from one caller to another.
   */
  submit(events: readonly PendingEvent[], background: Background): Promise<Outcome[]> {
    this.stats.submissions++;
    if (!this.d.options.groupCommit) return this.flush(events, background);
    return new Promise((resolve, reject) => {
      this.queue.push({ events, background, resolve, reject });
      this.arrived?.();
      this.kick();
    });
  }

  /**
   * Commits other edits of this shard (a job's, sent to the shard's sequencer) in turn with the
   * ingest flushes, under the same pacing: one writer of the key, one commit at a time.
   */
  commitEdits(edits: readonly ManifestEdit[]): Promise<CommitAll<ManifestEdit>> {
    return new Promise((resolve, reject) => {
      this.edits.push({ edits, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits until the next commit may start (a store that takes ~1 write a second per key: R2). */
  private async pace(): Promise<void> {
    const interval = this.d.options.commitIntervalMs;
    if (interval <= 0) return;
    if (!this.paceWarm) {
      // Cold: a manifest at its first generation was most likely just created (by this load, or
      // by another instance's), and a commit right after it would be throttled and backed off.
      const { manifest } = await this.d.manifest.load();
      if (manifest.generation === 1) this.lastCommitEnd = Math.max(this.lastCommitEnd, this.d.deps.clock.now());
      this.paceWarm = true;
    }
    const wait = this.lastCommitEnd + interval - this.d.deps.clock.now();
    if (wait > 0) await this.d.deps.clock.sleep(wait);
  }

  /** Waits until everything submitted so far is committed or failed (graceful shutdown). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  private async drain(): Promise<void> {
    if (this.d.options.groupCommitWindowMs > 0) await this.d.deps.clock.sleep(this.d.options.groupCommitWindowMs);
    while (this.queue.length > 0 || this.edits.length > 0) {
      for (const item of this.edits.splice(0)) {
        await this.pace();
        await this.d.manifest.commitAll(item.edits).then(item.resolve, item.reject);
        this.lastCommitEnd = this.d.deps.clock.now();
      }
      if (this.queue.length === 0) continue;
      await this.pace();
      await this.gather();
      // Everything that arrived while waiting for the pace joins this flush.
      const batch = this.queue;
      this.queue = [];
      const started = this.d.deps.clock.now();
      try {
        const outcomes = await this.flush(
          batch.flatMap((s) => s.events),
          batch[0]!.background,
        );
        let at = 0;
        for (const s of batch) {
          s.resolve(outcomes.slice(at, at + s.events.length));
          at += s.events.length;
        }
      } catch (err) {
        for (const s of batch) s.reject(err);
      }
      this.lastCommitEnd = this.d.deps.clock.now();
      this.lastFlush = { requests: batch.length, queuedAfter: this.queue.length, ms: this.lastCommitEnd - started };
    }
  }

  /**
   * Under load, waits a moment for the requests the previous flush's answers bring back, so one
   * commit carries them all. Clients wait for their answers: with 8 of them, a flush started on the
   * first arrival carried ~4 requests while the other ~4 waited for the next, and every commit's
   * fixed work (a segment and a manifest write, the manifest's encoding) was paid per ~4 requests.
   * The requests in the system at the end of the last flush (those it answered plus those that
   * queued meanwhile) are what to expect back; this waits until that many are queued, for at most
   * `gatherMaxMs` and never longer than the last flush took. It never waits when the last flush
   * carried one request (a lone client), nor under a commit interval (the pacing gathers already).
   */
  private async gather(): Promise<void> {
    const max = Math.min(this.d.options.gatherMaxMs, this.lastFlush.ms);
    const expected = this.lastFlush.requests + this.lastFlush.queuedAfter;
    if (max <= 0 || this.lastFlush.requests <= 1 || this.d.options.commitIntervalMs > 0 || this.queue.length >= expected) return;
    const clock = this.d.deps.clock;
    const deadline = clock.now() + max;
    while (this.queue.length < expected) {
      const left = deadline - clock.now();
      if (left <= 0) break;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.arrived = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
      this.arrived = undefined;
    }
  }

  /** The transaction for one group: classify, write a segment, commit, then index. */
  private async flush(all: readonly PendingEvent[], background: Background): Promise<Outcome[]> {
    const { index, manifest, deps } = this.d;
    this.stats.flushes++;
    // Classify on the cached snapshot, then write the segment while revalidating: other
    // instances' commits are seen without a round trip on the critical path.
    const cached = await manifest.load();
    await this.loadMissing(cached.manifest);
    let outcomes = this.classify(all, cached.manifest, await this.coldCheck(all, cached.manifest));
    // What `outcomes` were computed on: re-classifying the same generation would repeat them.
    let classifiedOn = cached.manifest.commit_id;
    let candidates = all.filter((_, i) => outcomes[i] === 'accepted');
    let segment: StartedSegment;
    if (candidates.length === 0) {
      // Nothing looked new on the cache: decide on fresh state (a period may have been reopened
      // elsewhere). Answering without a commit is only right if fresh state agrees.
      const fresh = await manifest.revalidate();
      await this.loadMissing(fresh.manifest);
      outcomes = this.classify(all, fresh.manifest, await this.coldCheck(all, fresh.manifest));
      classifiedOn = fresh.manifest.commit_id;
      candidates = all.filter((_, i) => outcomes[i] === 'accepted');
      if (candidates.length === 0) return outcomes;
      segment = this.startSegment(candidates);
    } else if (this.contended) {
      // Other instances committed on this shard lately: learn their commits while the segment
      // uploads, so the commit below is likely to win on its first PUT.
      segment = this.startSegment(candidates);
      await manifest.revalidate();
    } else {
      // Alone on this shard as far as we know: commit on the cached ETag; if someone else did
      // commit, the conditional PUT is refused and the commit re-runs on their state.
      segment = this.startSegment(candidates);
    }
    // The commit is planned and encoded while the segment uploads; its manifest PUT is made only
    // after the segment's succeeded (`beforeWrite`): a manifest never lists an object not stored.
    const result = await manifest.commit(
      async (base) => {
        // Other instances may have committed since our snapshot: learn their events, re-classify.
        // (The same generation — same commit id — holds the same segments and periods, and every
        // segment it lists is already in the index, so its classification stands.)
        if (base.manifest.commit_id !== classifiedOn) {
          await this.loadMissing(base.manifest);
          outcomes = this.classify(all, base.manifest, await this.coldCheck(all, base.manifest));
          classifiedOn = base.manifest.commit_id;
        }
        const still = all.filter((_, i) => outcomes[i] === 'accepted');
        if (still.length === 0) return undefined;
        // The segment must hold exactly the events accepted now (not merely as many of them).
        if (!sameEvents(still, segment.events)) segment = this.startSegment(still);
        candidates = still;
        return rawSegmentsAdded(
          [segment.entry],
          segment.events.map((p) => p.event),
          deps.clock.now(),
        );
      },
      { history: background, beforeWrite: () => segment.written },
    );
    this.contended = result.attempts > 1;
    if (!result.committed) return outcomes;
    // Committed means its segment's PUT succeeded (the manifest PUT waited for it).
    await segment.written;

    let minIngested = Number.POSITIVE_INFINITY;
    for (const p of candidates) minIngested = Math.min(minIngested, p.event.ingested_at_ms);
    this.ownPending.push({ generation: result.state.manifest.generation, minIngestedMs: minIngested, segmentId: segment.entry.id });
    index.lowerFloor(minIngested);
    for (const p of candidates) {
      const h = p.hashes;
      const a = p.at;
      index.insert(h[a]!, h[a + 1]!, h[a + 2]!, h[a + 4]!, p.event.ingested_at_ms);
    }
    index.loadedSegments.add(segment.entry.id);
    this.stats.commits++;
    this.stats.events += candidates.length;
    index.maybeExpire(deps.clock.now());
    return outcomes;
  }

  /**
   * Outcome per event against the dedupe index (committed state only) and against earlier events
   * of the same group; `period_closed` for Usage events in a period the manifest lists as closed.
   */
  private classify(all: readonly PendingEvent[], manifest: DeepReadonly<ShardManifest>, cold: readonly ColdAnswer[] | undefined): Outcome[] {
    const { index, deps } = this.d;
    const now = deps.clock.now();
    const closed = new ClosedPeriods(manifest.periods);
    const seen = new FirstSeen(all);
    const out = new Array<Outcome>(all.length);
    for (let i = 0; i < all.length; i++) {
      const p = all[i]!;
      const e = p.event;
      const h = p.hashes;
      const a = p.at;
      const exact = index.classify(h[a]!, h[a + 1]!, h[a + 2]!, h[a + 4]!, now);
      const known = exact === 'new' && cold !== undefined ? cold[i]! : exact;
      if (known !== 'new') {
        out[i] = known;
        continue;
      }
      const first = seen.claimedBy(i);
      if (first >= 0) out[i] = samePayload(all[first]!, p) ? 'duplicate' : 'conflict';
      else if (e.kind === 'Usage' && closed.isClosed(e.account_id, e.timestamp_ms)) out[i] = 'period_closed';
      else if (e.kind !== 'Usage' && closed.isFenced(e.account_id, e.timestamp_ms)) out[i] = 'period_closing';
      else {
        out[i] = 'accepted';
        seen.claim(i);
      }
    }
    return out;
  }

  /**
   * Answers, for events the exact index does not know, from the key filters of compacted segments
   * (confirmed by ranged reads of their sorted hashes): 'new' for every other event. Undefined
   * (every event new) when no such segment can hold an event of the window.
   */
  private async coldCheck(all: readonly PendingEvent[], manifest: DeepReadonly<ShardManifest>): Promise<ColdAnswer[] | undefined> {
    const { index, store, deps } = this.d;
    const now = deps.clock.now();
    if (!ColdFilters.anyInWindow(manifest.segments, now, index.windowMs)) return undefined;
    const probes: ColdProbe[] = [];
    const at: number[] = [];
    for (let i = 0; i < all.length; i++) {
      const p = all[i]!;
      const h = p.hashes;
      const a = p.at;
      if (index.classify(h[a]!, h[a + 1]!, h[a + 2]!, h[a + 4]!, now) !== 'new') continue;
      probes.push({ k0: h[a]!, k1: h[a + 1]!, k2: h[a + 2]!, p: h[a + 4]!, bucket: this.buckets.bucketOf(p.event.account_id) });
      at.push(i);
    }
    const out = new Array<ColdAnswer>(all.length).fill('new');
    const answers = await this.cold.lookup(store, manifest.segments, probes, now, index.windowMs);
    for (let j = 0; j < at.length; j++) out[at[j]!] = answers[j]!;
    return out;
  }

  /**
   * Loads the hashes of listed segments this index has not seen (within the window) —
   * quarantined copies too: they were acknowledged, so a retry of one is a duplicate.
   */
  private async loadMissing(manifest: DeepReadonly<ShardManifest>): Promise<void> {
    const { index, store, deps, options } = this.d;
    const horizon = deps.clock.now() - index.windowMs;
    // The floor this manifest allows (see below). Lower than the index's on a newer generation
    // (a restored manifest lists unfiltered segments again): reload what the floor dropped.
    this.ownPending = this.ownPending.filter((o) => o.generation > manifest.generation);
    let floor = Number.POSITIVE_INFINITY;
    // A lean segment past the window holds nothing the index keeps: it does not hold the floor down.
    for (const s of manifest.segments) if (!hasKeyFilter(s) && !(isLean(s) && s.max_ingested < horizon)) floor = Math.min(floor, s.min_ingested);
    for (const s of manifest.quarantine) floor = Math.min(floor, s.min_ingested);
    for (const o of this.ownPending) floor = Math.min(floor, o.minIngestedMs);
    if (manifest.generation >= this.floorGeneration && floor < index.floor) {
      for (const s of [...manifest.segments, ...manifest.quarantine]) if (!hasKeyFilter(s) && s.min_ingested < index.floor) index.loadedSegments.delete(s.id);
      index.lowerFloor(floor);
    }
    const listed = [...manifest.segments, ...manifest.quarantine];
    if (manifest.generation >= this.floorGeneration) this.forgetUnlisted(listed);
    const missing = listed.filter((s) => !index.loadedSegments.has(s.id));
    // Segments with a key filter are answered by `coldCheck`, never loaded into the exact index.
    const wanted = missing.filter((s) => s.max_ingested >= horizon && !hasKeyFilter(s));
    for (const s of missing) if (s.max_ingested < horizon || hasKeyFilter(s)) index.loadedSegments.add(s.id);
    await loadSegmentHashes(store, index, wanted, options.hashLoadConcurrency);
    // Every committed event ingested before the floor is in a key-filtered segment of this
    // manifest (and of any later one: compaction only turns unfiltered segments into filtered
    // ones; its quarantine segments count above), so the exact index may drop it. Own commits
    // newer than the manifest stay.
    if (manifest.generation >= this.floorGeneration) {
      this.floorGeneration = manifest.generation;
      index.setFloor(floor, deps.clock.now());
    }
  }

  /**
   * Forgets the ids of segments the newest manifest no longer lists (compacted away, GC'd), so a
   * long-running writer holds one id per listed segment, not one per segment it ever saw. Their
   * rows stay in the exact index until the window or the floor drops them; a restored manifest
   * that lists one again has it reloaded (an entry inserted twice answers the same). Own commits
   * newer than this manifest are kept.
   */
  private forgetUnlisted(listed: readonly DeepReadonly<RawSegmentEntry>[]): void {
    const loaded = this.d.index.loadedSegments;
    if (loaded.size <= 2 * (listed.length + this.ownPending.length) + 64) return;
    const keep = new Set<string>();
    for (const s of listed) keep.add(s.id);
    for (const o of this.ownPending) keep.add(o.segmentId);
    for (const id of loaded) if (!keep.has(id)) loaded.delete(id);
  }

  /**
   * Encodes one segment object (hashes appended) and starts its create-only PUT. A PUT that fails
   * fails the commit that depends on it; one no commit depends on any more (the group was
   * re-classified to other events, or to none) leaves an unreferenced object for GC, as a lost
   * race always did.
   */
  private startSegment(events: readonly PendingEvent[]): StartedSegment {
    const { store, manifest, deps } = this.d;
    // Ingest segments live until compaction rewrites them: favour encode speed (level 1).
    const o = encodeRawSegmentObject(
      manifest.keys,
      deps,
      events.map((p) => p.event),
      { bucketOf: (account) => this.buckets.bucketOf(account), level: 1, hashes: hashWords(events) },
    );
    const written = store.put(o.key, o.body, { ifNoneMatch: '*' });
    // Awaited through the commit; one nobody waits for any more must not be an unhandled rejection.
    written.catch(() => undefined);
    return { entry: o.entry, events, written };
  }
}

/** Whether two lists hold the same pending events in the same order. */
function sameEvents(a: readonly PendingEvent[], b: readonly PendingEvent[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
