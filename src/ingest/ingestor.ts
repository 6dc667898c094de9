/**
 * POST /v1/usage/batch behind the HTTP layer: validate every event (one reason each), hash,
 * split by shard, and hand each shard's events to its ShardWriter in parallel. Answers only after
 * every touched shard committed; if any failed, the whole call fails (the client retries, and
 * dedupe answers the shards that did commit as duplicates).
 */
import { PayloadTooLargeError, PeriodClosingError } from '../errors.ts';
import { BackgroundTasks, type Background } from '../lib/background.ts';
import type { Database } from '../manifest/database.ts';
import { ShardPlacer } from '../model/bucket.ts';
import { validateEvent } from '../model/validate.ts';
import { EventHasher, HASH_WORDS } from '../segment/raw.ts';
import { DedupeIndex } from './dedupe-index.ts';
import { DEFAULT_INGEST_OPTIONS, type IngestOptions } from './limits.ts';
import { ShardWriter, type Outcome, type PendingEvent } from './shard-writer.ts';

export interface IngestError {
  /** Position of the event in the request's `events` array. */
  readonly index: number;
  readonly event_id: string | null;
  readonly reason: string;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
  conflicts: number;
  rejected: number;
  errors: IngestError[];
}

/** What takes a shard's pending events and answers their outcomes once committed. */
export interface ShardSubmitter {
  submit(events: readonly PendingEvent[], background: Background): Promise<Outcome[]>;
}

/**
 * Where each shard's events go when this instance does not write them itself: a shard's
 * sequencer (a Durable Object on Workers) that writes and commits for every instance.
 */
export type RemoteShards = (shard: number) => ShardSubmitter;

export class Ingestor {
  readonly options: IngestOptions;
  private readonly db: Database;
  private readonly writers = new Map<number, ShardWriter>();
  private readonly placer: ShardPlacer;
  /** Shared by every request: hashing runs synchronously inside `ingest`, never across an await. */
  private readonly hasher = new EventHasher();
  /** Where commits' history copies go when the caller names no place of its own (Node, Lambda). */
  private readonly background = new BackgroundTasks();
  private readonly remote: RemoteShards | undefined;

  constructor(db: Database, options: Partial<IngestOptions> = {}, remote?: RemoteShards) {
    this.db = db;
    this.remote = remote;
    this.placer = new ShardPlacer(db.layout);
    this.options = { ...DEFAULT_INGEST_OPTIONS, ...options };
  }

  /** The shard's writer (and dedupe index), created on first use. */
  writer(shard: number): ShardWriter {
    let w = this.writers.get(shard);
    if (w === undefined) {
      w = new ShardWriter({
        store: this.db.store,
        manifest: this.db.shards[shard]!,
        index: new DedupeIndex(this.options.dedupeWindowMs),
        deps: this.db.deps,
        bucketCount: this.db.info.bucket_count,
        options: this.options,
      });
      this.writers.set(shard, w);
    }
    return w;
  }

  /**
   * Ingests one batch. `background` takes the work left after the answer (history copies); on
   * Workers it is the request's `waitUntil`, elsewhere this ingestor's own tracker (see `idle`).
   */
  async ingest(rawEvents: readonly unknown[], background: Background = this.background.add): Promise<IngestResult> {
    if (rawEvents.length > this.options.maxEventsPerBatch) {
      throw new PayloadTooLargeError(`events: ${rawEvents.length} events in one batch; at most ${this.options.maxEventsPerBatch} are allowed`, {
        details: { field: 'events', limit: this.options.maxEventsPerBatch },
      });
    }
    const now = this.db.deps.clock.now();
    const result: IngestResult = { accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, errors: [] };
    const byShard = new Map<number, { pending: PendingEvent[]; positions: number[] }>();
    const hashes = new Uint32Array(rawEvents.length * HASH_WORDS);
    for (let i = 0; i < rawEvents.length; i++) {
      const raw = rawEvents[i];
      const v = validateEvent(raw, now);
      if (!v.ok) {
        result.rejected++;
        result.errors.push({ index: i, event_id: idOf(raw), reason: v.reason });
        continue;
      }
      const shard = this.placer.shardOf(v.event.account_id);
      let group = byShard.get(shard);
      if (group === undefined) byShard.set(shard, (group = { pending: [], positions: [] }));
      this.hasher.hashInto(v.event, hashes, i * HASH_WORDS);
      group.pending.push({ event: v.event, hashes, at: i * HASH_WORDS });
      group.positions.push(i);
    }

    const groups = [...byShard.entries()];
    const settled = await Promise.allSettled(groups.map(([shard, g]) => (this.remote?.(shard) ?? this.writer(shard)).submit(g.pending, background)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed !== undefined) throw failed.reason;

    const closing = settled.find((s) => (s as PromiseFulfilledResult<Outcome[]>).value.includes('period_closing'));
    if (closing !== undefined) {
      throw new PeriodClosingError('a correction of this request falls in a billing period whose close is in progress; retry', { retryAfterSeconds: 2 });
    }
    settled.forEach((s, gi) => {
      const outcomes = (s as PromiseFulfilledResult<Outcome[]>).value;
      const g = groups[gi]![1];
      for (let j = 0; j < outcomes.length; j++) this.count(result, outcomes[j]!, g.positions[j]!, g.pending[j]!.event.event_id);
    });
    result.errors.sort((a, b) => a.index - b.index);
    return result;
  }

  /** Waits for every in-flight group commit and the history copies left to this ingestor. */
  async idle(): Promise<void> {
    await Promise.all([...this.writers.values()].map((w) => w.idle()));
    await this.background.settle();
  }

  private count(r: IngestResult, o: Outcome, index: number, eventId: string): void {
    switch (o) {
      case 'accepted':
        r.accepted++;
        return;
      case 'duplicate':
        r.duplicates++;
        return;
      case 'conflict':
        r.conflicts++;
        r.errors.push({ index, event_id: eventId, reason: 'conflict: this event_id was already ingested with a different payload' });
        return;
      case 'period_closing':
        return; // never answered: the request fails as a whole before counting
      case 'period_closed':
        r.rejected++;
        r.errors.push({ index, event_id: eventId, reason: 'period_closed: the billing period of this Usage event is closed; send a Correction instead' });
        return;
    }
  }
}

function idOf(raw: unknown): string | null {
  const id = typeof raw === 'object' && raw !== null ? (raw as { event_id?: unknown }).event_id : undefined;
  return typeof id === 'string' ? id.slice(0, 256) : null;
}
