/**
 * The check for event ids reused across accounts. The idempotency key is (account_id,
 * event_id), so one id under two accounts is two events — both counted, never merged — but a
 * client reusing ids is worth knowing about: every reuse found is recorded (kind `id_reuse`,
 * naming both accounts) in the shard of each account and listed at /v1/admin/conflicts.
 *
 * Cost, bounded per run: the hashes blocks (32-bit hash of event_id alone per row) of the
 * compacted segments committed since the last check, compared against every compacted segment
 * still in the dedupe window, across all shards; candidates (same id hash, other key) are
 * confirmed by reading the event_id and account_id columns of just those segments.
 */
import { forEachLimit } from '../lib/pool.ts';
import type { Database } from '../manifest/database.ts';
import type { ManifestEdit } from '../manifest/edits.ts';
import type { ConflictRecord, DeepReadonly, RawSegmentEntry } from '../manifest/schema.ts';
import { newId } from '../model/deps.ts';
import { readRawColumns, readRawHashes } from '../objects/segment-objects.ts';

export interface IdReuseOptions {
  /** Only segments ingested within this window are compared (the dedupe window). */
  readonly windowMs: number;
  /** Most segments whose hashes one run reads. */
  readonly maxSegments: number;
}

export interface IdReuseReport {
  readonly new_segments: number;
  readonly compared_segments: number;
  readonly reuses_found: number;
  /** The scan stopped at maxSegments: the next run continues from the same watermark. */
  readonly truncated: boolean;
}

const WATERMARK = 'last_id_reuse_check_ms';

interface Located {
  readonly shard: number;
  readonly seg: DeepReadonly<RawSegmentEntry>;
}

export async function checkIdReuse(db: Database, opts: IdReuseOptions): Promise<IdReuseReport> {
  const now = db.deps.clock.now();
  const snaps = await Promise.all(db.shards.map((s) => s.revalidate()));
  const fresh: Located[] = [];
  const window: Located[] = [];
  for (const snap of snaps) {
    const m = snap.manifest;
    const since = m.watermarks[WATERMARK] ?? 0;
    for (const seg of m.segments) {
      if (seg.compacted !== true || seg.max_ingested < now - opts.windowMs) continue;
      window.push({ shard: m.shard, seg });
      if (seg.created_at_ms >= since) fresh.push({ shard: m.shard, seg });
    }
  }
  const empty = { new_segments: 0, compared_segments: 0, reuses_found: 0, truncated: false };
  if (fresh.length === 0) return empty;
  const truncated = window.length > opts.maxSegments;
  const compared = window.slice(0, opts.maxSegments);

  // id hash → (event key, where) of every row of the fresh segments.
  const fresher = new Set(fresh.map((f) => f.seg.id));
  const byId = new Map<number, { key: string; at: Located }[]>();
  const hashes = new Map<string, Awaited<ReturnType<typeof readRawHashes>>>();
  await forEachLimit(compared, 8, async (l) => void hashes.set(l.seg.id, await readRawHashes(db.store, l.seg)));
  for (const l of compared) {
    if (!fresher.has(l.seg.id)) continue;
    const h = hashes.get(l.seg.id)!;
    for (let r = 0; r < h.count; r++) {
      const list = byId.get(h.ids[r]!) ?? [];
      list.push({ key: `${h.keys[r * 3]},${h.keys[r * 3 + 1]},${h.keys[r * 3 + 2]}`, at: l });
      byId.set(h.ids[r]!, list);
    }
  }
  // Candidate segment pairs: a row of any compared segment with a fresh row's id hash and another key.
  const pairs = new Map<string, [Located, Located]>();
  for (const l of compared) {
    const h = hashes.get(l.seg.id)!;
    for (let r = 0; r < h.count; r++) {
      const key = `${h.keys[r * 3]},${h.keys[r * 3 + 1]},${h.keys[r * 3 + 2]}`;
      for (const f of byId.get(h.ids[r]!) ?? []) {
        if (f.key === key) continue;
        const [a, b] = f.at.seg.id < l.seg.id ? [f.at, l] : [l, f.at];
        pairs.set(`${a.seg.id}\u0000${b.seg.id}`, [a, b]);
      }
    }
  }
  const found = await confirm(db, [...pairs.values()], now);
  // Record each reuse in every shard it touches, and move every shard's watermark.
  await forEachLimit(snaps, 4, async (snap) => {
    const shard = snap.manifest.shard;
    const mine = found.filter((c) => c.shard === shard).map((c) => c.record);
    const edits: ManifestEdit[] = [];
    if (mine.length > 0) edits.push({ op: 'addConflicts', conflicts: mine });
    // A truncated scan leaves the watermark: the next run looks at the same fresh segments again.
    if (!truncated) edits.push({ op: 'setWatermark', name: WATERMARK, at_ms: now });
    if (edits.length > 0) await db.shards[shard]!.commitAll(edits);
  });
  return { new_segments: fresh.length, compared_segments: compared.length, reuses_found: found.length, truncated };
}

/** Reads the ids and accounts of candidate pairs and keeps real reuses (same id, other account). */
async function confirm(db: Database, pairs: readonly [Located, Located][], now: number): Promise<{ shard: number; record: ConflictRecord }[]> {
  const cols = new Map<string, Map<string, Set<string>>>();
  const idsOf = async (l: Located) => {
    let byEvent = cols.get(l.seg.id);
    if (byEvent === undefined) {
      const c = await readRawColumns(db.store, l.seg, ['event_id', 'account_id']);
      byEvent = new Map();
      for (let r = 0; r < c.rows; r++) {
        const account = c.account_id!.dict[c.account_id!.codes[r]!]!;
        const set = byEvent.get(c.event_id![r]!) ?? new Set<string>();
        set.add(account);
        byEvent.set(c.event_id![r]!, set);
      }
      cols.set(l.seg.id, byEvent);
    }
    return byEvent;
  };
  const out = new Map<string, { shard: number; record: ConflictRecord }>();
  for (const [a, b] of pairs) {
    const ea = await idsOf(a);
    const eb = await idsOf(b);
    for (const [eventId, accountsA] of ea) {
      const accountsB = eb.get(eventId);
      if (accountsB === undefined) continue;
      for (const x of accountsA) {
        for (const y of accountsB) {
          if (x === y) continue;
          for (const [account, other, l] of [
            [x, y, a],
            [y, x, b],
          ] as const) {
            const k = `${account}\u0000${eventId}\u0000${other}`;
            if (out.has(k)) continue;
            out.set(k, {
              shard: l.shard,
              record: {
                id: newId(db.deps),
                kind: 'id_reuse',
                status: 'reported',
                event_id: eventId,
                account_id: account,
                other_account_id: other,
                segments: [a.seg.id, b.seg.id],
                found_at_ms: now,
              },
            });
          }
        }
      }
    }
  }
  return [...out.values()];
}
