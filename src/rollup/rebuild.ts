/**
 * rebuild-rollups: per shard, ONE commit that drops every rollup whose hours overlap [from, to)
 * and unmarks (`rolled_by` deleted) the raw segments it aggregated, so the next rollup run
 * rebuilds them from raw. Dropping a rollup and unmarking its inputs happen in the same commit,
 * so `auto` totals are unchanged at every moment; the dropped objects stay readable for a grace
 * period (a replacement record with no outputs) and GC deletes them afterwards.
 */
import type { Database } from '../manifest/database.ts';
import { SKIP, type ManifestStore } from '../manifest/manifest-store.ts';
import type { DeepReadonly, ShardManifest } from '../manifest/schema.ts';
import { newId, type Deps } from '../model/deps.ts';

const HOUR = 3_600_000;

export interface RebuildOptions {
  /** Half-open [from, to) in ms since the epoch (UTC). */
  readonly from: number;
  readonly to: number;
  /** How long dropped rollup objects stay readable for queries that planned before the commit. */
  readonly graceMs?: number;
  /** Only report what would be dropped; commit nothing. */
  readonly dryRun?: boolean;
}

export const DEFAULT_REBUILD_GRACE_MS = 15 * 60_000;

export interface RebuildShardReport {
  readonly shard: number;
  readonly committed: boolean;
  readonly generation: number;
  /** Ids of the rollups dropped (or, in a dry run, that would be). */
  readonly dropped_rollups: string[];
  /** How many raw segments were unmarked, and their rows. */
  readonly unmarked_segments: number;
  readonly unmarked_rows: number;
}

export interface RebuildReport {
  readonly from: number;
  readonly to: number;
  readonly dry_run: boolean;
  readonly shards: RebuildShardReport[];
  readonly dropped_rollups: number;
  readonly unmarked_segments: number;
}

/** Whether a rollup's hours [min_hour_ms, max_hour_ms + 1 h) overlap [from, to). */
export function rollupOverlaps(r: { readonly min_hour_ms: number; readonly max_hour_ms: number }, from: number, to: number): boolean {
  return r.min_hour_ms < to && r.max_hour_ms + HOUR > from;
}

interface Plan {
  readonly dropped: Set<string>;
  readonly unmarked: number;
  readonly rows: number;
}

function planShard(m: DeepReadonly<ShardManifest>, from: number, to: number): Plan {
  const dropped = new Set(m.rollups.filter((r) => rollupOverlaps(r, from, to)).map((r) => r.id));
  let unmarked = 0;
  let rows = 0;
  for (const s of m.segments) {
    if (s.rolled_by !== undefined && dropped.has(s.rolled_by)) {
      unmarked++;
      rows += s.rows;
    }
  }
  return { dropped, unmarked, rows };
}

export async function rebuildShardRollups(shard: ManifestStore, deps: Deps, opts: RebuildOptions): Promise<RebuildShardReport> {
  const { from, to } = opts;
  if (opts.dryRun === true) {
    const snap = await shard.revalidate();
    const p = planShard(snap.manifest, from, to);
    return { shard: shard.shard, committed: false, generation: snap.manifest.generation, dropped_rollups: [...p.dropped].sort(), unmarked_segments: p.unmarked, unmarked_rows: p.rows };
  }
  const grace = opts.graceMs ?? DEFAULT_REBUILD_GRACE_MS;
  const res = await shard.commit((draft) => {
    // Recomputed on every attempt from the state this attempt builds on.
    const p = planShard(draft, from, to);
    if (p.dropped.size === 0) return SKIP;
    const now = deps.clock.now();
    const gone = draft.rollups.filter((r) => p.dropped.has(r.id));
    draft.rollups = draft.rollups.filter((r) => !p.dropped.has(r.id));
    for (const s of draft.segments) if (s.rolled_by !== undefined && p.dropped.has(s.rolled_by)) delete s.rolled_by;
    draft.replacements.push({
      id: newId(deps),
      kind: 'rollup',
      inputs: gone.map((r) => ({ id: r.id, key: r.key })),
      outputs: [],
      committed_at_ms: now,
      delete_after_ms: now + grace,
    });
    draft.watermarks.last_rollup_rebuild_ms = now;
    return p;
  });
  const p = res.value;
  return {
    shard: shard.shard,
    committed: res.committed,
    generation: res.snapshot.manifest.generation,
    dropped_rollups: res.committed && p !== undefined ? [...p.dropped].sort() : [],
    unmarked_segments: res.committed && p !== undefined ? p.unmarked : 0,
    unmarked_rows: res.committed && p !== undefined ? p.rows : 0,
  };
}

/** Runs the rebuild over every shard (a few at a time); shards with nothing to drop commit nothing. */
export async function rebuildRollups(db: Database, opts: RebuildOptions, concurrency = 4): Promise<RebuildReport> {
  if (!(opts.from < opts.to)) throw new RangeError('rebuild-rollups: from must be before to');
  const shards: RebuildShardReport[] = new Array(db.shards.length);
  let next = 0;
  const worker = async () => {
    while (next < db.shards.length) {
      const shard = db.shards[next++]!;
      shards[shard.shard] = await rebuildShardRollups(shard, db.deps, opts);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, db.shards.length) }, worker));
  return {
    from: opts.from,
    to: opts.to,
    dry_run: opts.dryRun === true,
    shards,
    dropped_rollups: shards.reduce((n, s) => n + s.dropped_rollups.length, 0),
    unmarked_segments: shards.reduce((n, s) => n + s.unmarked_segments, 0),
  };
}
