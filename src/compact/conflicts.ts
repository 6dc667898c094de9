/**
 * Conflicts compaction found (and ids reused across accounts), and an admin's resolution of a
 * quarantined one — a commit with its audit record: keep the first copy (the quarantined copy
 * stays out of every total), keep both (the quarantined copy comes back as a distinct event), or
 * keep the second (it comes back, and a Retraction of the first copy cancels the first).
 * Whatever comes back goes into a new raw segment added in the same atomic commit.
 */
import { NotFoundError, ValidationError } from '../errors.ts';
import { closeInputs, rawSegmentsAdded, type ManifestEdit } from '../manifest/edits.ts';
import type { Database } from '../manifest/database.ts';
import type { CommittedManifest } from '../manifest/manifest-store.ts';
import type { ConflictRecord, DeepReadonly, ShardManifest } from '../manifest/schema.ts';
import { bucketOf } from '../model/bucket.ts';
import type { UsageEvent } from '../model/event.ts';
import { DAY_MS } from '../model/time.ts';
import { readRawEvents, writeRawSegment } from '../objects/segment-objects.ts';
import { payloadHex, samePayload } from './payload-hex.ts';

export type Keep = 'first' | 'second' | 'both';

export interface ListedConflict extends DeepReadonly<ConflictRecord> {
  readonly shard: number;
  readonly found_at: string;
}

/** Every shard's conflict records, newest last per shard. */
export async function listConflicts(db: Database): Promise<ListedConflict[]> {
  const snaps = await Promise.all(db.shards.map((s) => s.revalidate()));
  return snaps.flatMap((s) => s.manifest.conflicts.map((c) => ({ ...c, shard: s.manifest.shard, found_at: new Date(c.found_at_ms).toISOString() })));
}

/**
 * How many of an account's events in [from, to) are quarantined (held out of the totals), by one
 * manifest of its shard: the one the query's totals were read from.
 */
export function quarantinedIn(m: DeepReadonly<ShardManifest>, accountId: string, from: number, to: number): number {
  return m.conflicts.filter(
    (c) => c.status === 'quarantined' && c.account_id === accountId && c.timestamp_ms !== undefined && c.timestamp_ms >= from && c.timestamp_ms < to,
  ).length;
}

export interface Resolution {
  readonly conflict: ListedConflict;
  /** The conflict was resolved before (by this decision or another); nothing changed now. */
  readonly already_resolved: boolean;
}

export async function resolveConflict(db: Database, id: string, keep: Keep, actor: string, reason: string): Promise<Resolution> {
  if (reason.trim() === '') throw new ValidationError('reason: required (it is kept in the audit record)', 'reason');
  const shardIndex = (await listConflicts(db)).find((c) => c.id === id)?.shard;
  if (shardIndex === undefined) throw new NotFoundError(`conflict ${id} does not exist`);
  const shard = db.shards[shardIndex]!;
  let written: { entry: Awaited<ReturnType<typeof writeRawSegment>>; events: UsageEvent[] } | undefined;
  const res = await shard.commitAll<ManifestEdit>(
    async (base) => {
      const c = base.manifest.conflicts.find((x) => x.id === id);
      if (c === undefined) throw new NotFoundError(`conflict ${id} does not exist`);
      const resolve = { op: 'resolveConflict' as const, conflict_id: id, keep, at_ms: db.deps.clock.now(), actor, reason };
      if (c.status !== 'quarantined' || keep === 'first') return [resolve] as ManifestEdit[];
      // After a lost race the same rows come back: written once, committed on the fresh state.
      if (written === undefined) {
        const events = await comingBack(db, base, c, keep, id, reason);
        written = { entry: await writeRawSegment(db.store, shard.keys, db.deps, events, { bucketOf: (a) => bucketOf(a, db.info.bucket_count) }), events };
      }
      return [rawSegmentsAdded([written.entry], written.events, db.deps.clock.now()), { ...resolve, segment: written.entry.id }] as ManifestEdit[];
    },
    { atomic: true },
  );
  const skipped = res.results.find((r) => r.status === 'skipped');
  if (skipped?.status === 'skipped' && skipped.reason === 'period_closed') {
    throw new ValidationError(`keep: the event's billing period is closed; reopen it to bring the second copy back, or keep first`, 'keep');
  }
  const c = res.state.manifest.conflicts.find((x) => x.id === id)!;
  return { conflict: { ...c, shard: shardIndex, found_at: new Date(c.found_at_ms).toISOString() }, already_resolved: !res.committed };
}

/** The rows that come back into the totals: the quarantined copy, and for `second` a Retraction of the first. */
async function comingBack(
  db: Database,
  base: CommittedManifest,
  c: DeepReadonly<ConflictRecord>,
  keep: Keep,
  id: string,
  reason: string,
): Promise<UsageEvent[]> {
  const q = c.quarantined!;
  const qseg = base.manifest.quarantine.find((s) => s.id === q.segment);
  if (qseg === undefined) throw new NotFoundError(`conflict ${id}: its quarantine segment ${q.segment} is not listed`);
  const second = (await readRawEvents(db.store, qseg)).find(
    (e) => e.account_id === c.account_id && e.event_id === c.event_id && samePayload(payloadHex(e), q.payload),
  );
  if (second === undefined) throw new NotFoundError(`conflict ${id}: the quarantined copy is not in its segment`);
  if (keep === 'both') return [second];
  const first = await findCopy(db, base, c.account_id, c.event_id, c.kept!.payload, second.timestamp_ms);
  if (first === undefined) throw new NotFoundError(`conflict ${id}: the first copy is no longer stored`);
  const retraction: UsageEvent = {
    ...first,
    event_id: `conflict-${id}-retraction`,
    kind: 'Retraction',
    correction_ref: { original_event_id: first.event_id, reason: `conflict ${id} resolved, keep second: ${reason}`.slice(0, 1024) },
    quantity: -first.quantity,
    ingested_at_ms: db.deps.clock.now(),
  };
  return [second, retraction];
}

/** The live copy of (account, event_id) with this payload, looked for around its timestamp. */
async function findCopy(
  db: Database,
  base: CommittedManifest,
  accountId: string,
  eventId: string,
  payload: string,
  ts: number,
): Promise<UsageEvent | undefined> {
  const day = Math.floor(ts / DAY_MS) * DAY_MS;
  const ids = new Set(closeInputs(base.manifest.segments, accountId, bucketOf(accountId, db.info.bucket_count), day, day + DAY_MS));
  for (const s of base.manifest.segments) {
    if (!ids.has(s.id)) continue;
    const found = (await readRawEvents(db.store, s)).find((e) => e.account_id === accountId && e.event_id === eventId && samePayload(payloadHex(e), payload));
    if (found !== undefined) return found;
  }
  return undefined;
}
